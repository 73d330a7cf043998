"""Write a flame-cache storage folder of N opaque objects in Flame's DiskStorage layout, for the
start-up benchmark: {root}/{app}/{session}/{object}.arrow, each an Arrow IPC *file* (uncompressed,
as flamepy's local-storage put writes them) holding one row {version: uint64 = 1, data: binary}.

  python make_store.py ROOT [--objects 100000] [--per-session 1000] [--payload 1024]

Every file has the same bytes (the key is only in the path), so writing is fast.
Prints one JSON object on stdout.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import pyarrow as pa

SCHEMA = pa.schema([pa.field("version", pa.uint64(), nullable=False),
                    pa.field("data", pa.binary(), nullable=False)])


def file_bytes(payload: int) -> bytes:
    data = np.random.default_rng(7).bytes(payload)
    batch = pa.record_batch([pa.array([1], pa.uint64()), pa.array([data], pa.binary())], schema=SCHEMA)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, SCHEMA) as w:
        w.write_batch(batch)
    return sink.getvalue().to_pybytes()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("root")
    ap.add_argument("--objects", type=int, default=100_000)
    ap.add_argument("--per-session", type=int, default=1000)
    ap.add_argument("--payload", type=int, default=1024)
    ap.add_argument("--app", default="bench")
    a = ap.parse_args()
    t0 = time.perf_counter()
    blob = file_bytes(a.payload)
    d = None
    for i in range(a.objects):
        sd = os.path.join(a.root, a.app, f"s{i // a.per_session:04d}")
        if sd != d:
            os.makedirs(sd, exist_ok=True)
            d = sd
        fd = os.open(os.path.join(sd, f"o{i:06d}.arrow"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.write(fd, blob)
        os.close(fd)
    json.dump({"root": a.root, "objects": a.objects, "sessions": -(-a.objects // a.per_session),
               "file_bytes": len(blob), "payload": a.payload, "seconds": time.perf_counter() - t0,
               "sample_key": f"{a.app}/s0000/o000000"}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
