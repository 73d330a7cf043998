"""tests/interop/test_client_cache.py run unchanged against the cluster through the balancer: same results as one node."""

from test_client_cache import *  # noqa: F401,F403
