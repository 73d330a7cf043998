"""Object sizes: 0 B (opaque row with empty data), 1 KiB, 1 MiB, 64 MiB, 256 MiB.

Objects travel as ONE row in ONE FlightData message both ways (ref §2.0: unlimited message
sizes; flamepy lifts grpc limits with max_*_message_length = -1).
The 64/256 MiB cases are marked `large` (still run by default).
"""

from __future__ import annotations

import hashlib
import time

import numpy as np
import pytest
from flamepy.core import get_object, put_object, update_object

import flight_util as fu

KiB = 1024
MiB = 1024 * KiB


def test_zero_byte_opaque_object_raw(flame, app):
    """One row with empty `data`: valid (>= 1 row), stored and served as an empty base row.
    (flamepy itself never sends empty data: even b"" pickles to a non-empty payload.)"""
    reply = fu.put_opaque(flame.client, f"{app}/s", b"")
    assert len(reply.metadata) == 1
    ref = reply.ref
    assert ref["version"] == 1
    r = fu.get_raw(flame.client, f"{ref['key']}:0")
    assert r.rows == [(1, "base", b"")]
    fu.assert_read_schema(r.schema)
    # and an empty patch
    assert fu.patch_opaque(flame.client, ref["key"], b"").ref["version"] == 2
    assert fu.get_raw(flame.client, f"{ref['key']}:1").rows == [(2, "patch", b"")]


def test_zero_rows_opaque_is_invalid(flame, app):
    """A batch with zero rows in the opaque schema: INVALID_ARGUMENT (ref §2.9, "Expected at
    least one row", or "No data received" when the empty body is skipped)."""
    fu.assert_status("INVALID_ARGUMENT", fu.put_opaque, flame.client, f"{app}/s", [])


def test_no_batches_is_invalid(flame, app):
    import pyarrow.flight as flight

    fu.assert_status(
        "INVALID_ARGUMENT", fu.put_batches, flame.client, flight.FlightDescriptor.for_path(f"{app}/s"), fu.OPAQUE_SCHEMA, []
    )


@pytest.mark.parametrize("size", [1, KiB, MiB], ids=["1B", "1KiB", "1MiB"])
def test_small_sizes_flamepy(flame, app, size):
    data = fu.make_payload(size, seed=size)
    ref = put_object(f"{app}/s", data)
    assert get_object(ref) == data
    raw = fu.get_raw(flame.client, f"{ref.key}:0")
    assert len(raw.rows) == 1


def _big_roundtrip(flame, app, size):
    data = fu.make_payload(size, seed=size // MiB)
    t0 = time.monotonic()
    ref = put_object(f"{app}/s", data)
    t1 = time.monotonic()
    got = get_object(ref)
    t2 = time.monotonic()
    assert len(got) == size
    assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()
    del got
    # raw read: one base row, one batch, payload = FLM\x00 + cloudpickle(bytes)
    raw = fu.get_raw(flame.client, f"{ref.key}:0", timeout=fu.BIG_CALL_TIMEOUT)
    assert [(v, k) for v, k, _ in raw.rows] == [(1, "base")]
    assert len(raw.batches) == 1
    assert raw.base_data[:4] == b"FLM\x00" and len(raw.base_data) > size
    print(f"{size // MiB} MiB: put {size / MiB / (t1 - t0):.0f} MiB/s, get {size / MiB / (t2 - t1):.0f} MiB/s")
    return ref


@pytest.mark.large
def test_64mib_flamepy(flame, app):
    ref = _big_roundtrip(flame, app, 64 * MiB)
    # update to a small value, then back to big (memory accounting / replacement)
    r2 = update_object(ref, b"small")
    assert r2.version == 2 and get_object(r2) == b"small"


@pytest.mark.large
def test_64mib_numpy(flame, app):
    arr = np.random.default_rng(0).random(8 * MiB)  # 64 MiB of float64, FLM\x01 tensor path
    ref = put_object(f"{app}/s", arr)
    got = get_object(ref)
    np.testing.assert_array_equal(got, arr)


@pytest.mark.large
def test_256mib_flamepy(flame, app):
    ref = _big_roundtrip(flame, app, 256 * MiB)
    fu.delete(flame.client, ref.key)


@pytest.mark.large
def test_256mib_raw_multi_row_upload(flame, app):
    """256 MiB uploaded as 256 x 1 MiB rows in 16 batches (upload-style): one 256 MiB base row back."""
    block = fu.make_payload(MiB, seed=42)
    chunks = [i.to_bytes(8, "little") + block[8:] for i in range(256)]
    reply = fu.put_opaque(flame.client, f"{app}/s", chunks, rows_per_batch=16, timeout=fu.BIG_CALL_TIMEOUT)
    key = reply.ref["key"]
    raw = fu.get_raw(flame.client, f"{key}:0", timeout=fu.BIG_CALL_TIMEOUT)
    assert len(raw.rows) == 1
    got = raw.base_data
    assert len(got) == 256 * MiB
    assert hashlib.sha256(got).digest() == hashlib.sha256(b"".join(chunks)).digest()
    fu.delete(flame.client, key)
