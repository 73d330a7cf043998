"""tests/interop/test_sessions.py run unchanged against the cluster through the balancer: same results as one node."""

from test_sessions import *  # noqa: F401,F403
