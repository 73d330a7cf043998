"""Raw TCP loopback throughput between two processes: the limit any Flight server on this machine
works against.

  python tcp_limit.py [--bytes N] [--runs R] [--chunk BYTES]

Starts a receiver process, then (in this process) connects and sends N bytes R times over one
connection each, with TCP_NODELAY and large socket buffers; the receiver `recv_into`s a reused
buffer and acknowledges each run with one byte. Time per run = first send until the ack arrived.
Prints one JSON object on stdout: MiB/s per run, median, sender/receiver CPU seconds.
"""
import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time

BUF = 4 * 1024 * 1024


def tune(sock):
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def receiver(port_out: bool):
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    print(srv.getsockname()[1], flush=True)
    conn, _ = srv.accept()
    tune(conn)
    buf = bytearray(BUF)
    view = memoryview(buf)
    hdr = conn.recv(16)
    total, runs = int.from_bytes(hdr[:8], "little"), int.from_bytes(hdr[8:16], "little")
    for _ in range(runs):
        got = 0
        while got < total:
            n = conn.recv_into(view, min(BUF, total - got))
            if n == 0:
                raise SystemExit("sender closed early")
            got += n
        conn.sendall(b"k")
    t = os.times()
    conn.sendall(json.dumps({"cpu_s": t.user + t.system}).encode())
    conn.close()


def sender(total: int, runs: int, chunk: int) -> dict:
    p = subprocess.Popen([sys.executable, __file__, "--receiver"], stdout=subprocess.PIPE, text=True)
    port = int(p.stdout.readline())
    sock = socket.create_connection(("127.0.0.1", port))
    tune(sock)
    data = memoryview(os.urandom(chunk))
    sock.sendall(total.to_bytes(8, "little") + runs.to_bytes(8, "little"))
    times = []
    c0 = os.times()
    for _ in range(runs):
        t0 = time.perf_counter()
        left = total
        while left > 0:
            n = min(left, chunk)
            sock.sendall(data[:n])
            left -= n
        if sock.recv(1) != b"k":
            raise SystemExit("no ack")
        times.append(time.perf_counter() - t0)
    c1 = os.times()
    rest = b""
    while True:
        b = sock.recv(4096)
        if not b:
            break
        rest += b
    p.wait()
    rates = [total / 2**20 / t for t in times]
    return {
        "method": "python socket sender/receiver processes, loopback, TCP_NODELAY, "
                  f"{chunk // 2**20} MiB sendall / recv_into",
        "bytes": total,
        "runs": runs,
        "mib_s": rates,
        "median_mib_s": statistics.median(rates),
        "best_mib_s": max(rates),
        "sender_cpu_s": (c1.user + c1.system) - (c0.user + c0.system),
        "receiver_cpu_s": json.loads(rest.decode())["cpu_s"] if rest else None,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--receiver", action="store_true")
    ap.add_argument("--bytes", type=int, default=2**30)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--chunk", type=int, default=BUF)
    a = ap.parse_args()
    if a.receiver:
        receiver(True)
        return
    json.dump(sender(a.bytes, a.runs, a.chunk), sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
