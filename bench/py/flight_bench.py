"""pyarrow Flight client driver of the benchmark (what Flame's Python workers use).

  large  --address H:P --size BYTES --reps N [--warmup W] [--server-pid PID] [--key app/ssn/oid]
         [--ops put,get] [--probe-pids P1,P2,...]
         PUT then GET one object of SIZE bytes, REPS times each (after WARMUP untimed rounds).
         With --server-pid, samples the server's RSS (VmRSS, and VmHWM reset per phase through
         /proc/PID/clear_refs) and CPU time (/proc/PID/stat) around the phases. --probe-pids adds the
         CPU time of more processes (a cluster: replicas, the S3 service, the balancer) per phase.
  check  --address H:P --key K --size BYTES     (GET one object, check its size)
  paired --address A --address2 B --size BYTES --reps N   (PUTs alternating between two servers)
  small  --address H:P --size BYTES --concurrency C --seconds S --mode put|get|mixed|update
         [--procs P] [--objects N] [--server-pid PID] [--probe-pids P1,...] [--warm]
         C clients (P processes x C/P threads, one FlightClient per thread) in a closed loop for S
         seconds; reports ops/s and latency percentiles. --warm: each client reads every key once
         before the timed window (a cluster replica then holds local copies of the blobs, as it
         would for objects it serves often). --probe-pids: CPU time of those processes over the window.

Prints one JSON object on stdout.
"""
import argparse
import json
import multiprocessing as mp
import os
import random
import sys
import threading
import time

import bson
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.flight as flight

UPLOAD_SCHEMA = pa.schema([("version", pa.uint64()), ("data", pa.binary())])
GRPC_OPTIONS = [("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)]
CLK_TCK = os.sysconf("SC_CLK_TCK")


def connect(address: str) -> flight.FlightClient:
    return flight.FlightClient(f"grpc://{address}", generic_options=GRPC_OPTIONS)


def upload_batch(payload) -> pa.RecordBatch:
    """A one-row opaque batch whose data value is `payload` (no copy)."""
    buf = pa.py_buffer(payload)
    offsets = pa.py_buffer(np.array([0, buf.size], dtype=np.int32).tobytes())
    data = pa.Array.from_buffers(pa.binary(), 1, [None, offsets, buf])
    return pa.record_batch([pa.array([0], pa.uint64()), data], schema=UPLOAD_SCHEMA)


def put(client, path: str, batch: pa.RecordBatch) -> dict:
    writer, reader = client.do_put(flight.FlightDescriptor.for_path(path), UPLOAD_SCHEMA)
    writer.write_batch(batch)
    writer.done_writing()
    meta = reader.read()
    writer.close()
    return bson.decode(meta.to_pybytes())


def get(client, key: str, verify: bool = True) -> int:
    """DoGet `key:0` and read the whole reply; returns the payload bytes (rows when not `verify`)."""
    table = client.do_get(flight.Ticket(f"{key}:0".encode())).read_all()
    if not verify:
        return table.num_rows
    return pc.sum(pc.binary_length(table.column("data"))).as_py() or 0


# ---- server probes (Linux /proc) -------------------------------------------------------------

class Probe:
    def __init__(self, pid):
        self.pid = pid

    def status(self) -> dict:
        if not self.pid:
            return {}
        out = {}
        try:
            with open(f"/proc/{self.pid}/status") as f:
                for line in f:
                    if line.startswith(("VmRSS:", "VmHWM:")):
                        name, val = line.split(":", 1)
                        out[name] = int(val.split()[0]) * 1024
        except OSError:
            pass
        return out

    def reset_peak(self) -> bool:
        if not self.pid:
            return False
        try:
            with open(f"/proc/{self.pid}/clear_refs", "w") as f:
                f.write("5")
            return True
        except OSError:
            return False

    def cpu(self) -> float:
        """utime + stime of the server in seconds."""
        if not self.pid:
            return 0.0
        try:
            with open(f"/proc/{self.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / CLK_TCK
        except OSError:
            return 0.0


def probe_pids(arg: str) -> list:
    return [int(p) for p in arg.split(",") if p.strip()] if arg else []


def cpu_of(pids: list) -> dict:
    """utime + stime (seconds) of each pid, keyed by pid as a string (JSON)."""
    return {str(p): Probe(p).cpu() for p in pids}


def cpu_delta(before: dict, after: dict) -> dict:
    return {p: after[p] - before[p] for p in before}


def self_cpu() -> float:
    t = os.times()
    return t.user + t.system


# ---- large objects ---------------------------------------------------------------------------

def run_large(args) -> dict:
    probe = Probe(args.server_pid)
    client = connect(args.address)
    t0 = time.perf_counter()
    block = np.random.default_rng(42).integers(0, 256, min(args.size, 16 << 20), dtype=np.uint8)
    payload = np.resize(block, args.size)  # random 16 MiB block repeated (the server does not compress)
    gen_s = time.perf_counter() - t0
    batch = upload_batch(payload)
    key = args.key
    out = {"size": args.size, "reps": args.reps, "warmup": args.warmup, "payload_gen_s": gen_s}
    out["rss_baseline"] = probe.status().get("VmRSS")
    out["peak_reset_supported"] = probe.reset_peak()

    phases = {"put": [], "get": []}
    first = {}
    cpu = {"put": [0.0, 0.0], "get": [0.0, 0.0]}  # [server, client]
    pids = probe_pids(args.probe_pids)
    probed = {"put": {str(p): 0.0 for p in pids}, "get": {str(p): 0.0 for p in pids}}
    ops = [o for o in ("put", "get") if o in args.ops.split(",")]
    for rep in range(args.warmup + args.reps):
        timed = rep >= args.warmup
        for op in ops:
            probe.reset_peak()
            s0, c0, p0 = probe.cpu(), self_cpu(), cpu_of(pids)
            t0 = time.perf_counter()
            if op == "put":
                ref = put(client, key, batch)
                key = ref["key"]
            else:
                n = get(client, key)
                if n != args.size:
                    raise SystemExit(f"GET returned {n} bytes, expected {args.size}")
            dt = time.perf_counter() - t0
            s1, c1, p1 = probe.cpu(), self_cpu(), cpu_of(pids)
            st = probe.status()
            if rep == 0:
                first[op] = {"s": dt, "vm_hwm": st.get("VmHWM"), "vm_rss_after": st.get("VmRSS")}
            if timed:
                phases[op].append(dt)
                cpu[op][0] += s1 - s0
                cpu[op][1] += c1 - c0
                for p, d in cpu_delta(p0, p1).items():
                    probed[op][p] += d
    out["put_s"] = phases["put"]
    out["get_s"] = phases["get"]
    out["first"] = first
    out["server_cpu_s"] = {k: v[0] for k, v in cpu.items()}
    out["client_cpu_s"] = {k: v[1] for k, v in cpu.items()}
    if pids:
        out["probe_cpu_s"] = probed
    out["rss_end"] = probe.status().get("VmRSS")
    return out


def run_paired(args) -> dict:
    """PUTs alternating between two servers (A, B, A, B, ...) so that slow drifts of a shared machine
    hit both equally: for a small difference such as durable vs fsync-off writes."""
    ca, cb = connect(args.address), connect(args.address2)
    block = np.random.default_rng(42).integers(0, 256, min(args.size, 16 << 20), dtype=np.uint8)
    batch = upload_batch(np.resize(block, args.size))
    times = {"a": [], "b": []}
    for rep in range(args.warmup + args.reps):
        order = (("a", ca), ("b", cb)) if rep % 2 == 0 else (("b", cb), ("a", ca))
        for name, client in order:
            t0 = time.perf_counter()
            put(client, args.key, batch)
            if rep >= args.warmup:
                times[name].append(time.perf_counter() - t0)
    return {"size": args.size, "reps": args.reps, "warmup": args.warmup, "a_put_s": times["a"],
            "b_put_s": times["b"]}


# ---- small objects ---------------------------------------------------------------------------

OP_TIMEOUT = flight.FlightCallOptions(timeout=30)


def _worker_proc(args_dict, threads, keys, conn):
    """One client process: THREADS threads, each with its own FlightClient, released together."""
    args = argparse.Namespace(**args_dict)
    batch = upload_batch(np.random.default_rng(os.getpid()).bytes(args.size))
    results = [None] * threads
    ready = threading.Barrier(threads + 1)
    go = threading.Event()
    window = {}

    def loop(idx):
        client = connect(args.address)
        rnd = random.Random(idx * 7919 + os.getpid())
        lat = {"put": [], "get": [], "update": []}
        errors = 0
        try:
            for key in (keys if args.warm else keys[:1]):  # untimed: opens the connection (and warms)
                get(client, key, verify=False)
        except Exception:  # noqa: BLE001 - the timed loop will count errors
            pass
        ready.wait()
        go.wait()
        stop_at = window["stop_at"]
        while True:
            op = args.mode if args.mode != "mixed" else ("put" if rnd.random() < 0.5 else "get")
            if time.time() >= stop_at:
                break
            t0 = time.perf_counter()
            try:
                if op in ("put", "update"):
                    # update: a put naming an existing object (a new version of it), not a new id
                    path = args.prefix if op == "put" else keys[rnd.randrange(len(keys))]
                    writer, reader = client.do_put(flight.FlightDescriptor.for_path(path), UPLOAD_SCHEMA,
                                                   options=OP_TIMEOUT)
                    writer.write_batch(batch)
                    writer.done_writing()
                    reader.read()
                    writer.close()
                else:
                    key = keys[rnd.randrange(len(keys))]
                    table = client.do_get(flight.Ticket(f"{key}:0".encode()), options=OP_TIMEOUT).read_all()
                    if table.num_rows < 1:
                        raise RuntimeError("empty reply")
            except Exception:  # noqa: BLE001 - counted, reported
                errors += 1
                continue
            lat[op].append(time.perf_counter() - t0)
        results[idx] = (lat, errors)
        client.close()

    ts = [threading.Thread(target=loop, args=(i,), daemon=True) for i in range(threads)]
    for t in ts:
        t.start()
    ready.wait()
    conn.send("ready")
    start_at = conn.recv()
    window["stop_at"] = start_at + args.seconds
    while time.time() < start_at:
        time.sleep(0.0005)
    c0 = self_cpu()
    go.set()
    for t in ts:
        t.join()
    c1 = self_cpu()
    lat = {"put": [], "get": [], "update": []}
    errors = 0
    for r in results:
        if r is None:
            continue
        for k in lat:
            lat[k].extend(r[0][k])
        errors += r[1]
    conn.send((lat, errors, c1 - c0))
    conn.close()


def pct(xs, p):
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def run_small(args) -> dict:
    probe = Probe(args.server_pid)
    client = connect(args.address)
    batch = upload_batch(np.random.default_rng(1).bytes(args.size))
    keys = [put(client, args.prefix, batch)["key"] for _ in range(args.objects)]
    client.close()
    procs = max(1, min(args.procs, args.concurrency))
    per = [args.concurrency // procs + (1 if i < args.concurrency % procs else 0) for i in range(procs)]
    # "spawn", not "fork": gRPC is not fork-safe once this process has used a client (a forked
    # child hung in a run)
    ctx = mp.get_context("spawn")
    pipes, ps = [], []
    for n in per:
        a, b = ctx.Pipe(duplex=True)
        p = ctx.Process(target=_worker_proc, args=(vars(args), n, keys, b), daemon=True)
        p.start()
        pipes.append(a)
        ps.append(p)
    for a in pipes:
        if not a.poll(120) or a.recv() != "ready":
            raise SystemExit("a client process did not get ready")
    start_at = time.time() + 0.05
    for a in pipes:
        a.send(start_at)
    while time.time() < start_at:
        time.sleep(0.0005)
    probe.reset_peak()
    pids = probe_pids(args.probe_pids)
    s0, p0 = probe.cpu(), cpu_of(pids)
    t0 = time.perf_counter()
    lat = {"put": [], "get": [], "update": []}
    errors = 0
    client_cpu = 0.0
    for a in pipes:
        if not a.poll(args.seconds + 120):
            raise SystemExit("a client process did not report")
        l, e, c = a.recv()
        for k in lat:
            lat[k].extend(l[k])
        errors += e
        client_cpu += c
    elapsed = time.perf_counter() - t0
    s1, p1 = probe.cpu(), cpu_of(pids)
    for p in ps:
        p.join(10)
    st = probe.status()
    out = {
        "size": args.size, "concurrency": args.concurrency, "procs": procs, "mode": args.mode,
        "seconds": elapsed, "errors": errors, "server_cpu_s": s1 - s0, "client_cpu_s": client_cpu,
        "vm_hwm": st.get("VmHWM"), "vm_rss": st.get("VmRSS"),
    }
    if pids:
        out["probe_cpu_s"] = cpu_delta(p0, p1)
    total = 0
    for k in ("put", "get", "update"):
        xs = lat[k]
        total += len(xs)
        if xs:
            out[k] = {"ops": len(xs), "ops_s": len(xs) / elapsed, "p50_ms": pct(xs, 50) * 1e3,
                      "p99_ms": pct(xs, 99) * 1e3, "mean_ms": sum(xs) / len(xs) * 1e3}
    out["ops"] = total
    out["ops_s"] = total / elapsed
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["large", "small", "check", "paired"])
    ap.add_argument("--address2", help="paired: the second server")
    ap.add_argument("--address", required=True)
    ap.add_argument("--size", type=int, required=True)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--server-pid", type=int, default=0)
    ap.add_argument("--key", default="bench/s/obj")
    ap.add_argument("--ops", default="put,get", help="large: put,get | put | get (get needs --key to exist)")
    ap.add_argument("--prefix", default="bench/s")
    ap.add_argument("--concurrency", type=int, default=1)
    ap.add_argument("--procs", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--objects", type=int, default=200)
    ap.add_argument("--mode", choices=["put", "get", "mixed", "update"], default="get")
    ap.add_argument("--probe-pids", default="", help="comma-separated pids whose CPU time is reported too")
    ap.add_argument("--warm", action="store_true", help="small: every client reads every key once first")
    args = ap.parse_args()
    if args.what == "check":
        t0 = time.perf_counter()
        n = get(connect(args.address), args.key)
        out = {"key": args.key, "bytes": n, "ok": n == args.size, "ms": (time.perf_counter() - t0) * 1e3}
    elif args.what == "paired":
        out = run_paired(args)
    else:
        out = run_large(args) if args.what == "large" else run_small(args)
    out["client"] = f"pyarrow {pa.__version__} FlightClient"
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
