"""The storage device's durable-write limits, in the folder the benchmark's stores use.

  python disk_limit.py DIR [--bytes N] [--runs R] [--small 300]

- large: write N bytes in 4 MiB pieces to a new file, then fdatasync (the least a durable PUT of N
  bytes costs); reports write time, sync time and MiB/s, R times.
- small: a 1 KiB crash-safe write as flame-cache's fs engine does it (temp file, write,
  fdatasync, rename, fsync of the folder), SMALL times: the floor of one durable small PUT.
Prints one JSON object on stdout.
"""
import argparse
import json
import os
import statistics
import sys
import time

CHUNK = 4 * 1024 * 1024


def large(d: str, total: int, runs: int) -> dict:
    data = memoryview(os.urandom(CHUNK))
    out = []
    for i in range(runs):
        path = os.path.join(d, f"disk-limit-{i}.bin")
        t0 = time.perf_counter()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        left = total
        while left > 0:
            n = min(left, CHUNK)
            os.write(fd, data[:n])
            left -= n
        t1 = time.perf_counter()
        os.fdatasync(fd)
        t2 = time.perf_counter()
        os.close(fd)
        os.unlink(path)
        out.append({"write_s": t1 - t0, "sync_s": t2 - t1, "mib_s": total / 2**20 / (t2 - t0)})
    return {"bytes": total, "runs": out, "median_mib_s": statistics.median(r["mib_s"] for r in out),
            "median_write_only_mib_s": statistics.median(total / 2**20 / r["write_s"] for r in out)}


def small(d: str, n: int) -> dict:
    payload = os.urandom(1024)
    sub = os.path.join(d, "disk-limit-small")
    os.makedirs(sub, exist_ok=True)
    lat = []
    for i in range(n):
        t0 = time.perf_counter()
        tmp = os.path.join(sub, f".o{i}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        os.write(fd, payload)
        os.fdatasync(fd)
        os.close(fd)
        os.rename(tmp, os.path.join(sub, f"o{i}.arrow"))
        dfd = os.open(sub, os.O_RDONLY)
        os.fsync(dfd)
        os.close(dfd)
        lat.append(time.perf_counter() - t0)
    for name in os.listdir(sub):
        os.unlink(os.path.join(sub, name))
    os.rmdir(sub)
    lat.sort()
    return {"ops": n, "p50_ms": lat[n // 2] * 1e3, "p99_ms": lat[min(n - 1, int(n * 0.99))] * 1e3,
            "ops_s_c1": n / sum(lat)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--bytes", type=int, default=256 * 2**20)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--small", type=int, default=300)
    a = ap.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    out = {"dir": a.dir, "large": large(a.dir, a.bytes, a.runs), "small": small(a.dir, a.small)}
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
