"""tests/interop/test_sizes.py run unchanged against the cluster through the balancer: same results as one node.

The 256 MiB cases are left out here (memory and time on a shared 2-core machine; 64 MiB goes through the same
staged, multipart path)."""

from test_sizes import *  # noqa: F401,F403
from test_sizes import test_256mib_flamepy, test_256mib_raw_multi_row_upload  # noqa: F401

del test_256mib_flamepy, test_256mib_raw_multi_row_upload
