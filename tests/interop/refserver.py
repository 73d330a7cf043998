#!/usr/bin/env python3
"""Executable model of the contract this suite asserts (pyarrow FlightServerBase).

NOT the product and not a second implementation to maintain: it exists so the interop suite can
be validated on its own (a failing test here is a bug in the test or in this model, never in
flame-cache). Run the suite against it with:

    INTEROP_SERVER_CMD='.venv/bin/python tests/interop/refserver.py --listen {listen} --storage {storage} {extra}' \
        scripts/interop.sh

Implements shared/reference/flame-protocol.md §2-§4 (HEAD) plus the choices encoded in
tests/vectors/keys.json (stricter keys, legacy seed forms, INVALID_ARGUMENT for put to app/*,
list_flights criteria = key prefix, FlightInfo totals). Disk storage: ZSTD IPC files in the Rust
layout; memory only for legacy 2-part keys.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import signal
import sys
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

import bson
import pyarrow as pa
import pyarrow.flight as flight
from bson.int64 import Int64
from bson.son import SON

READ_SCHEMA = pa.schema(
    [pa.field("version", pa.uint64(), False), pa.field("kind", pa.utf8(), False), pa.field("data", pa.binary(), False)]
)
RUST_OPAQUE = pa.schema([pa.field("version", pa.uint64(), False), pa.field("data", pa.binary(), False)])
FMT, VER = b"flame.cache.format", b"flame.cache.version"
CTRL = re.compile(r"[\x00-\x1f\x7f]")


def invalid(msg):
    return pa.ArrowInvalid(msg)


def check_part(p: str, allow_star=False):
    if not p or ".." in p or "\\" in p or ":" in p or p.startswith(".") or p.endswith(".deltas") or CTRL.search(p):
        raise invalid(f"Invalid key component: '{p}'")
    if len(p.encode()) > 200:
        raise invalid("key component longer than 200 bytes")
    if p == "*" and not allow_star:
        raise invalid("Wildcard '*' only allowed for session_id")


def decode(b: bytes, what="key") -> str:
    try:
        s = b.decode("utf-8")
    except UnicodeDecodeError:
        raise invalid(f"Invalid {what}: not UTF-8")
    if len(s.encode()) > 1024:
        raise invalid("key longer than 1024 bytes")
    return s


def parse_path(s: str, *, legacy_one=False, allow_wild=False):
    """-> (parts, is_full_key). 1 part (legacy session), 2 parts (prefix), 3 parts (key)."""
    parts = s.split("/")
    if len(parts) == 1 and legacy_one:
        check_part(parts[0])
        return parts, False
    if len(parts) not in (2, 3):
        raise invalid(f"Invalid path '{s}': expected '<app>/<ssn>' or '<app>/<ssn>/<uuid>'")
    for i, p in enumerate(parts):
        check_part(p, allow_star=(i == 1 and len(parts) == 2 and allow_wild))
    return parts, len(parts) == 3


def parse_key(s: str, legacy_two=False) -> str:
    parts = s.split("/")
    if len(parts) == 2 and legacy_two:
        for p in parts:
            check_part(p)
        return s
    if len(parts) != 3:
        raise invalid(f"Invalid key '{s}': expected '<app>/<ssn>/<uuid>'")
    for p in parts:
        check_part(p)
    return s


@dataclass
class Obj:
    version: int
    data: Optional[bytes] = None  # opaque
    table: Optional[pa.Table] = None  # native
    deltas: List[tuple] = field(default_factory=list)  # [(version, bytes)]

    def current(self):
        return max([self.version] + [v for v, _ in self.deltas])

    def size(self):
        if self.table is not None:
            return self.table.nbytes
        return len(self.data) + sum(len(d) for _, d in self.deltas)

    def records(self):
        return self.table.num_rows if self.table is not None else 1 + len(self.deltas)


class Store:
    def __init__(self, root: Optional[Path]):
        self.root = root
        self.objs: Dict[str, Obj] = {}
        self.tombstones: Dict[str, int] = {}  # deleted key -> last version (versions never go back)
        self.lock = threading.RLock()
        if root:
            root.mkdir(parents=True, exist_ok=True)
            for app in sorted(p for p in root.iterdir() if p.is_dir()):
                for ssn in sorted(p for p in app.iterdir() if p.is_dir()):
                    for f in sorted(ssn.iterdir()):
                        if f.is_file() and f.suffix == ".arrow":
                            key = f"{app.name}/{ssn.name}/{f.name[:-6]}"
                            self.objs[key] = self._load(key)

    def _path(self, key):
        return self.root / f"{key}.arrow" if self.root and key.count("/") == 2 else None

    def _load(self, key) -> Obj:
        p = self._path(key)
        with pa.ipc.open_file(p) as r:
            t = r.read_all()
        meta = t.schema.metadata or {}
        if meta.get(FMT) == b"arrow-table-v1":
            o = Obj(int(meta.get(VER, b"0")), table=t)
        else:
            o = Obj(t.column(0)[0].as_py(), data=t.column(1)[0].as_py())
        dd = Path(str(p)[:-6] + ".deltas")
        if dd.is_dir():
            files = sorted((f for f in dd.iterdir() if f.suffix == ".arrow"), key=lambda f: int(f.stem))
            for i, f in enumerate(files):
                with pa.ipc.open_file(f) as r:
                    d = r.read_all()
                v = d.column(0)[0].as_py() or (o.version + i + 1)
                o.deltas.append((v, d.column(1)[0].as_py()))
        return o

    def get(self, key) -> Optional[Obj]:
        o = self.objs.get(key)
        if o is None:
            p = self._path(key)
            if p is not None:
                try:
                    if p.is_file():
                        o = self.objs[key] = self._load(key)
                except OSError:
                    return None
        return o

    def _write(self, key, o: Obj, delta_index=None):
        p = self._path(key)
        if p is None:
            return
        opts = pa.ipc.IpcWriteOptions(compression="zstd")
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            if delta_index is None:
                if o.table is not None:
                    t = o.table
                    schema, batches = t.schema, t.to_batches()
                else:
                    schema = RUST_OPAQUE
                    batches = [pa.record_batch([pa.array([o.version], pa.uint64()), pa.array([o.data], pa.binary())], schema=schema)]
                with pa.ipc.new_file(str(p), schema, options=opts) as w:
                    for b in batches:
                        w.write_batch(b)
                dd = Path(str(p)[:-6] + ".deltas")
                if dd.exists():
                    import shutil

                    shutil.rmtree(dd)
            else:
                v, d = o.deltas[-1]
                dd = Path(str(p)[:-6] + ".deltas")
                dd.mkdir(exist_ok=True)
                b = pa.record_batch([pa.array([v], pa.uint64()), pa.array([d], pa.binary())], schema=RUST_OPAQUE)
                with pa.ipc.new_file(str(dd / f"{delta_index}.arrow"), RUST_OPAQUE, options=opts) as w:
                    w.write_batch(b)
        except OSError:
            pass  # e.g. file name too long: memory only in this model

    def put(self, key, data=None, table=None) -> int:
        with self.lock:
            old = self.get(key)
            v = (old.current() if old else self.tombstones.pop(key, 0)) + 1
            if table is not None:
                md = dict(table.schema.metadata or {})
                md[VER] = str(v).encode()
                table = table.replace_schema_metadata(md)
            o = Obj(v, data=data, table=table)
            self.objs[key] = o
            self._write(key, o)
            return v

    def patch(self, key, data) -> int:
        with self.lock:
            o = self.get(key)
            if o is None:
                raise KeyError(f"object {key} not found for patch")
            v = o.current() + 1
            o.deltas.append((v, data))
            self._write(key, o, delta_index=len(o.deltas) - 1)
            return v

    def delete(self, parts):
        import shutil

        with self.lock:
            if len(parts) == 2 and parts[1] == "*":
                pre = parts[0] + "/"
                match = lambda k: k.startswith(pre)  # noqa: E731
                d = self.root / parts[0] if self.root else None
            else:
                full = "/".join(parts)
                match = lambda k: k == full or k.startswith(full + "/")  # noqa: E731
                d = None
            for k in [k for k in self.objs if match(k)]:
                self.tombstones[k] = self.objs.pop(k).current()
                p = self._path(k)
                if p is not None:
                    p.unlink(missing_ok=True)
                    shutil.rmtree(str(p)[:-6] + ".deltas", ignore_errors=True)
            if d is not None:
                shutil.rmtree(d, ignore_errors=True)


def rows_table(rows):
    batches = [
        pa.record_batch([pa.array([v], pa.uint64()), pa.array([k], pa.utf8()), pa.array([d], pa.binary())], schema=READ_SCHEMA)
        for v, k, d in rows
    ]
    return pa.Table.from_batches(batches, schema=READ_SCHEMA)


class NoHandshake(flight.ServerAuthHandler):
    def authenticate(self, outgoing, incoming):
        raise NotImplementedError("Handshake not implemented")

    def is_valid(self, token):
        return ""


class Server(flight.FlightServerBase):
    def __init__(self, location, endpoint, store: Store):
        super().__init__(location, auth_handler=NoHandshake())
        self.endpoint = endpoint
        self.store = store

    def _ref(self, key, version):
        return pa.py_buffer(bson.encode(SON([("endpoint", self.endpoint), ("key", key), ("version", Int64(version))])))

    def do_put(self, context, descriptor, reader, writer):
        chunks = []
        while True:
            try:
                c = reader.read_chunk()
            except StopIteration:
                break
            if c.data is not None:
                chunks.append(c.data)
        schema = reader.schema
        patch = False
        if descriptor.descriptor_type == flight.DescriptorType.PATH and descriptor.path:
            key = decode(descriptor.path[0])
        else:
            cmd = descriptor.command or b""
            if cmd.startswith(b"PATCH:"):
                patch, key = True, decode(cmd[6:])
            else:
                raise invalid("key must be provided in descriptor path or command")
        if not chunks:
            raise invalid("No data received")
        native = (schema.metadata or {}).get(FMT) == b"arrow-table-v1"
        if patch:
            parse_key(key)
        else:
            parts, full = parse_path(key, legacy_one=True)
            if not full:
                key = key + "/" + str(uuid.uuid4())
        if native and not patch:
            v = self.store.put(key, table=pa.Table.from_batches(chunks, schema=schema))
        else:
            if len(schema) < 2 or schema.field(0).type != pa.uint64() or schema.field(1).type != pa.binary():
                raise invalid("Invalid version/data column")
            n = sum(b.num_rows for b in chunks)
            if n == 0:
                raise invalid("Expected at least one row")
            data = b"".join(d for b in chunks for d in b.column(1).to_pylist())
            v = self.store.patch(key, data) if patch else self.store.put(key, data=data)
        writer.write(self._ref(key, v))

    def do_get(self, context, ticket):
        t = decode(ticket.ticket, "ticket")
        key, sep, ver = t.partition(":")
        if sep:
            if not re.fullmatch(r"[0-9]+", ver) or int(ver) >= 2**64:
                raise invalid(f"Invalid version: {ver}")
            c = int(ver)
        else:
            c = 0
        parse_key(key, legacy_two=True)
        with self.store.lock:
            o = self.store.get(key)
            if o is None:
                raise KeyError(f"object {key} not found")
            s = o.current()
            if c != 0 and c == s:
                return flight.RecordBatchStream(READ_SCHEMA.empty_table())
            if o.table is not None:
                return flight.RecordBatchStream(o.table)
            if c != 0 and c <= s and o.version <= c:
                newer = [(v, d) for v, d in o.deltas if v > c]
                if [v for v, _ in newer] == list(range(c + 1, s + 1)):
                    return flight.RecordBatchStream(rows_table([(v, "patch", d) for v, d in newer]))
            return flight.RecordBatchStream(rows_table([(o.version, "base", o.data)] + [(v, "patch", d) for v, d in o.deltas]))

    def do_action(self, context, action):
        body = action.body.to_pybytes()
        if action.type == "DELETE":
            parts, _ = parse_path(decode(body), legacy_one=True, allow_wild=True)
            self.store.delete(parts)
            return [b"OK"]
        if action.type in ("PUT", "UPDATE"):
            s = decode(body)
            target, sep, b64 = s.rpartition(":")
            if not sep:
                raise invalid("expected '<key>:<base64>'")
            try:
                data = base64.b64decode(b64, validate=True)
            except Exception:
                raise invalid("invalid base64")
            if action.type == "PUT":
                parse_path(target, legacy_one=True)
                key = f"{target}/{uuid.uuid4()}"
            else:
                key = parse_key(target, legacy_two=True)
            v = self.store.put(key, data=data)
            return [json.dumps({"endpoint": self.endpoint, "key": key, "version": v, "size": len(data)}).encode()]
        raise invalid(f"Unknown action type: {action.type}. Only DELETE is supported.")

    def list_actions(self, context):
        return [("DELETE", "Delete objects by key prefix"), ("PUT", "legacy"), ("UPDATE", "legacy")]

    def _info(self, key, o: Optional[Obj], descriptor=None):
        ep = flight.FlightEndpoint(key.encode(), [flight.Location(self.endpoint)])
        schema = o.table.schema if (o is not None and o.table is not None) else READ_SCHEMA
        return flight.FlightInfo(
            schema,
            descriptor or flight.FlightDescriptor.for_path(key),
            [ep],
            o.records() if o else -1,
            o.size() if o else -1,
        )

    def get_flight_info(self, context, descriptor):
        if descriptor.descriptor_type != flight.DescriptorType.PATH or not descriptor.path:
            raise invalid("Empty descriptor path")
        key = "/".join(decode(p) for p in descriptor.path)
        o = None
        try:
            parse_key(key)
            o = self.store.get(key)
        except pa.ArrowInvalid:
            pass
        return self._info(key, o, flight.FlightDescriptor.for_path(key))

    def list_flights(self, context, criteria):
        pre = (criteria or b"").decode()
        with self.store.lock:
            items = [(k, o) for k, o in self.store.objs.items() if k.startswith(pre)]
        for k, o in items:
            yield self._info(k, o)

    def get_schema(self, context, descriptor):
        return flight.SchemaResult(READ_SCHEMA)

    def do_exchange(self, context, descriptor, reader, writer):
        raise NotImplementedError("Do exchange not implemented")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", required=True)
    ap.add_argument("--endpoint")
    ap.add_argument("--storage", default="none")
    a, _ = ap.parse_known_args()
    endpoint = a.endpoint or f"grpc://{a.listen}"
    store = Store(None if a.storage == "none" else Path(a.storage))
    srv = Server(f"grpc://{a.listen}", endpoint, store)
    signal.signal(signal.SIGTERM, lambda *_: (srv.shutdown(), sys.exit(0)))
    print(f"refserver listening on {a.listen}, advertising {endpoint}", file=sys.stderr, flush=True)
    srv.serve()


if __name__ == "__main__":
    main()
