"""The shared tier down while the cluster runs (issue 13, "Bad input and outages get clear statuses"): puts and
gets answer UNAVAILABLE (pyarrow's FlightUnavailableError, flamepy's errors carry it), and once the tier is
back nothing is half-written: a write that failed is not visible, the previous version is intact, gets
and puts work again.

This module stops SeaweedFS, so it runs last (pytest runs files in name order).
"""

from __future__ import annotations

import os
import threading
import time

import pytest
from flamepy.core import get_object, put_object, update_object

import flight_util as fu
from cluster_util import wait_for

MiB = 1024 * 1024


def _stop_tier(cluster) -> None:
    pid = int(cluster.env["CLUSTER_S3_PID"])
    # SIGKILL: down at once (a graceful stop takes SeaweedFS ~15 s); what it acknowledged is in the page cache
    # and its files, so it survives a process kill.
    os.kill(pid, 9)

    def gone() -> bool:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                return not f.read()  # a zombie has an empty command line
        except FileNotFoundError:
            return True

    wait_for(gone, 20, "SeaweedFS to stop")


def test_tier_down_gives_unavailable_and_nothing_half_written(cluster, flame, app):
    before = put_object(f"{app}/s", "before")
    new_key = f"{app}/s/written-while-down"
    clients = [(cluster.client, "balancer")] + [(r.client, r.name) for r in cluster.replicas]
    # A large update in flight when the tier goes down: it either completes or leaves the old version.
    big_key = fu.put_opaque(cluster.client, f"{app}/big", b"old").ref["key"]
    big = fu.make_payload(48 * MiB, seed=48)
    outcome = {}

    def update_big():
        outcome["status"], outcome["result"] = fu.call_status(
            fu.put_opaque, fu.new_client(cluster.replicas[0].uri), big_key, big, timeout=fu.BIG_CALL_TIMEOUT
        )

    writer = threading.Thread(target=update_big)
    writer.start()
    time.sleep(0.5)
    _stop_tier(cluster)
    writer.join(timeout=fu.BIG_CALL_TIMEOUT)
    assert outcome["status"] in ("OK", "UNAVAILABLE"), outcome
    try:
        for client, where in clients:
            exc = fu.assert_status("UNAVAILABLE", fu.put_opaque, client, new_key, b"lost")
            assert "tier" in str(exc), (where, exc)
            fu.assert_status("UNAVAILABLE", fu.put_opaque, client, before.key, b"lost update")
            fu.assert_status("UNAVAILABLE", fu.patch_opaque, client, before.key, b"lost patch")
            fu.assert_status("UNAVAILABLE", fu.get_raw, client, f"{before.key}:0")
        # flamepy: the same status, wrapped or not
        for call in (lambda: put_object(f"{app}/s", "lost"), lambda: update_object(before, "lost"),
                     lambda: get_object(before)):
            with pytest.raises(Exception) as ei:
                call()
            assert fu.grpc_code(ei.value) == "UNAVAILABLE", ei.value
    finally:
        cluster.script("restart-service", "s3")

    # Gets work again. SeaweedFS answers its first read ~10 s after a restart (its volume server registers
    # late; cluster.sh's readiness probe only lists the bucket), so the tier client's 30 s timeout covers it.
    def readable():
        status, reply = fu.call_status(fu.get_raw, cluster.client, f"{before.key}:0")
        return reply if status == "OK" else None

    reply = wait_for(readable, 30, "gets to work again through the balancer", interval=0.5)
    # Nothing half-written: the object is exactly what it was, at its version; the failed put does not exist.
    assert [(v, k) for v, k, _ in reply.rows] == [(1, "base")]
    assert get_object(before) == "before"
    for client, where in clients:
        assert [(v, k) for v, k, _ in fu.get_raw(client, f"{before.key}:0").rows] == [(1, "base")], where
        fu.assert_status("NOT_FOUND", fu.get_raw, client, f"{new_key}:0")
        assert {fi.endpoints[0].ticket.ticket.decode() for fi in client.list_flights(f"{app}/".encode(), fu.opts())} == {
            before.key,
            big_key,
        }, where
    got = fu.get_raw(cluster.client, f"{big_key}:0", timeout=fu.BIG_CALL_TIMEOUT)
    if outcome["status"] == "OK":  # acknowledged before the tier went: complete and current
        assert [(v, k) for v, k, _ in got.rows] == [(2, "base")] and got.base_data == big
    else:  # failed: the previous version, untouched
        assert [(v, k) for v, k, _ in got.rows] == [(1, "base")] and got.base_data == b"old"
    print(f"large update when the tier went down: {outcome['status']}")
    # Writes work again and continue the version sequence. A restarted SeaweedFS holds writes ~20 s, longer
    # than a tier request may wait (10 s): until then writes answer UNAVAILABLE, and a client retries them
    # as it would any UNAVAILABLE. A retried write whose record write timed out may have landed after all,
    # so the sequence may have moved past 2; it never goes back.
    def written():
        try:
            return update_object(before, "after")
        except Exception as e:  # noqa: BLE001 - flamepy may wrap the Flight error
            assert fu.grpc_code(e) == "UNAVAILABLE", e
            return None

    assert wait_for(written, 60, "writes to work again through the balancer", interval=1).version >= 2
    assert get_object(before) == "after"
    status, put = fu.call_status(fu.put_opaque, cluster.client, new_key, b"now")
    assert status == "OK", put
