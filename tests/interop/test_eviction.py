"""Memory limits with disk storage (ref §4.6): payloads evicted from memory are reloaded from
disk on the next read, transparently for flamepy."""

from __future__ import annotations

import shutil
import tempfile

import pytest
from flamepy.core import ObjectRef, get_object, patch_object, put_object

import flight_util as fu
from conftest import CacheServer, configure_flamepy


@pytest.fixture(scope="module")
def evict_server():
    root = tempfile.mkdtemp(prefix="flame-interop-evict-")
    s = CacheServer(root, name="evict", extra=["--max-memory", "1M", "--max-objects", "3", "--eviction-policy", "lru"]).start()
    yield s
    s.stop()
    shutil.rmtree(root, ignore_errors=True)


def test_evicted_objects_reload_from_disk(evict_server):
    s = evict_server
    configure_flamepy(s.uri)
    payloads = {i: fu.make_payload(300 * 1024, seed=i) for i in range(10)}
    refs = {i: put_object("evict/s", payloads[i]) for i in payloads}
    base = refs[0]
    r2 = patch_object(base, b"-patched")
    for i, ref in refs.items():
        fresh = ObjectRef(endpoint=ref.endpoint, key=ref.key, version=0)
        assert get_object(fresh) == payloads[i], i
    assert get_object(r2, deserializer=lambda b, ps: b + b"".join(ps)) == payloads[0] + b"-patched"
    # still listed and versioned after eviction
    listed = {fi.endpoints[0].ticket.ticket.decode() for fi in s.client.list_flights(b"evict/", fu.opts())}
    assert {r.key for r in refs.values()} <= listed
