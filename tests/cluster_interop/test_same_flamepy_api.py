"""tests/interop/test_flamepy_api.py run unchanged against the cluster through the balancer: same results as one node."""

from test_flamepy_api import *  # noqa: F401,F403
