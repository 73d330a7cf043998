"""Many sessions, prefix isolation and concurrency through flamepy."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pyarrow as pa
import pytest
from flamepy.cache import delete_objects
from flamepy.core import ObjectRef, get_object, put_object, update_object

import flight_util as fu

N_SESSIONS = 50
N_OBJECTS = 5


def test_many_sessions_and_session_delete(flame, app):
    refs = {}
    for s in range(N_SESSIONS):
        refs[s] = [put_object(f"{app}/ssn-{s}", {"s": s, "o": o}) for o in range(N_OBJECTS)]
    keys = [r.key for rs in refs.values() for r in rs]
    assert len(set(keys)) == N_SESSIONS * N_OBJECTS
    for s, rs in refs.items():
        assert [get_object(r) for r in rs] == [{"s": s, "o": o} for o in range(N_OBJECTS)]

    delete_objects(f"{app}/ssn-7")
    for r in refs[7]:
        with pytest.raises(pa.ArrowKeyError):
            get_object(ObjectRef(endpoint=r.endpoint, key=r.key, version=0))
    # every other session is intact (ssn-70.. do not exist; ssn-7x must not be prefix-matched)
    for s, rs in refs.items():
        if s == 7:
            continue
        for o, r in enumerate(rs):
            assert get_object(ObjectRef(endpoint=r.endpoint, key=r.key, version=0)) == {"s": s, "o": o}

    # list_flights (not used by flamepy) sees the remaining objects of this app
    listed = {
        fi.endpoints[0].ticket.ticket.decode()
        for fi in flame.client.list_flights(b"", fu.opts())
    }
    remaining = {r.key for s, rs in refs.items() if s != 7 for r in rs}
    assert remaining <= listed
    assert not ({r.key for r in refs[7]} & listed)

    delete_objects(f"{app}/*")
    for rs in refs.values():
        for r in rs:
            with pytest.raises(pa.ArrowKeyError):
                get_object(ObjectRef(endpoint=r.endpoint, key=r.key, version=0))


def test_concurrent_put_get(flame, app):
    def work(i):
        out = []
        for j in range(20):
            ref = put_object(f"{app}/c{i}", (i, j))
            out.append((ref, get_object(ref)))
        return out

    with ThreadPoolExecutor(8) as ex:
        results = [r for rs in ex.map(work, range(8)) for r in rs]
    assert len({ref.key for ref, _ in results}) == 160
    for ref, got in results:
        i, j = got
        assert ref.key.startswith(f"{app}/c{i}/")


def test_concurrent_updates_get_unique_versions(flame, app):
    """Per-key versioning under concurrency: 4 writers x 10 updates -> versions 2..41, no dupes."""
    ref = put_object(f"{app}/s", 0)

    def writer(w):
        return [update_object(ref, (w, n)).version for n in range(10)]

    with ThreadPoolExecutor(4) as ex:
        versions = [v for vs in ex.map(writer, range(4)) for v in vs]
    assert sorted(versions) == list(range(2, 42))
    final = fu.get_raw(flame.client, f"{ref.key}:0")
    assert [v for v, _, _ in final.rows] == [41]


def test_concurrent_patches_get_unique_versions(flame, app):
    """4 writers x 10 raw PATCH calls: versions 2..41, each exactly once, full read in order."""
    import cloudpickle

    ref = put_object(f"{app}/s", [])

    def writer(w):
        c = fu.new_client(flame.uri)
        try:
            return [fu.patch_opaque(c, ref.key, b"FLM\x00" + cloudpickle.dumps([(w, n)])).ref["version"] for n in range(10)]
        finally:
            c.close()

    with ThreadPoolExecutor(4) as ex:
        versions = [v for vs in ex.map(writer, range(4)) for v in vs]
    assert sorted(versions) == list(range(2, 42))
    rows = fu.get_raw(flame.client, f"{ref.key}:0").rows
    assert [v for v, _, _ in rows] == list(range(1, 42))
    assert [k for _, k, _ in rows] == ["base"] + ["patch"] * 40
    merged = get_object(ref, deserializer=lambda b, ps: b + sum(ps, []))
    assert sorted(merged) == sorted((w, n) for w in range(4) for n in range(10))


def test_connection_churn(flame, app):
    """Many short-lived client connections (connect, call, close). Deno's node:http2 server can
    abort the whole process when a used connection sends GOAWAY (field notes); the server must
    survive (the autouse fixture fails the test if the process died)."""
    key = fu.put_opaque(flame.client, f"{app}/s", b"churn").ref["key"]
    for i in range(150):
        c = fu.new_client(flame.uri)
        try:
            if i % 3 == 0:
                assert fu.get_raw(c, f"{key}:0").base_data == b"churn"
            elif i % 3 == 1:
                assert "DELETE" in {a.type for a in c.list_actions(fu.opts())}
            else:
                fu.put_opaque(c, f"{app}/s{i}", b"x")
        finally:
            c.close()
    assert fu.get_raw(flame.client, f"{key}:0").base_data == b"churn"
