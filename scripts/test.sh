#!/usr/bin/env bash
# Run every test suite: Deno (unit, integration, reliability, browser, cluster), the
# HTTP/2 conformance suite (h2spec) and the Python interop suites (pyarrow, flamepy
# 0.6.0 in .venv/; against one node and against a 3-replica cluster). Installs what
# they need first (scripts/tools.sh: etcd, HAProxy, SeaweedFS, h2spec into .tools/).
# Prints each runner's summary and ends with one line "N passed, N failed"
# totalling all suites. Exit code 0 only if all pass.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
logs="$(mktemp -d)"
# This run's own temp folder: the clean-up below matches test services by their folders, so it can never
# stop the services of another run on the same machine.
export TMPDIR="$(mktemp -d "${TMPDIR:-/tmp}/flame-test-run.XXXXXX")"
# Make sure the pinned Deno exists and is on PATH for every runner (the Python
# interop fixtures start the server with `deno`), and keep Deno's cache where it
# is even when a test fixture points HOME elsewhere.
scripts/deno.sh --version >/dev/null || { echo "could not install deno"; echo "0 passed, 1 failed"; exit 1; }
if ! command -v deno >/dev/null 2>&1 || ! deno --version 2>/dev/null | grep -q "deno 2.9.6"; then
  export PATH="$here/.tools/node_modules/.bin:$PATH"
fi
export DENO_DIR="${DENO_DIR:-$HOME/.cache/deno}"
# Plain output, so the summaries below can be read.
export NO_COLOR=1
trap 'rm -rf "$logs" "$TMPDIR"' EXIT
passed=0
failed=0
status=0

# The cluster's services and the conformance checker (built or installed once, cached in .tools/).
if ! scripts/tools.sh all > "$logs/tools.txt" 2>&1; then
  cat "$logs/tools.txt"
  echo "!! scripts/tools.sh all failed: the cluster and h2spec tests will fail"
fi

# Stop what a dead test runner left: servers, and the etcd / SeaweedFS / HAProxy of test clusters.
cleanup_leftovers() {
  pkill -KILL -f "$here/main.ts serve" 2>/dev/null || true
  for d in "${TMPDIR:-/tmp}"/flame-cluster*; do
    [ -f "$d/cluster.env" ] && scripts/cluster.sh down --dir "$d" >/dev/null 2>&1
  done
  pkill -KILL -f "${TMPDIR:-/tmp}/flame-(etcd|weed)-" 2>/dev/null || true
}

# The interop virtualenv first: Deno tests cross-check with its pyarrow (tests/helpers/python.ts), and in
# CI (CI=true) a pyarrow test that finds no pyarrow fails instead of being skipped (tests/helpers/skip.ts).
if [ "${SKIP_INTEROP:-0}" != "1" ]; then
  INTEROP_SETUP_ONLY=1 scripts/interop.sh || echo "!! could not set up .venv (pyarrow cross-checks will be skipped)"
fi

echo "== deno test (unit, integration, reliability, browser, cluster)"
# One deno process per test file: Deno's own node:http2 *client* can crash the
# test runner with a signal (denoland/deno#36788 on the client side); that must
# not take every later file with it. A file whose runner dies from a signal is
# run once more; assertion failures are never retried.
files=()
if [ -n "${TEST_FILES:-}" ]; then
  read -r -a files <<< "$TEST_FILES" # development: a subset, e.g. TEST_FILES="tests/unit/keys_test.ts"
else
  for d in tests/unit tests/integration tests/reliability tests/browser tests/cluster; do
    [ -d "$d" ] && while IFS= read -r f; do files+=("$f"); done < <(find "$d" -name '*_test.ts' | sort)
  done
fi
dp=0
df=0
if ! scripts/deno.sh check "${files[@]}" >/dev/null 2>&1; then
  scripts/deno.sh check "${files[@]}"
  echo "!! type check failed"
  df=1
  status=1
fi
di=0
for f in "${files[@]}"; do
  for attempt in 1 2; do
    # A runner that hangs is stopped after 10 minutes and treated like one killed by a signal.
    : > "$logs/skips_one.txt"
    TEST_SKIP_LOG="$logs/skips_one.txt" \
      timeout -k 10 600 scripts/deno.sh test --allow-all --quiet --no-check "$f" > "$logs/one.txt" 2>&1
    rc=$?
    [ "$rc" = 124 ] && rc=143
    if [ "$rc" -ge 128 ] && [ "$attempt" = 1 ]; then
      echo "!! $f: test runner died with signal $((rc - 128)) (or timed out); running it once more"
      cleanup_leftovers
      cat "$logs/one.txt" >> "$logs/deno.txt"
      continue
    fi
    break
  done
  # A runner that died cannot have stopped the servers it started: stop them now.
  cleanup_leftovers
  cat "$logs/one.txt" | tee -a "$logs/deno.txt"
  # Skips say why (tests/helpers/skip.ts; --quiet hides what tests print while loading, so they go to a file).
  sed "s|^|$f: |" "$logs/skips_one.txt" | tee -a "$logs/skips.txt"
  line="$(sed 's/\x1b\[[0-9;]*m//g' "$logs/one.txt" | grep -E '^(ok|FAILED) \| [0-9]+ passed' | tail -n 1)"
  if [ -n "$line" ]; then
    dp=$((dp + $(echo "$line" | sed -E 's/.*\| ([0-9]+) passed.*/\1/')))
    df=$((df + $(echo "$line" | sed -E 's/.*\| ([0-9]+) failed.*/\1/')))
    i=$(echo "$line" | grep -oE '[0-9]+ ignored' | grep -oE '[0-9]+' || true)
    di=$((di + ${i:-0}))
  elif [ "$rc" -ne 0 ]; then
    echo "!! $f: no test summary (exit $rc)"
    df=$((df + 1))
  fi
  [ "$rc" -ne 0 ] && status=1
done
ds=$(sort -u "$logs/skips.txt" 2>/dev/null | grep -c . || true)
echo "deno test: $dp passed | $df failed | $di ignored (${#files[@]} files)"
if [ "${ds:-0}" -gt 0 ]; then
  echo "skipped for a missing dependency or capability ($ds):"
  sort -u "$logs/skips.txt" | sed 's/^/  /'
fi
passed=$((passed + dp))
failed=$((failed + df))

echo "== h2spec --strict (HTTP/2 conformance; the one allowed failure is http2/4.2/3)"
if scripts/h2spec.sh --junit "$logs/h2spec.xml"; then
  passed=$((passed + 1))
  echo "h2spec: 1 passed, 0 failed"
else
  failed=$((failed + 1))
  status=1
  echo "h2spec: 0 passed, 1 failed"
fi

# run_pytest_suite TITLE LOGNAME COMMAND...: run a pytest wrapper, print its output and add its summary line
# ("N passed, N failed, N error") to the totals; a non-zero exit without a counted failure counts as one.
run_pytest_suite() {
  local title="$1" log="$logs/$2.txt"
  shift 2
  echo "== $title"
  "$@" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]} line p f e
  line="$(grep -E '[0-9]+ (passed|failed)' "$log" | tail -n 1)"
  p=$(echo "$line" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+' || echo 0)
  f=$(echo "$line" | grep -oE '[0-9]+ failed' | grep -oE '[0-9]+' || echo 0)
  e=$(echo "$line" | grep -oE '[0-9]+ error' | grep -oE '[0-9]+' || echo 0)
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0} + ${e:-0}))
  if [ "$rc" -ne 0 ] && [ "${f:-0}" = 0 ] && [ "${e:-0}" = 0 ]; then failed=$((failed + 1)); fi
  [ "$rc" -ne 0 ] && status=1
  return 0
}

if [ "${SKIP_INTEROP:-0}" != "1" ]; then
  run_pytest_suite "pytest tests/interop (pyarrow + flamepy)" py scripts/interop.sh
  run_pytest_suite "pytest tests/cluster_interop (3 replicas behind HAProxy on etcd + SeaweedFS, flamepy 0.6.0)" \
    cluster scripts/cluster_interop.sh
  cleanup_leftovers
fi

echo "$passed passed, $failed failed"
exit $status
