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
