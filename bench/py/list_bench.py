"""ListFlights latency with pyarrow's FlightClient, for the scale section (bench/scale.ts).

  python list_bench.py --address HOST:PORT --prefix bench/s0001/ [--reps 5]

Lists `prefix` `reps` times (after one untimed listing) and prints one JSON object: the number of hits,
the median and all times in ms, and the client's CPU ms per listing.
"""
import argparse
import json
import sys
import time

import pyarrow.flight as fl


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--address", required=True)
    ap.add_argument("--prefix", default="")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    a = ap.parse_args()
    client = fl.FlightClient(f"grpc://{a.address}")
    crit = a.prefix.encode()
    for _ in range(a.warmup):
        sum(1 for _ in client.list_flights(crit))
    times = []
    hits = 0
    cpu0 = time.process_time()
    for _ in range(a.reps):
        t = time.perf_counter()
        hits = sum(1 for _ in client.list_flights(crit))
        times.append((time.perf_counter() - t) * 1000)
    cpu = (time.process_time() - cpu0) * 1000 / max(1, a.reps)
    times_sorted = sorted(times)
    json.dump({"client": f"pyarrow {fl.__name__}", "prefix": a.prefix, "hits": hits, "ms": times,
               "median_ms": times_sorted[len(times) // 2], "client_cpu_ms": cpu}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
