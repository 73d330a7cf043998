"""tests/interop/test_raw_flight.py run unchanged against the cluster through the balancer: same results as one node."""

from test_raw_flight import *  # noqa: F401,F403
