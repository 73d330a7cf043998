#!/usr/bin/env bash
# Cluster acceptance suite (issue 13, "same results as one node"): real flamepy 0.6.0 + pyarrow against a
# 3-replica cluster that tests/cluster_interop/conftest.py starts with scripts/cluster.sh (etcd, SeaweedFS,
# HAProxy; tools from scripts/tools.sh) and stops at the end. About 2 minutes on 2 cores.
#
# Usage: scripts/cluster_interop.sh [extra pytest args...]
#   e.g. scripts/cluster_interop.sh -k delete -x      CLUSTER_KEEP_LOGS=1 scripts/cluster_interop.sh
# Env:
#   PYTHON=python3          interpreter used to create .venv (needs >= 3.11)
#   INTEROP_VENV=<repo>/.venv   (shared with scripts/interop.sh: same requirements)
#   CLUSTER_KEEP_LOGS=1     keep the cluster's folder (logs, data) and print where it is
# Exit code = pytest's exit code; the last line is pytest's summary.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

# The same virtualenv and requirements as the single-node suite: scripts/interop.sh sets it up.
VENV="${INTEROP_VENV:-$REPO/.venv}"
INTEROP_SETUP_ONLY=1 scripts/interop.sh

# Build or fetch etcd, SeaweedFS and HAProxy now (cluster.sh would too, inside the fixture's time budget).
for tool in etcd weed haproxy; do scripts/tools.sh "$tool" >/dev/null; done

set +e
"$VENV/bin/python" -m pytest tests/cluster_interop -q -rfs "$@"
rc=$?
set -e
exit $rc
