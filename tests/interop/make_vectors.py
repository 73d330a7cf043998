#!/usr/bin/env python3
"""Generate the shared test vectors under tests/vectors/ with pyarrow + pymongo's bson
(implementations independent of flame-cache's TypeScript code).

    .venv/bin/python tests/interop/make_vectors.py           # (re)write the files
    .venv/bin/python tests/interop/make_vectors.py --check   # exit 1 if a file would change

Files (all small, committed):
  objectref.bson / objectref.json     ObjectRef exactly as the server's PutResult.app_metadata
                                      (ref §2.1: endpoint str, key str, version int64, in order)
  objectref-client-int32.bson         ObjectRef as flamepy's ObjectRef.encode() writes it
                                      (version as int32 when it fits)
  opaque.arrow                        opaque object, uncompressed IPC file, Rust schema
  opaque-zstd.arrow                   the same, ZSTD body compression = what Flame's Rust server
                                      writes to {root}/{app}/{ssn}/{oid}.arrow (ref §4.3)
  opaque-flamepy-local.arrow          what flamepy's local-storage put_object writes (nullable
                                      fields, version 0, FLM\\x00+cloudpickle payload, ref §6.1)
  opaque-delta-zstd.arrow             a delta file ({oid}.deltas/<n>.arrow), version 4
  native.arrow / native-zstd.arrow    native table (flame.cache.* metadata, 3 batches, nulls)
  ipc-manifest.json                   what each .arrow file contains (schema, rows, sha256)
  keys.json / tickets.json            key and ticket validation cases with expected gRPC status
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import io
import json
import sys
from collections import OrderedDict
from pathlib import Path

import bson
import pyarrow as pa
from bson.int64 import Int64
from bson.son import SON

OUT = Path(__file__).resolve().parents[1] / "vectors"

ENDPOINT = "grpc://127.0.0.1:9090"
OBJ_KEY = "vecapp/vecssn/6f1c2a4e-5b7d-4c8e-9f01-23456789abcd"
OPAQUE_DATA = b"flame-cache opaque payload \x00\x01\x02\xff end"
DELTA_DATA = b"delta-4 \xfe\xff"

RUST_OPAQUE_SCHEMA = pa.schema([pa.field("version", pa.uint64(), nullable=False), pa.field("data", pa.binary(), nullable=False)])
PY_OPAQUE_SCHEMA = pa.schema([pa.field("version", pa.uint64()), pa.field("data", pa.binary())])


# ---------------------------------------------------------------------------------------------
# BSON ObjectRef
# ---------------------------------------------------------------------------------------------


def objectref_files():
    doc = SON([("endpoint", ENDPOINT), ("key", OBJ_KEY), ("version", Int64(7))])
    raw = bson.encode(doc)
    client = bson.encode({"endpoint": ENDPOINT, "key": OBJ_KEY, "version": 7})  # int32
    assert raw[4 + 1 + len("endpoint") + 1 + 4 + len(ENDPOINT) + 1 :][0] == 0x02
    desc = OrderedDict(
        description="ObjectRef as sent by the server in PutResult.app_metadata (one BSON document)",
        fields=[
            {"name": "endpoint", "bson_type": "string", "bson_type_byte": 2, "value": ENDPOINT},
            {"name": "key", "bson_type": "string", "bson_type_byte": 2, "value": OBJ_KEY},
            {"name": "version", "bson_type": "int64", "bson_type_byte": 18, "value": 7},
        ],
        field_order_matters=True,
        size=len(raw),
        hex=raw.hex(),
        client_int32_variant={
            "file": "objectref-client-int32.bson",
            "note": "flamepy ObjectRef.encode() (pymongo bson.encode of a dict) writes version as int32 (type 0x10) "
            "when it fits; servers/clients must accept int32 and int64 when decoding",
            "size": len(client),
            "hex": client.hex(),
        },
    )
    return {
        "objectref.bson": raw,
        "objectref-client-int32.bson": client,
        "objectref.json": (json.dumps(desc, indent=2, ensure_ascii=False) + "\n").encode(),
    }


# ---------------------------------------------------------------------------------------------
# Arrow IPC files
# ---------------------------------------------------------------------------------------------


def ipc_file(schema: pa.Schema, batches, compression=None) -> bytes:
    sink = io.BytesIO()
    options = pa.ipc.IpcWriteOptions(compression=compression)
    with pa.ipc.new_file(sink, schema, options=options) as w:
        for b in batches:
            w.write_batch(b)
    return sink.getvalue()


def opaque_batch(schema, version, data):
    return pa.record_batch([pa.array([version], pa.uint64()), pa.array([data], pa.binary())], schema=schema)


def native_table() -> pa.Table:
    meta = {
        "flame.cache.format": "arrow-table-v1",
        "flame.cache.version": "2",
        "flame.cache.logical_type": "pyarrow.table",
        "owner": "vectors",
    }
    parts = []
    for i in range(3):
        n = 4
        parts.append(
            pa.record_batch(
                {
                    "id": pa.array([i * n + j for j in range(n)], pa.int64()),
                    "name": pa.array([None if j == 1 else f"row-{i}-{j}-é" for j in range(n)], pa.string()),
                    "score": pa.array([None if j == 2 else (i + j) / 4 for j in range(n)], pa.float64()),
                    "flag": pa.array([j % 2 == 0 for j in range(n)], pa.bool_()),
                    "blob": pa.array([bytes([i, j]) * j for j in range(n)], pa.binary()),
                    "ts": pa.array([dt.datetime(2026, 1, 1, 0, 0, i * n + j) for j in range(n)], pa.timestamp("ms")),
                }
            )
        )
    return pa.Table.from_batches(parts).replace_schema_metadata(meta)


def ipc_files():
    import cloudpickle

    files = {}
    manifest = OrderedDict()

    def add(name, schema, batches, compression, note, extra=None):
        data = ipc_file(schema, batches, compression)
        files[name] = data
        t = pa.Table.from_batches(batches, schema=schema)
        entry = OrderedDict(
            note=note,
            compression=compression or "none",
            schema=[{"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in schema],
            schema_metadata={k.decode(): v.decode() for k, v in (schema.metadata or {}).items()},
            batches=len(batches),
            rows=t.num_rows,
            file_sha256=hashlib.sha256(data).hexdigest(),
        )
        if extra:
            entry.update(extra)
        manifest[name] = entry

    add(
        "opaque.arrow",
        RUST_OPAQUE_SCHEMA,
        [opaque_batch(RUST_OPAQUE_SCHEMA, 3, OPAQUE_DATA)],
        None,
        "opaque base object, version 3, uncompressed (Rust server files before dad9c14f)",
        {"version": 3, "data_b64": base64.b64encode(OPAQUE_DATA).decode(), "data_sha256": hashlib.sha256(OPAQUE_DATA).hexdigest()},
    )
    add(
        "opaque-zstd.arrow",
        RUST_OPAQUE_SCHEMA,
        [opaque_batch(RUST_OPAQUE_SCHEMA, 3, OPAQUE_DATA)],
        "zstd",
        "opaque base object, version 3, ZSTD body compression, as Flame's Rust server writes {oid}.arrow",
        {"version": 3, "data_b64": base64.b64encode(OPAQUE_DATA).decode(), "data_sha256": hashlib.sha256(OPAQUE_DATA).hexdigest()},
    )
    add(
        "opaque-delta-zstd.arrow",
        RUST_OPAQUE_SCHEMA,
        [opaque_batch(RUST_OPAQUE_SCHEMA, 4, DELTA_DATA)],
        "zstd",
        "delta (patch) file, version 4, as the Rust server writes {oid}.deltas/<n>.arrow",
        {"version": 4, "data_b64": base64.b64encode(DELTA_DATA).decode()},
    )
    local_payload = b"FLM\x00" + cloudpickle.dumps("hello from flamepy local storage", protocol=5)
    add(
        "opaque-flamepy-local.arrow",
        PY_OPAQUE_SCHEMA,
        [opaque_batch(PY_OPAQUE_SCHEMA, 0, local_payload)],
        None,
        "what flamepy 0.6.0 put_object writes in local-storage mode: nullable fields, version 0, uncompressed; "
        "payload = FLM\\x00 + cloudpickle('hello from flamepy local storage')",
        {"version": 0, "data_b64": base64.b64encode(local_payload).decode(), "python_value": "hello from flamepy local storage"},
    )
    t = native_table()
    for name, comp in (("native.arrow", None), ("native-zstd.arrow", "zstd")):
        add(
            name,
            t.schema,
            t.to_batches(),
            comp,
            "native table object (flame.cache.format=arrow-table-v1, base version 2), 3 batches x 4 rows, nulls",
            {"version": 2},
        )
    files["ipc-manifest.json"] = (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode()
    return files


# ---------------------------------------------------------------------------------------------
# keys.json / tickets.json
# ---------------------------------------------------------------------------------------------

OK, NF, INV = "OK", "NOT_FOUND", "INVALID_ARGUMENT"

KEY_RULES = [
    "A key is UTF-8 '<app>/<session>/<object>' (full key) or '<app>/<session>' (prefix); split on '/'.",
    "Every part is non-empty, contains no '..' and no '\\\\' (ref §3.1).",
    "Stricter than the Rust server: no ':' in any part (tickets split at the first ':'), no part equal to '.', "
    "no control characters (U+0000-U+001F, U+007F), every part <= 200 UTF-8 bytes (file names stay under 255 bytes), no part starting with '.' or ending with '.deltas', whole key <= 1024 UTF-8 bytes.",
    "'*' is only allowed as the whole session part of a 2-part prefix ('<app>/*'), and only for DELETE.",
    "put (DoPut PATH [k]): k = prefix (server generates a UUIDv4 id) or full key. put to '<app>/*' is INVALID_ARGUMENT "
    "(the Rust server answers INTERNAL).",
    "patch (DoPut CMD 'PATCH:k') and get (DoGet 'k:0') need a full key; a valid key that was never stored -> NOT_FOUND.",
    "delete (DoAction DELETE body k): full key, prefix or '<app>/*'; OK even when nothing matches.",
    "Legacy (seed / FLIGHT0 forms, accepted by flame-cache, rejected by the Rust server at HEAD): a 1-part put path "
    "'<session>' (-> '<session>/<uuid>'), 2-part '<session>/<object>' keys for get and delete, 1-part delete '<session>'.",
]

OPS = OrderedDict(
    put="DoPut, FlightDescriptor PATH [key], one opaque row {version: 0, data: b'v'}; OK = a PutResult came back",
    patch="DoPut, FlightDescriptor CMD b'PATCH:' + key, one opaque row, on a key that was never stored",
    get="DoGet, ticket key + ':0', on a key that was never stored",
    delete="DoAction type 'DELETE', body = key",
)


def _key_cases():
    # Parts are limited to 200 bytes so that '<part>.arrow', '<part>.deltas' and
    # temporary names stay under the 255-byte file-name limit of common filesystems.
    p255 = "p" * 200
    p256 = "p" * 201
    u255 = "é" * 99 + "xx"  # 200 bytes
    u256 = "é" * 100 + "x"  # 201 bytes
    long_ok = "/".join(["a" * 200, "b" * 200, "c" * 200])  # 602 bytes
    cases = []

    def case(name, key, put, patch, get, delete, note="", also=None, rust=None):
        c = OrderedDict(name=name)
        if isinstance(key, bytes):
            c["key_b64"] = base64.b64encode(key).decode()
        else:
            c["key"] = key
        c.update(put=put, patch=patch, get=get, delete=delete)
        if also:
            c["also_accepted"] = also
        if rust:
            c["rust_head"] = rust
        if note:
            c["note"] = note
        cases.append(c)

    # --- valid full keys (never stored before the check) ---
    case("full key", "vk/ssn/obj", OK, NF, NF, OK)
    case("uuid object id", "vk/ssn/6f1c2a4e-5b7d-4c8e-9f01-23456789abcd", OK, NF, NF, OK)
    case("dots inside parts", "vk.app/ssn.1/pkg-1.0.0.tar.gz", OK, NF, NF, OK)
    case("leading dot part", "vk/ssn/.hidden", INV, INV, INV, INV, rust={"put": OK, "patch": NF, "get": NF, "delete": OK},
         note="stricter: a leading '.' is the store's own namespace (temp files, .staging, .trash, .quarantine)")
    case("part ending in .deltas", "vk/ssn/obj.deltas", INV, INV, INV, INV, rust={"put": OK, "patch": NF, "get": NF, "delete": OK},
         note="stricter: '<object>.deltas' folders hold patches; such a key would collide with them")
    case("spaces", "vk/my session/my object", OK, NF, NF, OK)
    case("unicode", "vk/séssion/объект-中文", OK, NF, NF, OK)
    case("emoji", "vk/ssn/\U0001f525", OK, NF, NF, OK)
    case("part of 200 bytes", f"vk/ssn/{p255}", OK, NF, NF, OK, note="max part length (bytes)")
    case("unicode part of 200 bytes", f"vk/ssn/{u255}", OK, NF, NF, OK)
    case("long key 602 bytes", long_ok, OK, NF, NF, OK)
    case("reserved session names", "vk/shared/obj", OK, NF, NF, OK, note="'shared'/'default' are conventions only")
    case("trailing/inner single dot chars", "vk/a.b/c.", OK, NF, NF, OK)
    case("star inside a part", "vk/s*s/o*", OK, NF, NF, OK, note="only a part equal to '*' is a wildcard")
    # --- valid prefixes ---
    case("prefix", "vk/ssn", OK, INV, NF, OK, note="put generates '<prefix>/<uuid4>'; get of a 2-part key is a legacy 2-part key lookup",
         rust={"get": INV})
    case("wildcard prefix", "vk/*", INV, INV, INV, OK, also={"get": [NF]}, rust={"put": "INTERNAL"})
    # --- legacy forms ---
    case("legacy one-part session", "vksession", OK, INV, INV, OK, note="legacy: put -> 'vksession/<uuid4>'; delete removes 'vksession/*' keys",
         rust={"put": INV, "delete": INV})
    # --- invalid ---
    case("empty key", "", INV, INV, INV, INV)
    case("single slash", "/", INV, INV, INV, INV)
    case("empty app", "/ssn/obj", INV, INV, INV, INV)
    case("empty session", "vk//obj", INV, INV, INV, INV)
    case("empty object", "vk/ssn/", INV, INV, INV, INV)
    case("leading slash", "/vk/ssn", INV, INV, INV, INV)
    case("four parts", "vk/ssn/obj/extra", INV, INV, INV, INV)
    case("dotdot part", "vk/../obj", INV, INV, INV, INV)
    case("dotdot inside part", "vk/ssn/a..b", INV, INV, INV, INV, note="Rust rejects any part containing '..'")
    case("backslash", "vk/ssn/a\\b", INV, INV, INV, INV)
    case("lone dot part", "vk/./obj", INV, INV, INV, INV, rust={"put": OK, "patch": NF, "get": NF, "delete": OK})
    case("lone dot object", "vk/ssn/.", INV, INV, INV, INV, rust={"put": OK, "patch": NF, "get": NF, "delete": OK})
    case("colon in object", "vk/ssn/a:b", INV, INV, INV, INV, rust={"put": OK, "patch": NF, "delete": OK},
         note="the Rust server stores it but can never serve it (ticket split at the first ':')")
    case("colon in app", "vk:1/ssn/obj", INV, INV, INV, INV, rust={"put": OK, "patch": NF, "delete": OK})
    case("NUL", "vk/ssn/a\x00b", INV, INV, INV, INV, rust={"put": OK, "patch": NF, "get": NF, "delete": OK})
    case("newline", "vk/ssn/a\nb", INV, INV, INV, INV, rust={"put": OK, "patch": NF, "get": NF, "delete": OK})
    case("tab", "vk/s\tsn/obj", INV, INV, INV, INV, rust={"put": OK, "patch": NF, "get": NF, "delete": OK})
    case("DEL", "vk/ssn/a\x7fb", INV, INV, INV, INV, rust={"put": OK, "patch": NF, "get": NF, "delete": OK})
    case("escape", "vk/ssn/\x1b[31m", INV, INV, INV, INV, rust={"put": OK, "patch": NF, "get": NF, "delete": OK})
    case("part of 201 bytes", f"vk/ssn/{p256}", INV, INV, INV, INV, rust={"put": "INTERNAL", "patch": NF, "get": NF, "delete": OK},
         note="Rust: no limit, but a file name over 255 bytes fails on disk")
    case("unicode part of 201 bytes", f"vk/ssn/{u256}", INV, INV, INV, INV, rust={"put": "INTERNAL", "patch": NF, "get": NF, "delete": OK})
    case("app wildcard", "*/ssn", INV, INV, INV, INV)
    case("object wildcard", "vk/ssn/*", INV, INV, INV, INV, also={"get": [NF], "patch": [NF]}, rust={"patch": NF, "get": NF})
    case("wildcard session with object", "vk/*/obj", INV, INV, INV, INV, also={"get": [NF], "patch": [NF]}, rust={"patch": NF, "get": NF})
    case("invalid UTF-8", b"vk/ssn/\xff\xfe", INV, INV, INV, INV, also={"put": ["UNKNOWN", "INTERNAL"]},
         note="FlightDescriptor.path is a protobuf `string`: invalid UTF-8 there is a malformed request, and a C++/grpc "
         "server already fails it while parsing (UNKNOWN); CMD, ticket and action body are `bytes`")
    return cases


def keys_json():
    cases = _key_cases()
    # a key longer than 1024 bytes whose parts are each <= 200 bytes cannot have 3 parts
    # (3 x 200 + 2 = 602), so the whole-key limit is only reachable through the byte limit of
    # parts or through the 1-part legacy form; document that explicitly.
    cases.append(
        OrderedDict(
            name="legacy one-part key over 1024 bytes",
            key="L" * 1025,
            put=INV,
            patch=INV,
            get=INV,
            delete=INV,
            note="a 1025-byte part breaks both the 200-byte part limit and the 1024-byte key limit",
        )
    )
    doc = OrderedDict(
        format="flame-cache key vectors v1",
        generated_by="tests/interop/make_vectors.py",
        reference="shared/reference/flame-protocol.md §3.1 (+ stricter rules below)",
        rules=KEY_RULES,
        ops=OPS,
        statuses="gRPC status names; 'OK' = success. 'also_accepted' lists other statuses a compatible server may return "
        "for that op. 'rust_head' gives the Rust server's (HEAD) result where it differs. Keys are 'key' (UTF-8 string, "
        "JSON escapes for control characters) or 'key_b64' (raw bytes, not valid UTF-8).",
        cases=cases,
    )
    return (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode()


TICKET_OBJECT = "vt/ssn/obj"


def tickets_json():
    k = TICKET_OBJECT
    cases = []

    def case(name, ticket, expect, note="", also=None, rust=None):
        c = OrderedDict(name=name)
        if isinstance(ticket, bytes):
            c["ticket_b64"] = base64.b64encode(ticket).decode()
        else:
            c["ticket"] = ticket
        c["expect"] = expect
        if also:
            c["also_accepted"] = also
        if rust:
            c["rust_head"] = rust
        if note:
            c["note"] = note
        cases.append(c)

    case("no version (legacy)", k, {"rows": [[1, "base"], [2, "patch"], [3, "patch"]]})
    case("version 0 = full", f"{k}:0", {"rows": [[1, "base"], [2, "patch"], [3, "patch"]]})
    case("older version 1 = patch-only", f"{k}:1", {"rows": [[2, "patch"], [3, "patch"]]})
    case("older version 2 = patch-only", f"{k}:2", {"rows": [[3, "patch"]]})
    case("current version = not modified", f"{k}:3", {"rows": []}, note="schema-only reply, read schema, zero batches")
    case("ahead of server = full", f"{k}:4", {"rows": [[1, "base"], [2, "patch"], [3, "patch"]]})
    case("u64 max = full", f"{k}:18446744073709551615", {"rows": [[1, "base"], [2, "patch"], [3, "patch"]]})
    case("u64 overflow", f"{k}:18446744073709551616", INV)
    case("not a number", f"{k}:abc", INV)
    case("empty version", f"{k}:", INV)
    case("negative", f"{k}:-1", INV)
    case("decimal point", f"{k}:1.0", INV)
    case("hex", f"{k}:0x1", INV)
    case("leading space", f"{k}: 1", INV)
    case("trailing space", f"{k}:1 ", INV)
    case("second colon", f"{k}:1:2", INV, note="split at the first ':' -> version '1:2'")
    case("missing object", "vt/ssn/missing:0", NF)
    case("missing object, no version", "vt/ssn/missing", NF)
    case("two-part key (legacy lookup)", "vt/ssn:0", NF, rust=INV)
    case("four parts", f"{k}/x:0", INV)
    case("empty ticket", "", INV)
    case("only version", ":0", INV)
    case("dotdot", "vt/../obj:0", INV)
    case("backslash", "vt/ssn/o\\bj:0", INV)
    case("empty part", "vt//obj:0", INV)
    case("control character", "vt/ssn/o\x00bj:0", INV, rust=NF)
    case("lone dot", "vt/./obj:0", INV, rust=NF)
    case("wildcard session", "vt/*/obj:0", INV, also=[NF], rust=NF)
    case("invalid UTF-8", b"vt/ssn/\xff:0", INV)
    doc = OrderedDict(
        format="flame-cache ticket vectors v1",
        generated_by="tests/interop/make_vectors.py",
        reference="shared/reference/flame-protocol.md §2.3",
        setup=[
            f"DoPut PATH ['{k}'] one opaque row data=b'base'      -> version 1",
            f"DoPut CMD 'PATCH:{k}' one opaque row data=b'p2'     -> version 2",
            f"DoPut CMD 'PATCH:{k}' one opaque row data=b'p3'     -> version 3",
        ],
        expect="{'rows': [[version, kind], ...]} = rows of the reply (read schema version/kind/data) in order; "
        "a string = gRPC status name of the error",
        object_key=k,
        cases=cases,
    )
    return (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode()


def all_files():
    files = {}
    files.update(objectref_files())
    files.update(ipc_files())
    files["keys.json"] = keys_json()
    files["tickets.json"] = tickets_json()
    return files


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="only compare with the files on disk")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    files = all_files()
    changed = []
    for name, data in files.items():
        path = args.out / name
        old = path.read_bytes() if path.exists() else None
        if old != data:
            changed.append(name)
            if not args.check:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
    if args.check:
        if changed:
            print("out of date: " + ", ".join(changed), file=sys.stderr)
            return 1
        print(f"{len(files)} vector files up to date in {args.out}")
        return 0
    print(f"wrote {len(changed)} of {len(files)} files in {args.out}" + (": " + ", ".join(changed) if changed else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
