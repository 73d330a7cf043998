"""Regenerates the pyarrow-written IPC test vectors (pyarrow >= 16).

Run: python3 make_vectors.py   (from this directory)
The outputs are committed so tests do not need pyarrow.
"""
import decimal
import json

import pyarrow as pa


def payload(n):
    return bytes((i * 7 + i // 13) % 256 for i in range(n))


def opaque():
    schema = pa.schema([pa.field("version", pa.uint64(), nullable=False),
                        pa.field("data", pa.binary(), nullable=False)])
    batch = pa.record_batch([pa.array([3], pa.uint64()), pa.array([payload(5000)], pa.binary())], schema=schema)
    opts = pa.ipc.IpcWriteOptions(compression="zstd")
    with pa.ipc.new_file("opaque_zstd.arrow", schema, options=opts) as w:
        w.write_batch(batch)


def types_table():
    n = 5
    cols = {
        "i8": pa.array([1, None, -3, 4, 5], pa.int8()),
        "i16": pa.array([1, 2, None, 4, -5], pa.int16()),
        "i32": pa.array(range(n), pa.int32()),
        "i64": pa.array([None] * n, pa.int64()),
        "u8": pa.array(range(n), pa.uint8()),
        "u64": pa.array([2**64 - 1, 0, 1, 2, 3], pa.uint64()),
        "f16": pa.array([1.5, None, 2.5, 0, 1], pa.float16()) if hasattr(pa, "float16") else None,
        "f32": pa.array([1.5, None, 2.5, 0, 1], pa.float32()),
        "f64": pa.array([1.5, None, 2.5, 0, 1], pa.float64()),
        "bool": pa.array([True, False, None, True, True]),
        "utf8": pa.array(["a", "bb", None, "", "ccc"]),
        "lutf8": pa.array(["a", "bb", None, "", "ccc"], pa.large_string()),
        "bin": pa.array([b"x", None, b"", b"yz", b"\x00"]),
        "lbin": pa.array([b"x", None, b"", b"yz", b"\x00"], pa.large_binary()),
        "fsb": pa.array([b"abc", b"def", None, b"ghi", b"jkl"], pa.binary(3)),
        "dec128": pa.array([decimal.Decimal("1.25"), None, decimal.Decimal("-3.50"), 0, 1], pa.decimal128(10, 2)),
        "dec256": pa.array([decimal.Decimal("1.25"), None, 0, 1, 2], pa.decimal256(40, 5)),
        "date32": pa.array([0, 1, None, 3, 4], pa.date32()),
        "date64": pa.array([0, 86400000, None, 0, 0], pa.date64()),
        "time32": pa.array([0, 1, None, 3, 4], pa.time32("s")),
        "time64": pa.array([0, 1, None, 3, 4], pa.time64("ns")),
        "ts": pa.array([0, 1, None, 3, 4], pa.timestamp("ms", tz="UTC")),
        "dur": pa.array([0, 1, None, 3, 4], pa.duration("us")),
        "mdn": pa.array([pa.MonthDayNano([1, 2, 3])] * n, pa.month_day_nano_interval()),
        "list": pa.array([[1, 2], None, [], [3], [4, 5, 6]], pa.list_(pa.int32())),
        "llist": pa.array([["a"], None, [], ["b", None], ["c"]], pa.large_list(pa.string())),
        "fsl": pa.array([[1, 2], [3, 4], None, [5, 6], [7, 8]], pa.list_(pa.int16(), 2)),
        "struct": pa.array([{"a": 1, "b": "x"}, None, {"a": None, "b": "y"}, {"a": 3, "b": None}, {"a": 4, "b": "z"}],
                           pa.struct([("a", pa.int32()), ("b", pa.string())])),
        "map": pa.array([[("k", 1)], None, [], [("a", 2), ("b", 3)], [("c", None)]], pa.map_(pa.string(), pa.int64())),
        "dict": pa.array(["red", "green", None, "red", "blue"]).dictionary_encode(),
        "dunion": pa.UnionArray.from_dense(pa.array([0, 1, 0, 1, 0], pa.int8()), pa.array([0, 0, 1, 1, 2], pa.int32()),
                                           [pa.array([1, 2, 3]), pa.array(["a", "b"])], ["n", "s"]),
        "sunion": pa.UnionArray.from_sparse(pa.array([0, 1, 0, 1, 0], pa.int8()),
                                            [pa.array([1, 2, 3, 4, 5]), pa.array(["a", "b", "c", "d", "e"])], ["n", "s"]),
        "null": pa.nulls(n),
        "sview": pa.array(["short", "a much longer string that does not fit inline", None, "", "x"], pa.string_view()),
        "bview": pa.array([b"short", b"a much longer binary value that is not inline", None, b"", b"x"], pa.binary_view()),
        "lview": pa.array([[1, 2], None, [], [3], [4, 5, 6]], pa.list_view(pa.int32())),
        "ree": pa.RunEndEncodedArray.from_arrays(pa.array([2, 5], pa.int32()), pa.array(["p", "q"])),
    }
    cols = {k: v for k, v in cols.items() if v is not None}
    return pa.table(cols).replace_schema_metadata({"origin": "pyarrow", "flame.cache.format": "arrow-table-v1"})


def types():
    table = types_table()
    batches = table.to_batches()
    batches = batches + [table.slice(1, 3).combine_chunks().to_batches()[0]]
    for name, opts in (("types.arrow", None), ("types_zstd.arrow", pa.ipc.IpcWriteOptions(compression="zstd"))):
        with pa.ipc.new_file(name, table.schema, options=opts) as w:
            for b in batches:
                w.write_batch(b)
    with pa.ipc.new_stream("types.arrows", table.schema) as w:
        for b in batches:
            w.write_batch(b)
    meta = {
        "columns": table.column_names,
        "types": [str(t) for t in table.schema.types],
        "batchRows": [b.num_rows for b in batches],
        "pyarrow": pa.__version__,
    }
    with open("types.json", "w") as f:
        json.dump(meta, f, indent=1)


if __name__ == "__main__":
    opaque()
    types()
