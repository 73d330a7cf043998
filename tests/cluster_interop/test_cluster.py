"""What only a cluster can get wrong (issue 13), with flamepy 0.6.0 and raw pyarrow through the balancer and
directly against each replica: listings cover the whole cluster, deletes leave nothing anywhere (replicas,
their local caches, the tier), refs work whichever replica issued them, versions are never handed out
twice, and a hot object is served by every replica from its own copy.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
import threading
from concurrent.futures import ThreadPoolExecutor

import pyarrow as pa
import pytest
from flamepy.cache import delete_objects
from flamepy.core import ObjectRef, get_object, patch_object, put_object, update_object

import flight_util as fu
from cluster_util import configure_flamepy, tier_files, tier_record, wait_for

MiB = 1024 * 1024
# Blobs at least this large are cached by a replica as files in its .tier-cache (src/cluster/tier_store.ts).
FILE_THRESHOLD = 4 * MiB
# The tier deletes blobs a newer record replaced this long after the commit (src/tier/tier.ts retireDelayMs).
RETIRE_DELAY_S = 10


def listed(client, prefix: str) -> dict:
    """ListFlights with a prefix: key -> FlightInfo."""
    return {fi.endpoints[0].ticket.ticket.decode(): fi for fi in client.list_flights(prefix.encode(), fu.opts())}


def cached_files(replica) -> set:
    """File names in the replica's local blob cache (sha256 of the blob name)."""
    d = replica.dir / ".tier-cache"
    return {p.name for p in d.iterdir() if not p.name.endswith(".part")} if d.exists() else set()


def cache_name(blob: str) -> str:
    """The file name a replica gives a cached blob (src/cluster/blob_cache.ts #pathOf)."""
    return hashlib.sha256(blob.encode()).hexdigest()


# --------------------------------------------------------------------------------------------------
# ListFlights covers the whole cluster, whichever replica answers
# --------------------------------------------------------------------------------------------------


def test_list_flights_everywhere_lists_the_whole_cluster(cluster, flame, app):
    sizes = {}
    for i, r in enumerate(cluster.replicas):  # each replica takes some writes directly
        for j in range(2):
            data = b"r" * (10 * i + j + 1)
            sizes[fu.put_opaque(r.client, f"{app}/s{i}", data).ref["key"]] = len(data)
    via_flamepy = put_object(f"{app}/s9", {"through": "the balancer"})
    table = put_object(f"{app}/s9", pa.table({"x": list(range(100))}))
    ref = patch_object(via_flamepy, {"p": 1})
    assert ref.version == 2

    for client, where in [(cluster.client, "balancer")] + [(r.client, r.name) for r in cluster.replicas]:
        got = listed(client, f"{app}/")
        assert set(got) == set(sizes) | {via_flamepy.key, table.key}, where
        for key, size in sizes.items():
            assert got[key].total_bytes == size, (where, key)
            assert [loc.uri.decode() for loc in got[key].endpoints[0].locations] == [cluster.endpoint], where
        assert got[via_flamepy.key].total_records == 2, where  # base + 1 patch
        assert got[table.key].total_records == 100, where
        assert set(listed(client, f"{app}/s1")) == {k for k in sizes if k.startswith(f"{app}/s1/")}, where


# --------------------------------------------------------------------------------------------------
# Deletes leave nothing: on any replica, in any replica's local cache, in the tier
# --------------------------------------------------------------------------------------------------


def test_delete_session_leaves_nothing_anywhere(cluster, flame, app):
    session, sibling = f"{app}/ssn", f"{app}/ssn2"
    big = fu.make_payload(6 * MiB, seed=11)  # above FILE_THRESHOLD: each replica caches it as a file
    taker = took_put(cluster, lambda: fu.put_opaque(cluster.replicas[0].client, session, big))
    big_key = taker.result.ref["key"]
    small = [put_object(session, i) for i in range(3)]
    patched = patch_object(small[0], [1])
    updated = update_object(small[1], "replaced")  # its first blob is retired later, not at once
    keep = put_object(sibling, "keep")
    assert patched.version == 2 and updated.version == 2

    # Every replica reads everything, so every replica holds copies.
    for r in cluster.replicas:
        assert fu.get_raw(r.client, f"{big_key}:0").base_data == big
        for ref in small:
            fu.get_raw(r.client, f"{ref.key}:0")
    blobs = [f for f in tier_files(cluster, session) if f.startswith("data/")]
    big_blobs = [b for b in blobs if b.startswith(f"data/{big_key}/")]
    assert len(big_blobs) == 1
    for r in cluster.replicas:
        if r is taker.replica:  # the session's owner wrote it (the put was relayed): it may hold it in memory
            continue
        assert cache_name(big_blobs[0]) in cached_files(r), f"{r.name} has no file copy: the test proves nothing"

    delete_objects(session)

    # No replica lists or serves any object of the session; the sibling session is intact.
    for client, where in [(cluster.client, "balancer")] + [(r.client, r.name) for r in cluster.replicas]:
        assert listed(client, f"{session}/") == {}, where
        assert set(listed(client, f"{app}/")) == {keep.key}, where
        for key in [big_key] + [ref.key for ref in small]:
            fu.assert_status("NOT_FOUND", fu.get_raw, client, f"{key}:0")
    assert get_object(keep) == "keep"

    # No replica keeps a local copy: the one that handled the delete told the others (FORGET).
    names = {cache_name(b) for b in blobs}
    for r in cluster.replicas:
        assert not (names & cached_files(r)), f"{r.name} still holds cached blobs of the deleted session"

    # The tier: every record is a tombstone (it keeps the last version), and no blob is left once the
    # retirement of the replaced blob ran.
    metas = [f for f in tier_files(cluster, session) if f.startswith("meta/")]
    assert len(metas) == 4
    for m in metas:
        rec = tier_record(cluster, m.removeprefix("meta/"))
        assert rec["deleted"] is True and rec["base"] is None and rec["patches"] == [], rec
    wait_for(
        lambda: not [f for f in tier_files(cluster, session) if f.startswith("data/")],
        RETIRE_DELAY_S + 10,
        f"the tier to hold no blob under data/{session}/",
        interval=0.5,
    )
    assert [f for f in tier_files(cluster, sibling) if f.startswith("data/")], "the sibling's blob must stay"


def test_delete_app_wildcard_and_key_everywhere(cluster, flame, app):
    refs = [put_object(f"{app}/s{i % 3}", i) for i in range(6)]
    delete_objects(refs[0].key)
    for r in cluster.replicas:
        assert set(listed(r.client, f"{app}/")) == {ref.key for ref in refs[1:]}, r.name
        fu.assert_status("NOT_FOUND", fu.get_raw, r.client, f"{refs[0].key}:0")
    delete_objects(f"{app}/*")
    for client in [cluster.client] + [r.client for r in cluster.replicas]:
        assert listed(client, f"{app}/") == {}
    assert not [f for f in tier_files(cluster, app) if f.startswith("data/")]


# --------------------------------------------------------------------------------------------------
# Refs stay valid whichever replica issued them
# --------------------------------------------------------------------------------------------------


def test_refs_are_valid_on_every_replica(cluster, app):
    r0, r1, r2 = cluster.replicas[:3]
    try:
        configure_flamepy(r0.uri)  # put through replica 0 directly
        ref = put_object(f"{app}/s", {"v": 1})
        assert ref.endpoint == cluster.endpoint  # the ref names the cluster, not the replica that issued it
        raw0 = fu.get_raw(r0.client, f"{ref.key}:0").base_data
        assert fu.get_raw(r1.client, f"{ref.key}:0").base_data == raw0  # replica 1 directly
        assert get_object(ObjectRef(endpoint=r1.uri, key=ref.key, version=0)) == {"v": 1}
        assert get_object(ref) == {"v": 1}  # through the balancer (the ref's endpoint)
        # update through replica 2 directly; every replica and the balancer read the new version
        ref2 = update_object(ObjectRef(endpoint=r2.uri, key=ref.key, version=ref.version), {"v": 2})
        assert ref2.version == 2
        for r in cluster.replicas:
            reply = fu.get_raw(r.client, f"{ref.key}:0")
            assert [(v, k) for v, k, _ in reply.rows] == [(2, "base")], r.name
        assert get_object(ref2) == {"v": 2}
    finally:
        configure_flamepy(cluster.endpoint)


# --------------------------------------------------------------------------------------------------
# Patch-only reads: a client's cached version is answered with the missing patches by every replica
# --------------------------------------------------------------------------------------------------


def test_patch_only_reads_across_replicas(cluster, flame, app):
    from test_client_cache import _concat, _flm

    ref = put_object(f"{app}/s", [0])
    base = get_object(ref)  # flamepy caches it at version 1
    r0, r1, r2 = cluster.replicas[:3]
    assert fu.patch_opaque(r1.client, ref.key, _flm([1])).ref["version"] == 2
    assert fu.patch_opaque(r2.client, ref.key, _flm([2, 3])).ref["version"] == 3
    assert fu.patch_opaque(r0.client, ref.key, _flm([4])).ref["version"] == 4
    for r in cluster.replicas:
        p1 = fu.get_raw(r.client, f"{ref.key}:1")
        assert [(v, k) for v, k, _ in p1.rows] == [(2, "patch"), (3, "patch"), (4, "patch")], r.name
        fu.assert_read_schema(p1.schema)
        assert [(v, k) for v, k, _ in fu.get_raw(r.client, f"{ref.key}:3").rows] == [(4, "patch")], r.name
        assert fu.get_raw(r.client, f"{ref.key}:4").rows == [], r.name  # not modified
    # flamepy (through the balancer) applies the patches to its cached base
    assert get_object(ref, deserializer=_concat) == [0, 1, 2, 3, 4]
    assert get_object(ref) is base


# --------------------------------------------------------------------------------------------------
# Versions: never the same one twice, whichever replicas the writers reach
# --------------------------------------------------------------------------------------------------


def test_concurrent_writers_never_get_the_same_version(cluster, app):
    key = fu.put_opaque(cluster.client, f"{app}/s", b"v1").ref["key"]
    # Each writer has its own connection: three through the balancer (least-connections spreads them over
    # the replicas) and one directly to each replica.
    targets = [cluster.endpoint] * 3 + [r.uri for r in cluster.replicas]
    updates, patches = 6, 3
    versions = []
    lock = threading.Lock()

    def writer(i: int, uri: str):
        client = fu.new_client(uri)
        got = []
        try:
            for j in range(updates):
                got.append(fu.put_opaque(client, key, f"u{i}.{j}".encode()).ref["version"])
                if j < patches:
                    got.append(fu.patch_opaque(client, key, f"p{i}.{j}".encode()).ref["version"])
        finally:
            client.close()
        with lock:
            versions.extend(got)

    with ThreadPoolExecutor(len(targets)) as pool:
        for f in [pool.submit(writer, i, uri) for i, uri in enumerate(targets)]:
            f.result()
    total = len(targets) * (updates + patches)
    assert len(versions) == total
    assert len(set(versions)) == total, "a version was handed out twice"
    assert sorted(versions) == list(range(2, 2 + total))
    last = fu.get_raw(cluster.client, f"{key}:0")
    assert max(v for v, _, _ in last.rows) == 1 + total


# --------------------------------------------------------------------------------------------------
# Hot reads: every replica serves its readers from its own copy, fetched from the tier once
# --------------------------------------------------------------------------------------------------


@dataclass
class Taker:
    replica: object
    result: object


def took_put(cluster, put) -> Taker:
    """Run `put` (sent to any replica) and find the replica that wrote it: the session's owner."""
    before = [r.store_puts() for r in cluster.replicas]
    result = put()
    grew = [r for r, b in zip(cluster.replicas, before) if r.store_puts() > b]
    assert len(grew) == 1, f"exactly one replica wrote the put, not {[r.name for r in grew]}"
    return Taker(grew[0], result)


def _counters(r) -> dict:
    m = r.metrics()
    return {
        "hits": m.get("flame_cache_hits_total", 0),
        "fetches": m.get("flame_cache_misses_total", 0),
        "fetched": m["flame_cache_tier_fetched_bytes_total"],
        "sent": m["flame_cache_sent_bytes_total"],
    }


def test_hot_object_is_served_by_every_replica(cluster, app):
    size = 32 * MiB
    data = fu.make_payload(size, seed=32)
    digest = hashlib.sha256(data).digest()
    taker = took_put(
        cluster, lambda: fu.put_opaque(cluster.replicas[0].client, f"{app}/hot", data, timeout=fu.BIG_CALL_TIMEOUT)
    )
    key = taker.result.ref["key"]
    readers_per_replica = 2
    before = {r.name: _counters(r) for r in cluster.replicas}

    def read(uri: str) -> bytes:
        client = fu.new_client(uri)
        try:
            return hashlib.sha256(fu.get_raw(client, f"{key}:0", timeout=fu.BIG_CALL_TIMEOUT).base_data).digest()
        finally:
            client.close()

    uris = [r.uri for r in cluster.replicas for _ in range(readers_per_replica)]
    with ThreadPoolExecutor(len(uris)) as pool:
        assert list(pool.map(read, uris)) == [digest] * len(uris)
    after = {r.name: _counters(r) for r in cluster.replicas}
    for r in cluster.replicas:
        d = {k: after[r.name][k] - before[r.name][k] for k in before[r.name]}
        # Each replica sent the object to its own readers...
        assert d["sent"] >= readers_per_replica * size, (r.name, d)
        if r is taker.replica:  # ...the owner of the session from the copy it kept when it wrote the put,
            assert d["fetched"] == 0 and d["fetches"] == 0, (r.name, d)
        else:  # the others from a copy fetched from the tier exactly once (concurrent readers share it).
            assert d["fetched"] == size and d["fetches"] == 1, (r.name, d)

    # Through the balancer: readers on their own connections (as executors have) are spread over the
    # replicas (least connections), and every replica serves its share from its local copy.
    clients = [fu.new_client(cluster.endpoint) for _ in range(2 * len(cluster.replicas))]
    try:
        for c in clients:  # all connected before any read, so the balancer spreads the connections
            list(c.list_actions(fu.opts()))

        def read_via(client) -> bytes:
            return hashlib.sha256(fu.get_raw(client, f"{key}:0", timeout=fu.BIG_CALL_TIMEOUT).base_data).digest()

        with ThreadPoolExecutor(len(clients)) as pool:
            assert list(pool.map(read_via, clients)) == [digest] * len(clients)
    finally:
        for c in clients:
            c.close()
    final = {r.name: _counters(r) for r in cluster.replicas}
    for r in cluster.replicas:
        d = {k: final[r.name][k] - after[r.name][k] for k in after[r.name]}
        assert d["sent"] >= size, (r.name, "served no reader through the balancer", d)
        assert d["fetched"] == 0 and d["hits"] >= 1, (r.name, "later reads are local hits", d)
    fu.delete(cluster.client, f"{app}/hot")


@pytest.fixture(autouse=True)
def _balancer_config(cluster):
    """Tests here may point flamepy at one replica; the next test starts from the balancer again."""
    yield
    configure_flamepy(cluster.endpoint)
