#!/usr/bin/env bash
# Run the pinned Deno, installing it from the npm registry into .tools/ on first use.
# Usage: scripts/deno.sh <deno args...>
set -euo pipefail
DENO_VERSION=2.9.6
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Tests (and type checks that include them) use tests/deno.json: its import map adds the test-only npm
# packages (grpc-js, proto-loader, fast-check) and its own lockfile, so the root deno.json/deno.lock
# that `deno task serve` installs from hold only what the server and CLI need.
if { [ "${1:-}" = test ] || [ "${1:-}" = check ]; } && [[ " $* " != *" --config "* ]] && [[ " $* " != *" --config="* ]]; then
  set -- "$1" --config "$here/tests/deno.json" "${@:2}"
fi
bin="$here/.tools/node_modules/.bin/deno"
if [ -x "$bin" ] && "$bin" --version 2>/dev/null | grep -q "deno $DENO_VERSION"; then
  exec "$bin" "$@"
fi
if command -v deno >/dev/null 2>&1 && deno --version 2>/dev/null | grep -q "deno $DENO_VERSION"; then
  exec deno "$@"
fi
echo "installing deno $DENO_VERSION from npm into .tools/ ..." >&2
mkdir -p "$here/.tools"
npm install --silent --no-audit --no-fund --prefix "$here/.tools" "deno@$DENO_VERSION" >&2
exec "$bin" "$@"
