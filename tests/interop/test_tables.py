"""Native tabular objects (ref §2.1 "Native tabular schema", §2.3 step 3): pyarrow Tables,
RecordBatches and pandas DataFrames go up as their own Arrow schema tagged
flame.cache.format=arrow-table-v1 and come back as-is, with flame.cache.version = base version.
"""

from __future__ import annotations

import datetime as dt
import decimal

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from flamepy.core import get_object, patch_object, put_object, update_object

import flight_util as fu


def _types_table(n: int) -> pa.Table:
    rng = np.random.default_rng(n)
    def nulls(values):
        return [None if i % 7 == 3 else v for i, v in enumerate(values)]

    cols = {
        "i8": pa.array(nulls([int(x) for x in rng.integers(-128, 127, n)]), pa.int8()),
        "i64": pa.array(nulls([int(x) for x in rng.integers(-(2**62), 2**62, n)]), pa.int64()),
        "u64": pa.array([2**64 - 1 - i for i in range(n)], pa.uint64()),
        "f32": pa.array(nulls([float(x) for x in rng.random(n)]), pa.float32()),
        "f64": pa.array(nulls([float("inf") if i == 1 else float(x) for i, x in enumerate(rng.random(n))]), pa.float64()),
        "b": pa.array(nulls([bool(i % 2) for i in range(n)]), pa.bool_()),
        "s": pa.array(nulls([f"str-{i}-é中" for i in range(n)]), pa.string()),
        "ls": pa.array(nulls(["x" * (i % 50) for i in range(n)]), pa.large_string()),
        "bin": pa.array(nulls([bytes([i % 256]) * (i % 9) for i in range(n)]), pa.binary()),
        "d32": pa.array(nulls([dt.date(2020, 1, 1) + dt.timedelta(days=i) for i in range(n)]), pa.date32()),
        "ts": pa.array(nulls([dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(seconds=i) for i in range(n)]), pa.timestamp("us", tz="UTC")),
        "dec": pa.array(nulls([decimal.Decimal(f"{i}.{i % 100:02d}") for i in range(n)]), pa.decimal128(12, 2)),
        "lst": pa.array(nulls([list(range(i % 4)) for i in range(n)]), pa.list_(pa.int32())),
        "st": pa.array(nulls([{"x": i, "y": f"y{i}"} for i in range(n)]), pa.struct([("x", pa.int64()), ("y", pa.string())])),
        "allnull": pa.nulls(n, pa.int32()),
    }
    return pa.table(cols)


def _raw_schema_meta(server, key: str) -> dict:
    r = fu.get_raw(server.client, f"{key}:0")
    return {k.decode(): v.decode() for k, v in (r.schema.metadata or {}).items()}, r


def test_table_many_types_with_nulls(flame, app):
    t = _types_table(257).replace_schema_metadata({"owner": "interop", "note": "ü"})
    ref = put_object(f"{app}/s", t)
    assert ref.version == 1
    got = get_object(ref)
    assert isinstance(got, pa.Table)
    assert got.schema.equals(t.schema, check_metadata=True), (got.schema, t.schema)
    assert got.equals(t)
    # on the wire: the stored schema + flame.cache.* metadata, version = base version
    meta, reply = _raw_schema_meta(flame, ref.key)
    assert meta["flame.cache.format"] == "arrow-table-v1"
    assert meta["flame.cache.version"] == "1"
    assert meta["flame.cache.logical_type"] == "pyarrow.table"
    assert meta["owner"] == "interop" and meta["note"] == "ü"
    assert reply.table.equals(t)


def test_table_multiple_batches(flame, app):
    batches = [pa.record_batch({"k": pa.array(range(i * 100, i * 100 + 100), pa.int64()), "v": [f"r{j}" for j in range(100)]}) for i in range(5)]
    t = pa.Table.from_batches(batches)
    ref = put_object(f"{app}/s", t)
    got = get_object(ref)
    assert got.equals(t)
    _, reply = _raw_schema_meta(flame, ref.key)
    assert reply.table.num_rows == 500
    # batches are streamed as stored (flamepy sends table.to_batches())
    assert [b.num_rows for b in reply.batches] == [100] * 5


def test_table_zero_rows(flame, app):
    """Zero-row table: flamepy sends one zero-row batch whose IPC body is empty. The Rust server
    skips empty-body batches and (probably) answers INVALID_ARGUMENT "No data received"
    (ref §9.10, inferred); flame-cache must store it and give it back."""
    t = pa.table({"a": pa.array([], pa.int64()), "s": pa.array([], pa.string())}).replace_schema_metadata({"m": "1"})
    ref = put_object(f"{app}/s", t)
    got = get_object(ref)
    assert isinstance(got, pa.Table)
    assert got.num_rows == 0
    assert got.schema.equals(t.schema, check_metadata=True)


def test_table_zero_columns_zero_rows_is_clean(flame, app):
    """Degenerate: no columns at all. Must not crash the server; either round-trips or errors."""
    t = pa.table({})
    try:
        ref = put_object(f"{app}/s", t)
    except (ValueError, pa.ArrowException) as e:
        assert fu.grpc_code(e) in ("INVALID_ARGUMENT",), e
        return
    assert get_object(ref).num_columns == 0


def test_record_batch(flame, app):
    b = pa.record_batch({"x": pa.array([1.5, None, 3.25]), "y": ["a", "b", None]}).replace_schema_metadata({"kind": "rb"})
    ref = put_object(f"{app}/s", b)
    got = get_object(ref)
    assert isinstance(got, pa.RecordBatch)
    assert got.equals(b)
    assert got.schema.metadata == {b"kind": b"rb"}
    meta, _ = _raw_schema_meta(flame, ref.key)
    assert meta["flame.cache.logical_type"] == "pyarrow.record_batch"


def test_pandas_dataframe(flame, app):
    df = pd.DataFrame(
        {
            "i": pd.array([1, None, 3], dtype="Int64"),
            "f": [1.0, np.nan, 2.5],
            "s": ["a", None, "c"],
            "t": pd.to_datetime(["2024-01-01", "2024-01-02", None]),
            "b": [True, False, True],
        },
        index=pd.Index([10, 20, 30], name="idx"),
    )
    ref = put_object(f"{app}/s", df)
    got = get_object(ref)
    assert isinstance(got, pd.DataFrame)
    pd.testing.assert_frame_equal(got, df)
    meta, _ = _raw_schema_meta(flame, ref.key)
    assert meta["flame.cache.logical_type"] == "pandas.dataframe"
    assert "pandas" in meta  # pandas' own metadata is kept


def test_pandas_large_dataframe(flame, app):
    n = 200_000
    df = pd.DataFrame({"a": np.arange(n), "b": np.random.default_rng(1).random(n), "c": [f"s{i % 1000}" for i in range(n)]})
    ref = put_object(f"{app}/s", df)
    pd.testing.assert_frame_equal(get_object(ref), df)


def test_dictionary_column_does_not_break_server(flame, app):
    """pandas categoricals become dictionary-encoded columns. The Rust server rejects them
    (dictionary batches decoded as record batches -> INTERNAL, ref §2.2/§9.10). flame-cache may
    store them or refuse them, but must answer cleanly and keep serving."""
    df = pd.DataFrame({"c": pd.Categorical(["x", "y", "x", None])})
    try:
        ref = put_object(f"{app}/s", df)
    except (ValueError, pa.ArrowException) as e:
        assert fu.grpc_code(e) in ("INVALID_ARGUMENT", "INTERNAL", "UNIMPLEMENTED"), e
    else:
        pd.testing.assert_frame_equal(get_object(ref), df)
    assert get_object(put_object(f"{app}/s", "still alive")) == "still alive"


def test_native_update_versions_and_kind_switch(flame, app):
    t1 = pa.table({"a": [1]})
    ref = put_object(f"{app}/s", t1)
    t2 = pa.table({"a": [1, 2], "b": ["x", "y"]})
    r2 = update_object(ref, t2)
    assert r2.version == 2
    assert get_object(r2).equals(t2)
    meta, _ = _raw_schema_meta(flame, ref.key)
    assert meta["flame.cache.version"] == "2"
    # native -> opaque -> native on the same key
    r3 = update_object(r2, {"now": "opaque"})
    assert r3.version == 3
    assert get_object(r3) == {"now": "opaque"}
    r = fu.get_raw(flame.client, f"{ref.key}:0")
    fu.assert_read_schema(r.schema)
    r4 = update_object(r3, t1)
    assert r4.version == 4
    assert get_object(r4).equals(t1)


def test_native_patch_accepted_but_not_returned(flame, app):
    """ref §3.4/§9.4: patching a native table is accepted and bumps the version, but DoGet on a
    native object streams only the stored table (deltas are never sent)."""
    t = pa.table({"a": [1, 2]})
    ref = put_object(f"{app}/s", t)
    r2 = patch_object(ref, [99])
    assert r2.version == 2
    assert get_object(r2).equals(t)
    meta, reply = _raw_schema_meta(flame, ref.key)
    assert meta["flame.cache.version"] == "1"  # base version
    assert reply.table.num_rows == 2
