"""tests/interop/test_legacy_seed_forms.py run unchanged against the cluster through the balancer: same results as one node."""

from test_legacy_seed_forms import *  # noqa: F401,F403
