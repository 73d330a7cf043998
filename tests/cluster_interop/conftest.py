"""Fixtures for the cluster acceptance suite (issue 13): a real 3-replica cluster + flamepy 0.6.0.

The session fixture `cluster` runs `scripts/cluster.sh up --replicas 3 --dir <temp>` (etcd, SeaweedFS,
HAProxy and 3 replicas on loopback) and `scripts/cluster.sh down` at the end, even on failure. A watchdog
process runs `down` too if pytest itself dies without tearing down (pytest-timeout's thread method ends
the run with os._exit).

flamepy is configured the way a Flame worker is (FLAME_CACHE_ENDPOINT = the balancer), with the same
isolation as tests/interop/conftest.py: a temporary HOME (no ~/.flame/flame.yaml) and flamepy's cached
FlameContext reset when it points elsewhere (see tests/interop/conftest.py for why).

The fixtures `flame` and `server` are what the single-node suite's tests expect (`.endpoint`, `.uri`,
`.client`), pointing at the balancer: the test_same_*.py modules run the single-node tests unchanged
against the cluster ("same results as one node").
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "tests" / "interop"))  # flight_util and the single-node test modules

import flight_util as fu  # noqa: E402
from cluster_util import CLUSTER_SH, Cluster, configure_flamepy, script_env  # noqa: E402
from flamepy_util import IsolatedFlameEnv  # noqa: E402

REPLICAS = 3
_isolated = IsolatedFlameEnv("flame-cluster-home-")


def pytest_configure(config):
    """Isolate flamepy from the developer's ~/.flame and FLAME_* env before anything runs."""
    real_home = os.environ.get("HOME") or "/root"
    _isolated.start()
    os.environ["FLAME_CLUSTER_REAL_HOME"] = real_home  # for cluster.sh (Deno's cache)


def pytest_unconfigure(config):
    _isolated.stop()
    os.environ.pop("FLAME_CLUSTER_REAL_HOME", None)


def _up(dir_: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(CLUSTER_SH), "up", "--replicas", str(REPLICAS), "--dir", str(dir_)],
        cwd=REPO,
        env=script_env(),
        capture_output=True,
        text=True,
        timeout=240,
    )


def _down(dir_: Path) -> None:
    subprocess.run(
        [str(CLUSTER_SH), "down", "--dir", str(dir_)], cwd=REPO, env=script_env(), capture_output=True, timeout=120
    )


def _port_taken(dir_: Path) -> bool:
    """True when a service of a failed `up` in dir_ logged that its port was taken."""
    return any("address already in use" in log.read_text(errors="replace").lower() for log in dir_.glob("*.log"))


@pytest.fixture(scope="session")
def cluster():
    base = Path(tempfile.mkdtemp(prefix="flame-cluster-accept-"))
    dir_ = base / "c"
    watchdog = None
    try:
        # A port cluster.sh picked can be taken by another process before its service binds it (other test
        # runs share this machine); that service then exits with "address already in use", and the failed
        # `up` stops what it started. Such a failure is retried.
        for _attempt in range(3):
            p = _up(dir_)
            if p.returncode == 0 or not _port_taken(dir_):
                break
            shutil.rmtree(dir_, ignore_errors=True)
        if p.returncode != 0:
            pytest.fail(f"scripts/cluster.sh up failed ({p.returncode}):\n{p.stderr[-4000:]}", pytrace=False)
        # If pytest dies without running the teardown below, the watchdog stops the cluster.
        watchdog = subprocess.Popen(
            ["sh", "-c", f'while kill -0 {os.getpid()} 2>/dev/null; do sleep 1; done; exec "$0" down --dir "$1"',
             str(CLUSTER_SH), str(dir_)],
            cwd=REPO,
            env=script_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        c = Cluster(dir_, {})
        c.reload()
        yield c
    finally:
        _down(dir_)
        if watchdog is not None:
            watchdog.terminate()
            watchdog.wait(timeout=10)
        if os.environ.get("CLUSTER_KEEP_LOGS"):
            print(f"\ncluster logs kept in {dir_}", file=sys.stderr)
        else:
            shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(autouse=True)
def _replicas_still_alive(request):
    """Fail the test during which a replica process died (no test here kills one on purpose)."""
    if "cluster" not in request.fixturenames and "flame" not in request.fixturenames and "server" not in request.fixturenames:
        yield
        return
    c: Cluster = request.getfixturevalue("cluster")
    yield
    for r in c.replicas:
        try:
            os.kill(r.pid, 0)
        except ProcessLookupError:
            pytest.fail(f"{r.name} (pid {r.pid}) died during this test:\n{r.log_tail()}", pytrace=False)


@pytest.fixture
def flame(cluster):
    """flamepy configured for the balancer; returns the cluster (the single-node tests' `flame`)."""
    configure_flamepy(cluster.endpoint)
    return cluster


@pytest.fixture(scope="session")
def server(cluster):
    """The single-node tests' `server`: the cluster through the balancer."""
    return cluster


@pytest.fixture
def app():
    """A fresh application name, so tests never see each other's keys."""
    return f"cl{fu.uid(10)}"


