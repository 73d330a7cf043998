"""flamepy 0.6.0 client state for tests: where it points, and its caches (shared by the single-node and the
cluster interop suites)."""

from __future__ import annotations

import os


def configure_flamepy(configured_endpoint: str):
    """Point flamepy's cache client at `configured_endpoint` the way a Flame worker is configured
    (FLAME_CACHE_ENDPOINT), resetting flamepy's cached FlameContext if it points elsewhere."""
    import flamepy.core.cache as fc

    os.environ["FLAME_CACHE_ENDPOINT"] = configured_endpoint
    for k in ("FLAME_CACHE_STORAGE", "FLAME_CA_FILE"):
        os.environ.pop(k, None)
    ctx = fc._context_cache
    if ctx is None or ctx.cache.endpoint != configured_endpoint or ctx.cache.storage:
        fc._context_cache = None
    ctx = fc._get_cached_context()
    assert ctx.cache.endpoint == configured_endpoint
    assert not ctx.cache.storage


def forget_flamepy_client_state():
    """Drop flamepy's client-side object cache and connection pool (e.g. after a server restart)."""
    import flamepy.core.cache as fc

    with fc._cache_lock:
        fc._object_cache.clear()
    with fc._client_pool_lock:
        fc._client_pool.clear()


_FLAME_ENV = ("FLAME_CACHE_ENDPOINT", "FLAME_CACHE_STORAGE", "FLAME_CA_FILE", "FLAME_ENDPOINT")


class IsolatedFlameEnv:
    """Keeps flamepy away from the developer's ~/.flame and FLAME_* variables for a test session:
    `start()` points HOME at a fresh temporary folder and clears the variables, `stop()` puts them back."""

    def __init__(self, prefix: str):
        self.prefix = prefix
        self.saved: dict = {}
        self.home: str | None = None

    def start(self) -> None:
        import tempfile

        self.home = tempfile.mkdtemp(prefix=self.prefix)
        for k in ("HOME",) + _FLAME_ENV:
            self.saved[k] = os.environ.get(k)
            os.environ.pop(k, None)
        os.environ["HOME"] = self.home

    def stop(self) -> None:
        import shutil

        for k, v in self.saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        if self.home:
            shutil.rmtree(self.home, ignore_errors=True)
