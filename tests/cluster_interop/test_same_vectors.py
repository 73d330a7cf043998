"""tests/interop/test_vectors.py run unchanged against the cluster through the balancer: same results as one node."""

from test_vectors import *  # noqa: F401,F403
