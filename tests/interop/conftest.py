"""Fixtures for the Python interop suite: a real flame-cache server process + flamepy 0.6.0.

Server command (cwd = repo root):
    deno run --allow-all main.ts serve --listen 127.0.0.1:<PORT> --storage <DIR|none> [--endpoint URI] ...
Override with INTEROP_SERVER_CMD, a template with {port} {listen} {storage} {endpoint} {extra}
placeholders (e.g. to point the same suite at another implementation).

flamepy configuration (read from flamepy 0.6.0's wheel, flamepy/core/types.py + core/cache.py):
  * FlameContext() reads ~/.flame/flame.yaml (Path.home(), i.e. $HOME) if it exists, then applies
    env overrides FLAME_CACHE_ENDPOINT / FLAME_CACHE_STORAGE / FLAME_CA_FILE / FLAME_ENDPOINT.
  * flamepy.core.cache caches ONE FlameContext in the module global `_context_cache` on the first
    cache call (`_get_cached_context`), so later env changes are ignored. To switch servers we
    reset that global (the only private attribute this suite touches).
  * FLAME_CACHE_STORAGE set => put_object writes files locally instead of DoPut ("local storage
    mode"), so it is removed from the environment.
  * pyarrow FlightClients are pooled per location in `_client_pool` and never closed;
    fetched objects live in the 1000-entry LRU `_object_cache` keyed by (ref.endpoint, ref.key).
"""

from __future__ import annotations

import ctypes
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import List, Optional

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))

import flight_util as fu  # noqa: E402
from flamepy_util import IsolatedFlameEnv, configure_flamepy, forget_flamepy_client_state  # noqa: E402,F401

START_TIMEOUT = float(os.environ.get("INTEROP_START_TIMEOUT", "30"))
_isolated = IsolatedFlameEnv("flame-interop-home-")


def pytest_configure(config):
    """Isolate flamepy from the developer's ~/.flame and FLAME_* env before anything runs."""
    _isolated.start()


def pytest_unconfigure(config):
    _isolated.stop()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent():  # runs in the child between fork and exec
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: never outlive pytest (even on timeout abort)
    except Exception:
        pass
    os.setpgrp()  # own process group, so stop() can signal deno and anything it spawned


class CacheServer:
    """One flame-cache server process. `endpoint` is what the server must advertise."""

    def __init__(
        self,
        storage: str,
        *,
        endpoint: Optional[str] = None,
        extra: Optional[List[str]] = None,
        port: Optional[int] = None,
        name: str = "server",
    ):
        self.port = port or free_port()
        self.listen = f"127.0.0.1:{self.port}"
        self.uri = f"grpc://{self.listen}"  # where clients dial (the configured endpoint)
        self.endpoint = endpoint or self.uri  # the advertised endpoint (ObjectRef / FlightInfo)
        self.explicit_endpoint = endpoint is not None
        self.storage = storage
        self.extra = list(extra or [])
        self.name = name
        self.proc: Optional[subprocess.Popen] = None
        self.log_path = Path(tempfile.mkstemp(prefix=f"flame-interop-{name}-", suffix=".log")[1])
        self._log = None
        self._client = None

    def command(self) -> List[str]:
        tmpl = os.environ.get("INTEROP_SERVER_CMD")
        extra = list(self.extra)
        if self.explicit_endpoint:
            extra = ["--endpoint", self.endpoint] + extra
        if tmpl:
            return shlex.split(
                tmpl.format(
                    port=self.port,
                    listen=self.listen,
                    storage=self.storage,
                    endpoint=self.endpoint,
                    extra=" ".join(shlex.quote(x) for x in extra),
                )
            )
        if not (REPO / "main.ts").exists():
            pytest.fail(f"{REPO / 'main.ts'} does not exist yet: no server to test", pytrace=False)
        deno = shutil.which("deno")
        if deno is None:
            pytest.fail("`deno` is not on PATH", pytrace=False)
        return [deno, "run", "--allow-all", "main.ts", "serve", "--listen", self.listen, "--storage", self.storage] + extra

    def start(self) -> "CacheServer":
        cmd = self.command()
        self._log = open(self.log_path, "ab")
        self._log.write(f"\n=== start: {shlex.join(cmd)}\n".encode())
        self._log.flush()
        # The server reads FLAME_CACHE_* env (FLAME_CACHE_ENDPOINT is its --endpoint default!) and
        # the tests set FLAME_CACHE_ENDPOINT for flamepy: never let those leak into the server.
        env = {k: v for k, v in os.environ.items() if not k.startswith("FLAME_")}
        self.proc = subprocess.Popen(
            cmd, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log, preexec_fn=_die_with_parent
        )
        deadline = time.monotonic() + START_TIMEOUT
        # flame-cache listens before its index is loaded (health answers NOT_SERVING, Flight calls
        # UNAVAILABLE "starting"), so it is ready at its "flame-cache started" log line; a custom
        # INTEROP_SERVER_CMD is ready when it accepts TCP.
        custom = bool(os.environ.get("INTEROP_SERVER_CMD"))
        log_start = self.log_path.stat().st_size
        while True:
            if self.proc.poll() is not None:
                pytest.fail(f"{self.name} exited with {self.proc.returncode} during startup:\n{self.log_tail()}", pytrace=False)
            if not custom:
                with open(self.log_path, "rb") as f:
                    f.seek(log_start)
                    if b'"msg":"flame-cache started"' in f.read():
                        break
            else:
                try:
                    with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                        break
                except OSError:
                    pass
            if time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"{self.name} not accepting TCP on {self.listen} after {START_TIMEOUT}s:\n{self.log_tail()}", pytrace=False)
            time.sleep(0.1)
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> Optional[int]:
        self._client = None
        if self.proc is None:
            return None
        p = self.proc
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait(timeout=5)
        self.proc = None
        if self._log:
            self._log.close()
            self._log = None
        return p.returncode

    def restart(self) -> "CacheServer":
        self.stop()
        return self.start()

    def log_tail(self, n: int = 60) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "<no log>"
        return "\n".join(lines[-n:])

    @property
    def client(self):
        """A raw pyarrow FlightClient dialing the server (unlimited message sizes)."""
        if self._client is None:
            self._client = fu.new_client(self.uri)
        return self._client


@pytest.fixture(scope="session")
def storage_dir():
    d = tempfile.mkdtemp(prefix="flame-interop-storage-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def server(storage_dir):
    """The main server: disk storage (INTEROP_STORAGE=none for memory only), default advertised
    endpoint grpc://127.0.0.1:<port>."""
    storage = "none" if os.environ.get("INTEROP_STORAGE") == "none" else storage_dir
    s = CacheServer(storage, name="main").start()
    yield s
    rc_alive = s.alive()
    s.stop()
    if not rc_alive:
        pytest.fail(f"main server died during the session:\n{s.log_tail()}", pytrace=False)


@pytest.fixture(scope="module")
def none_server():
    """A second server with --storage none (memory only)."""
    s = CacheServer("none", name="none").start()
    yield s
    s.stop()


_SERVER_FIXTURES = ("server", "none_server", "endpoint_server", "restart_server", "evict_server")
_dead: dict = {}  # server name -> test during which it died


@pytest.fixture(autouse=True)
def _server_still_alive(request):
    """Fail the test that killed a server (crash / abort); later tests fail fast and say so."""
    servers = [request.getfixturevalue(n) for n in _SERVER_FIXTURES if n in request.fixturenames]
    for s in servers:
        if s.name in _dead:
            pytest.fail(f"{s.name} server died earlier, during {_dead[s.name]}", pytrace=False)
    yield
    for s in servers:
        if isinstance(s, CacheServer) and s.proc is not None and not s.alive():
            _dead[s.name] = request.node.nodeid
            pytest.fail(f"{s.name} server process died (rc={s.proc.returncode}):\n{s.log_tail()}", pytrace=False)


@pytest.fixture
def flame(server):
    """flamepy configured for the main server; returns the server."""
    configure_flamepy(server.uri)
    return server


@pytest.fixture
def app():
    """A fresh application name, so tests never see each other's keys."""
    return f"it{fu.uid(10)}"
