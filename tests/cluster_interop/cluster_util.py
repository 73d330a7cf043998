"""Helpers of the cluster acceptance suite: the running cluster (from DIR/cluster.env), its replicas, the
tier (the bucket, through pyarrow's S3FileSystem) and flamepy's configuration."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List

import pytest

import flight_util as fu
from flamepy_util import configure_flamepy, forget_flamepy_client_state  # noqa: F401 (re-exported)

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
CLUSTER_SH = REPO / "scripts" / "cluster.sh"


def read_env(path: Path) -> Dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            k, v = line.split("=", 1)
            out[k] = v
    return out


@dataclass
class Replica:
    """One replica, dialed directly (not through the balancer)."""

    index: int
    uri: str
    http: str
    pid: int
    dir: Path  # its --storage folder; blob files are cached in dir/.tier-cache
    _client: object = None

    @property
    def name(self) -> str:
        return f"replica-{self.index}"

    @property
    def client(self):
        if self._client is None:
            self._client = fu.new_client(self.uri)
        return self._client

    def metrics(self) -> Dict[str, float]:
        """The replica's Prometheus metrics, unlabelled samples only (name -> value)."""
        with urllib.request.urlopen(f"{self.http}/metrics", timeout=10) as r:
            text = r.read().decode()
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#") and "{" not in line:
                name, value = line.rsplit(" ", 1)
                out[name] = float(value)
        return out

    def store_puts(self) -> float:
        """Puts (and patches) this replica wrote to the tier itself: a write relayed to the owner counts there."""
        with urllib.request.urlopen(f"{self.http}/metrics", timeout=10) as r:
            text = r.read().decode()
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("flame_cache_store_operations_total{") and ('op="put"' in line or 'op="patch"' in line)
        )

    def log_tail(self, n: int = 40) -> str:
        try:
            lines = (self.dir.parent / f"{self.name}.log").read_text(errors="replace").splitlines()
        except OSError:
            return "<no log>"
        return "\n".join(lines[-n:])


@dataclass
class Cluster:
    """The running cluster, from DIR/cluster.env. `endpoint`/`uri`/`client`: the balancer (what the
    single-node tests call the server)."""

    dir: Path
    env: Dict[str, str]
    replicas: List[Replica] = field(default_factory=list)
    name: str = "cluster"
    _client: object = None

    @property
    def endpoint(self) -> str:
        return self.env["FLAME_CACHE_ENDPOINT"]

    @property
    def uri(self) -> str:
        return self.endpoint

    @property
    def client(self):
        if self._client is None:
            self._client = fu.new_client(self.endpoint)
        return self._client

    def reload(self) -> None:
        """Re-read cluster.env (cluster.sh rewrites it, e.g. after restart-service)."""
        self.env = read_env(self.dir / "cluster.env")
        uris = self.env["FLAME_CACHE_REPLICAS"].split(",")
        https = self.env["FLAME_CACHE_REPLICA_HTTP"].split(",")
        pids = [int(p) for p in self.env["FLAME_CACHE_REPLICA_PIDS"].split(",")]
        ids = self.env["FLAME_CACHE_REPLICA_IDS"].split(",")
        self.replicas = [
            Replica(int(rid.split("-")[1]), u, h, p, self.dir / rid) for rid, u, h, p in zip(ids, uris, https, pids)
        ]

    def script(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        """Run scripts/cluster.sh ARGS --dir DIR; fails the test when it fails."""
        p = subprocess.run(
            [str(CLUSTER_SH), *args, "--dir", str(self.dir)],
            cwd=REPO,
            env=script_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if p.returncode != 0:
            pytest.fail(f"cluster.sh {' '.join(args)} failed ({p.returncode}):\n{p.stderr[-3000:]}", pytrace=False)
        self.reload()
        return p

    def s3(self):
        """pyarrow's S3 filesystem on the cluster's bucket service (the tier), with the cluster's identity."""
        from pyarrow import fs

        host = self.env["CLUSTER_S3_ENDPOINT"].removeprefix("http://")
        return fs.S3FileSystem(
            access_key=self.env["AWS_ACCESS_KEY_ID"],
            secret_key=self.env["AWS_SECRET_ACCESS_KEY"],
            region=self.env["AWS_REGION"],
            endpoint_override=host,
            scheme="http",
            allow_bucket_creation=False,
            allow_bucket_deletion=False,
        )

    @property
    def tier_root(self) -> str:
        """`bucket/prefix` of the replicas' tier (CLUSTER_REMOTE s3://bucket/prefix)."""
        return self.env["CLUSTER_REMOTE"].removeprefix("s3://").rstrip("/")


def script_env() -> Dict[str, str]:
    """Environment for scripts/cluster.sh: the replicas read FLAME_* variables (FLAME_CACHE_ENDPOINT is their
    --endpoint default), so ours never leak; HOME is the real one (Deno's cache lives there)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLAME_")}
    env["HOME"] = os.environ.get("FLAME_CLUSTER_REAL_HOME") or env.get("HOME", "/root")
    return env


def tier_files(c: Cluster, selector: str) -> List[str]:
    """Bucket keys (relative to the tier prefix) under `selector` in data/ and meta/."""
    from pyarrow import fs

    s3 = c.s3()
    out = []
    for area in ("data", "meta"):
        sel = fs.FileSelector(f"{c.tier_root}/{area}/{selector}/", recursive=True, allow_not_found=True)
        out += [i.path.removeprefix(c.tier_root + "/") for i in s3.get_file_info(sel) if i.type == fs.FileType.File]
    return sorted(out)


def read_tier(c: Cluster, rel: str) -> bytes:
    with c.s3().open_input_stream(f"{c.tier_root}/{rel}") as f:
        return f.read()


def tier_record(c: Cluster, key: str) -> dict:
    return json.loads(read_tier(c, f"meta/{key}"))


def wait_for(pred, timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}", pytrace=False)
        time.sleep(interval)


def kill_pid(pid: int, sig=signal.SIGKILL) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass
