"""tests/interop/test_tables.py run unchanged against the cluster through the balancer: same results as one node."""

from test_tables import *  # noqa: F401,F403
