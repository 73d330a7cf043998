#!/usr/bin/env bash
# Install the external programs the cluster and conformance tests use, once, and print where they are.
#
# Usage: scripts/tools.sh etcd|haproxy|weed|h2spec|all
#   Prints the binary's absolute path on stdout (one line per tool for `all`); progress goes to stderr.
#   Idempotent: a tool that is already there is reused, so a second run costs nothing.
#
#   etcd     Debian package etcd-server (3.4): /usr/bin/etcd
#   haproxy  Debian package haproxy: /usr/sbin/haproxy
#   weed     SeaweedFS (S3-compatible storage) built from its Go module at $WEED_VERSION into .tools/weed.
#            `go install` refuses that module (it has replace directives), so the module folder is copied out
#            of the module cache and built in place; about 5 CPU-minutes on 2 cores.
#   h2spec   HTTP/2 conformance suite at $H2SPEC_VERSION, built into .tools/h2spec. That version has no go.mod
#            (`go install ...@latest` would pick its dependencies' latest versions), so it is built in a
#            throw-away module that pins them.
#
# Debian packages are installed with apt-get when missing (needs root; `apt-get update` runs once first).
# Go tools need `go` on PATH; /usr/local/go/bin is tried when it is not. A `.tools/NAME.version` stamp
# records which version a Go-built binary is; a binary without a stamp (built by hand with the same
# commands) is reused as it is. Set TOOLS_REBUILD=1 to rebuild the Go tools anyway.
set -euo pipefail

# Pinned versions. h2spec v2.2.1+incompatible is what `@latest` resolves to on the Go module proxy; its
# dependencies are pinned at the versions `@latest` picked on 2026-12-06.
WEED_MODULE=github.com/seaweedfs/seaweedfs
WEED_VERSION=v0.0.0-20261109003541-7506e5f91cd6
H2SPEC_MODULE=github.com/summerwind/h2spec
H2SPEC_VERSION=v2.2.1+incompatible
H2SPEC_DEPS=("golang.org/x/net v0.63.0" "github.com/spf13/cobra v1.10.2" "github.com/fatih/color v1.19.0")

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$repo/.tools"

say() { echo "tools.sh: $*" >&2; }
die() {
  say "$*"
  exit 1
}

apt_updated=0
# Install a Debian package unless `binary` is already executable.
apt_install() {
  local package="$1" binary="$2"
  [ -x "$binary" ] && return 0
  command -v apt-get >/dev/null 2>&1 || die "$binary is missing and apt-get is not available: install the Debian package $package"
  [ "$(id -u)" = 0 ] || die "$binary is missing: install it as root with 'apt-get install $package'"
  if [ "$apt_updated" = 0 ]; then
    say "apt-get update"
    apt-get update -qq >&2 || die "apt-get update failed"
    apt_updated=1
  fi
  say "installing the Debian package $package"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$package" >&2 ||
    die "apt-get install $package failed"
  [ -x "$binary" ] || die "the package $package did not install $binary"
}

# Make `go` callable, or stop with a message that says what is missing.
need_go() {
  if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
    export PATH="/usr/local/go/bin:$PATH"
  fi
  command -v go >/dev/null 2>&1 ||
    die "go is not installed (not on PATH, not in /usr/local/go/bin): it is needed to build $1; install Go from https://go.dev/dl/ or the Debian package golang-go"
}

# True when .tools/NAME is a working binary of the pinned version (or has no stamp, see the header).
cached() {
  local name="$1" version="$2"
  [ "${TOOLS_REBUILD:-0}" = 1 ] && return 1
  [ -x "$tools/$name" ] || return 1
  [ ! -f "$tools/$name.version" ] || [ "$(cat "$tools/$name.version")" = "$version" ]
}

# Hold a lock while building NAME, so two runs (two CI jobs, two helpers) do not build into one file at once.
with_lock() {
  local name="$1"
  shift
  mkdir -p "$tools"
  exec 9>"$tools/.$name.lock"
  command -v flock >/dev/null 2>&1 && flock 9
  "$@"
  exec 9>&-
}

tool_etcd() {
  apt_install etcd-server /usr/bin/etcd
  echo /usr/bin/etcd
}

tool_haproxy() {
  apt_install haproxy /usr/sbin/haproxy
  echo /usr/sbin/haproxy
}

build_weed() {
  cached weed "$WEED_VERSION" && return 0 # built by another run while we waited for the lock
  need_go SeaweedFS
  local work json dir
  work="$(mktemp -d "$tools/.weed-build.XXXXXX")"
  # shellcheck disable=SC2064 # expand now: $work is local
  trap "rm -rf '$work'" EXIT
  say "downloading $WEED_MODULE@$WEED_VERSION"
  json="$(cd "$work" && go mod download -json "$WEED_MODULE@$WEED_VERSION")" ||
    die "go mod download $WEED_MODULE@$WEED_VERSION failed"
  dir="$(printf '%s\n' "$json" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p' | head -n 1)"
  [ -d "$dir" ] || die "go mod download did not report the module folder (got: $json)"
  # The module cache is read-only: build in a writable copy.
  cp -r "$dir" "$work/src"
  chmod -R u+w "$work/src"
  say "building weed (about 5 CPU-minutes)"
  (cd "$work/src" && go build -o "$work/weed" ./weed) >&2 || die "go build of weed failed"
  mv -f "$work/weed" "$tools/weed"
  echo "$WEED_VERSION" >"$tools/weed.version"
  rm -rf "$work"
}

tool_weed() {
  if ! cached weed "$WEED_VERSION"; then
    with_lock weed build_weed
    # Checked once after a build only: loading the 230 MB binary takes over a second.
    "$tools/weed" version >/dev/null 2>&1 || die "$tools/weed does not run (delete it and run again)"
  fi
  echo "$tools/weed"
}

build_h2spec() {
  cached h2spec "$H2SPEC_VERSION" && return 0
  need_go h2spec
  local work dep
  work="$(mktemp -d "$tools/.h2spec-build.XXXXXX")"
  # shellcheck disable=SC2064 # expand now: $work is local
  trap "rm -rf '$work'" EXIT
  {
    echo "module flame-cache.local/h2spec-build"
    echo "go 1.22"
    echo "require $H2SPEC_MODULE $H2SPEC_VERSION"
    for dep in "${H2SPEC_DEPS[@]}"; do echo "require $dep"; done
  } >"$work/go.mod"
  say "building $H2SPEC_MODULE@$H2SPEC_VERSION"
  (cd "$work" && GOFLAGS=-mod=mod go build -o "$work/h2spec" "$H2SPEC_MODULE/cmd/h2spec") >&2 ||
    die "go build of h2spec failed"
  mv -f "$work/h2spec" "$tools/h2spec"
  echo "$H2SPEC_VERSION" >"$tools/h2spec.version"
  rm -rf "$work"
}

tool_h2spec() {
  cached h2spec "$H2SPEC_VERSION" || with_lock h2spec build_h2spec
  "$tools/h2spec" --version >/dev/null 2>&1 || die "$tools/h2spec does not run (delete it and run again)"
  echo "$tools/h2spec"
}

case "${1:-}" in
  etcd | haproxy | weed | h2spec) "tool_$1" ;;
  all)
    tool_etcd
    tool_haproxy
    tool_h2spec
    tool_weed
    ;;
  *)
    echo "usage: scripts/tools.sh etcd|haproxy|weed|h2spec|all" >&2
    exit 2
    ;;
esac
