#!/usr/bin/env bash
# Build dist/flame-cache: one self-contained executable (`deno compile`) with the
# store worker (src/store/worker.ts) and every module embedded, and exactly the
# permissions listed in scripts/permissions.txt baked in.
#
# Usage: scripts/compile.sh [-o OUTPUT] [--target TRIPLE] [--no-check] [--print-args]
#   --print-args  print the `deno compile` arguments, one per line, and exit
#
# `deno compile` needs `denort`, Deno's runtime without the tooling, of the same
# version as the deno doing the build. By default it downloads
# https://dl.deno.land/release/v<version>/denort-<target>.zip; where that host
# is not reachable, download the zip elsewhere, unzip it and point DENORT_BIN at
# the `denort` file.
#
# Environment:
#   DENORT_BIN   path to the denort binary to build on (skips the download)
#   DENO         deno to build with (default: scripts/deno.sh, the pinned version)
#   OTEL_DENO    "true" at build time turns OpenTelemetry on in the binary (Deno
#                stores the switch in the executable; see README.md, "OpenTelemetry")
#
# Exit codes: 0 built; 1 deno compile failed; 2 bad usage; 3 denort missing.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"

out="$here/dist/flame-cache"
target=""
check=()
print_args=0
while [ $# -gt 0 ]; do
  case "$1" in
    -o | --output) out="$2"; shift 2 ;;
    --target) target="$2"; shift 2 ;;
    --no-check) check=(--no-check); shift ;;
    --print-args) print_args=1; shift ;;
    -h | --help) sed -n '2,23p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "compile.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

die() {
  echo "compile.sh: $*" >&2
  exit 3
}

deno="${DENO:-$here/scripts/deno.sh}"
version="$("$deno" --version | head -n 1 | awk '{print $2}')"
triple="${target:-$(uname -m)-unknown-linux-gnu}"
zip="denort-$triple.zip"
url="https://dl.deno.land/release/v$version/$zip"

# Permission flags: one per line, comments and blank lines skipped.
mapfile -t perms < <(sed -e 's/[[:space:]]*#.*$//' -e '/^[[:space:]]*$/d' scripts/permissions.txt)
[ "${#perms[@]}" -gt 0 ] || die "scripts/permissions.txt lists no permission"

how_to_fix="Download $url on a machine that can reach it, unzip it, and run
  DENORT_BIN=/path/to/denort deno task compile
(denort must be the same version as deno: $version)."

args=(compile "${check[@]}" "${perms[@]}" --include src/store/worker.ts --output "$out")
[ -n "$target" ] && args+=(--target "$target")
args+=(main.ts)
if [ "$print_args" = 1 ]; then
  printf '%s\n' "${args[@]}"
  exit 0
fi
if [ -n "${DENORT_BIN:-}" ]; then
  [ -e "$DENORT_BIN" ] || die "DENORT_BIN=$DENORT_BIN does not exist. $how_to_fix"
  if [ ! -f "$DENORT_BIN" ] || [ ! -x "$DENORT_BIN" ]; then
    die "DENORT_BIN=$DENORT_BIN is not an executable file. $how_to_fix"
  fi
  # The deno CLI is not a runtime: an executable built on it runs `deno`, not flame-cache.
  if "$DENORT_BIN" --version 2>/dev/null | head -n 1 | grep -q '^deno [0-9]'; then
    die "DENORT_BIN=$DENORT_BIN is the deno CLI, not denort: the executable would ignore the embedded program. $how_to_fix"
  fi
  export DENORT_BIN
fi

mkdir -p "$(dirname "$out")"
echo "compile.sh: deno $version, ${DENORT_BIN:+DENORT_BIN=$DENORT_BIN, }OpenTelemetry ${OTEL_DENO:-false}" >&2
echo "compile.sh: deno ${args[*]}" >&2

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
set +e
"$deno" "${args[@]}" 2> >(tee "$log" >&2)
rc=$?
set -e
wait
if [ "$rc" -ne 0 ]; then
  plain="$(sed 's/\x1b\[[0-9;]*m//g' "$log")"
  if [ -n "${DENORT_BIN:-}" ] && grep -qiE 'denort|base binary|binary bytes|ELF|Mach-O|PE file' <<<"$plain"; then
    die "deno compile could not build on DENORT_BIN=$DENORT_BIN (see the error above): is it denort $version for $triple? $how_to_fix"
  fi
  if grep -qiE 'denort|dl\.deno\.land|Setting up base binary' <<<"$plain"; then
    die "deno compile could not download its runtime, $zip, from dl.deno.land (not reachable from here?) and DENORT_BIN is not set. $how_to_fix"
  fi
  echo "compile.sh: deno compile failed (exit $rc)" >&2
  exit 1
fi
echo "compile.sh: built $out ($(du -h "$out" | cut -f1))" >&2
