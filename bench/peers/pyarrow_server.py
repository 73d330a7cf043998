"""A minimal in-memory Flame-compatible Flight cache built on pyarrow (Arrow C++ Flight core).

It is the *peer* of flame-cache in the benchmark: the same put/get wire contract
(flame-protocol.md section 2), no storage, no eviction, no deltas.

- do_put: key from descriptor path[0] (2 parts -> + uuid4, 3 parts -> as is); the payload is the
  concatenated `data` column of every received batch (zero-copy when there is one row); replies
  with one PutResult whose app_metadata is the BSON ObjectRef {endpoint, key, version int64}.
- do_get: ticket "<key>:<version>" -> {version uint64, kind utf8, data binary}, one base row,
  built around the stored buffer without copying it.

Usage: python pyarrow_server.py [--host 127.0.0.1] [--port 0]
Prints one JSON line on stderr: {"msg": "pyarrow peer started", "listen": "127.0.0.1:<port>"}.
"""
import argparse
import json
import sys
import threading
import uuid

import bson
import pyarrow as pa
import pyarrow.flight as flight

READ_SCHEMA = pa.schema([
    pa.field("version", pa.uint64(), nullable=False),
    pa.field("kind", pa.utf8(), nullable=False),
    pa.field("data", pa.binary(), nullable=False),
])


def _offsets(n: int) -> pa.Buffer:
    return pa.py_buffer(memoryview(bytearray((0).to_bytes(4, "little") + n.to_bytes(4, "little"))))


class PeerServer(flight.FlightServerBase):
    def __init__(self, location: str, endpoint: str):
        super().__init__(location)
        self._endpoint = endpoint
        self._lock = threading.Lock()
        # key -> (version, pa.Buffer)
        self._objects = {}

    def do_put(self, context, descriptor, reader, writer):
        if descriptor.descriptor_type != flight.DescriptorType.PATH or not descriptor.path:
            raise flight.FlightServerError("key must be provided in descriptor path")
        raw = descriptor.path[0]
        path = raw.decode() if isinstance(raw, bytes) else str(raw)
        parts = path.split("/")
        if len(parts) == 2:
            key = f"{path}/{uuid.uuid4()}"
        elif len(parts) == 3 and all(parts):
            key = path
        else:
            raise pa.ArrowInvalid(f"Invalid key '{path}'")
        chunks = []
        for chunk in reader:
            batch = chunk.data
            if batch is None or batch.num_rows == 0:
                continue
            col = batch.column(1)
            for i in range(len(col)):
                chunks.append(col[i].as_buffer())
        if not chunks:
            raise pa.ArrowInvalid("No data received")
        payload = chunks[0] if len(chunks) == 1 else pa.py_buffer(b"".join(c.to_pybytes() for c in chunks))
        with self._lock:
            old = self._objects.get(key)
            version = (old[0] + 1) if old else 1
            self._objects[key] = (version, payload)
        meta = bson.encode({"endpoint": self._endpoint, "key": key, "version": bson.Int64(version)})
        writer.write(pa.py_buffer(meta))

    def do_get(self, context, ticket):
        text = ticket.ticket.decode()
        key, _, _ver = text.partition(":")
        with self._lock:
            obj = self._objects.get(key)
        if obj is None:
            raise KeyError(f"object {key} not found")
        version, payload = obj
        data = pa.Array.from_buffers(pa.binary(), 1, [None, _offsets(payload.size), payload])
        batch = pa.record_batch([
            pa.array([version], pa.uint64()),
            pa.array(["base"], pa.utf8()),
            data,
        ], schema=READ_SCHEMA)
        return flight.RecordBatchStream(pa.Table.from_batches([batch], schema=READ_SCHEMA))

    def do_action(self, context, action):
        if action.type != "DELETE":
            raise pa.ArrowInvalid(f"Unknown action type: {action.type}")
        prefix = action.body.to_pybytes().decode()
        with self._lock:
            for k in [k for k in self._objects if k == prefix or k.startswith(prefix + "/")]:
                del self._objects[k]
        yield flight.Result(b"OK")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    server = PeerServer(f"grpc://{args.host}:{args.port}", "")
    server._endpoint = f"grpc://{args.host}:{server.port}"
    print(json.dumps({"msg": "pyarrow peer started", "listen": f"{args.host}:{server.port}",
                      "pyarrow": pa.__version__}), file=sys.stderr, flush=True)
    server.serve()


if __name__ == "__main__":
    main()
