#!/usr/bin/env bash
# Python interop suite: real flamepy 0.6.0 + pyarrow.flight against a real flame-cache server
# process (started by tests/interop/conftest.py with `deno run --allow-all main.ts serve ...`).
#
# Usage: scripts/interop.sh [extra pytest args...]
#   e.g. scripts/interop.sh -k upload -x      scripts/interop.sh -m "not large"
# Env:
#   PYTHON=python3          interpreter used to create .venv (needs >= 3.11)
#   INTEROP_VENV=<repo>/.venv
#   INTEROP_SERVER_CMD      optional server command template (see tests/interop/conftest.py)
#   INTEROP_SETUP_ONLY=1    only create/update the virtualenv (scripts/test.sh does this before the Deno tests)
# Exit code = pytest's exit code.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

PYTHON="${PYTHON:-python3}"
VENV="${INTEROP_VENV:-$REPO/.venv}"
REQ="$REPO/tests/interop/requirements.txt"
STAMP="$VENV/.interop-requirements.sha256"

if [ ! -x "$VENV/bin/python" ]; then
  echo "interop: creating virtualenv $VENV" >&2
  "$PYTHON" -m venv "$VENV"
fi

want="$(sha256sum "$REQ" | cut -d' ' -f1)"
have="$(cat "$STAMP" 2>/dev/null || true)"
if [ "$want" != "$have" ]; then
  echo "interop: installing $REQ" >&2
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$REQ" >&2
  echo "$want" > "$STAMP"
fi

# scripts/test.sh sets the virtualenv up first, so the Deno tests can cross-check with its pyarrow.
[ -n "${INTEROP_SETUP_ONLY:-}" ] && exit 0

# Fetch the server's npm dependencies now, so the first server start stays within the
# fixture's 30 s readiness poll on a fresh clone (node_modules/ is not committed).
if [ -z "${INTEROP_SERVER_CMD:-}" ] && [ -f "$REPO/main.ts" ] && command -v deno >/dev/null 2>&1; then
  deno cache main.ts >/dev/null 2>&1 || echo "interop: 'deno cache main.ts' failed (continuing)" >&2
fi

set +e
"$VENV/bin/python" -m pytest tests/interop -q -rs "$@"
rc=$?
set -e
exit $rc
