"""Abusive connections from Python: grpcio (C-core) and pyarrow.flight.

Each connection is a fresh channel/client: a call then close, or a big DoGet
cancelled after the first message, or a pyarrow reader dropped mid-stream.
Run with the interop virtualenv (.venv/bin/python: pyarrow, grpcio).

Usage: python abuse_clients.py PORT COUNT THREADS BIG_KEY
Prints one JSON line: {"total", "ms", "kinds": {kind: {"ok", "failed", "errors"}}}
"""

import json
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import grpc
import pyarrow.flight as flight

PORT, COUNT, THREADS = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
BIG_KEY = sys.argv[4] if len(sys.argv) > 4 else "ab/s/big"
TARGET = f"127.0.0.1:{PORT}"
FLIGHT = "/arrow.flight.protocol.FlightService/"
OPTS = [
    ("grpc.max_receive_message_length", -1),
    ("grpc.max_send_message_length", -1),
    ("grpc.use_local_subchannel_pool", 1),
]


def ticket(key: str) -> bytes:
    k = key.encode()
    return bytes([0x0A, len(k)]) + k


def grpcio_call_close():
    with grpc.insecure_channel(TARGET, options=OPTS) as ch:
        call = ch.unary_stream(FLIGHT + "ListActions")(b"", timeout=5)
        for _ in call:
            pass


def grpcio_cancel_get():
    with grpc.insecure_channel(TARGET, options=OPTS) as ch:
        call = ch.unary_stream(FLIGHT + "DoGet")(ticket(BIG_KEY), timeout=5)
        for _ in call:
            call.cancel()
            break
        try:
            for _ in call:
                pass
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.CANCELLED:
                raise


def grpcio_deadline_get():
    # A deadline far too short for the big object: DEADLINE_EXCEEDED, nothing else.
    with grpc.insecure_channel(TARGET, options=OPTS) as ch:
        try:
            for _ in ch.unary_stream(FLIGHT + "DoGet")(ticket(BIG_KEY), timeout=0.002):
                pass
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.DEADLINE_EXCEEDED:
                raise


def pyarrow_call_close():
    client = flight.FlightClient(f"grpc://{TARGET}")
    try:
        list(client.list_actions(flight.FlightCallOptions(timeout=5)))
    finally:
        client.close()


def pyarrow_drop_reader():
    client = flight.FlightClient(f"grpc://{TARGET}")
    try:
        reader = client.do_get(flight.Ticket(BIG_KEY.encode()), flight.FlightCallOptions(timeout=5))
        reader.read_chunk()
        reader.cancel()
    finally:
        client.close()


KINDS = {
    "grpcio-call-close": grpcio_call_close,
    "grpcio-cancel-get": grpcio_cancel_get,
    "grpcio-deadline-get": grpcio_deadline_get,
    "pyarrow-call-close": pyarrow_call_close,
    "pyarrow-drop-reader": pyarrow_drop_reader,
}
names = list(KINDS)
stats = {k: {"ok": 0, "failed": 0, "errors": []} for k in names}
lock = threading.Lock()


def one(i: int):
    kind = names[i % len(names)]
    try:
        KINDS[kind]()
        ok, err = True, None
    except Exception as e:  # noqa: BLE001 - every failure is counted and reported
        ok, err = False, f"{type(e).__name__}: {e}"[:300]
    with lock:
        s = stats[kind]
        if ok:
            s["ok"] += 1
        else:
            s["failed"] += 1
            if len(s["errors"]) < 3:
                s["errors"].append(err)


started = time.monotonic()
with ThreadPoolExecutor(THREADS) as pool:
    list(pool.map(one, range(COUNT)))
print(json.dumps({"total": COUNT, "ms": int((time.monotonic() - started) * 1000), "kinds": stats}))
