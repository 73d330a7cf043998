"""tests/interop/test_seed_usage.py run unchanged against the cluster through the balancer: same results as one node."""

from test_seed_usage import *  # noqa: F401,F403
