"""Regenerates tests/vectors/hpack_huffman.json: header blocks written by an
independent HPACK encoder (Python's `hpack` package), for tests/unit/h2_hpack_test.ts.

Regenerate (from the repository root; the output is committed so tests need no Python):

    python3 -m venv /tmp/hpackvenv
    /tmp/hpackvenv/bin/pip install hpack==4.2.0
    /tmp/hpackvenv/bin/python tests/vectors/make_hpack_vectors.py   # then runs `deno fmt` on the output

The blocks come from ONE encoder, in order, like one connection: the test must
decode them in sequence with one decoder (HpackDecoder(4096)), since the dynamic
table carries across blocks. They use Huffman coding (most blocks), raw strings
(some blocks), incremental indexing, never-indexed fields, references to the
dynamic table, evictions, entries larger than the whole table, and table size
updates (to 0, 256, 512, 1024, 4096). Values hold every byte value 0..255, so
every Huffman code appears. Names and values are written to JSON as latin1
strings (one char per byte). Each block is checked here with hpack's own decoder.
The output is deterministic for a given hpack version (fixed seed).
"""
import json
import os
import random
import subprocess

import hpack
from hpack import Decoder, Encoder, NeverIndexedHeaderTuple

SEED = 7541
BLOCKS = 300
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "hpack_huffman.json")

rng = random.Random(SEED)

GRPC_METHODS = ["DoGet", "DoPut", "DoAction", "GetFlightInfo", "ListFlights", "Handshake", "DoExchange"]
STATIC_NAMES = ["accept", "accept-encoding", "cache-control", "content-type", "content-length", "cookie",
                "date", "etag", "location", "set-cookie", "user-agent", "via", "www-authenticate"]


def token(n, alphabet="abcdefghijklmnopqrstuvwxyz0123456789-"):
    return "".join(rng.choice(alphabet) for _ in range(n)).encode("latin1")


def printable(n):
    return bytes(rng.randrange(0x20, 0x7f) for _ in range(n))


def any_bytes(n):
    return bytes(rng.randrange(256) for _ in range(n))


def grpc_request():
    headers = [
        (b":method", b"POST"),
        (b":scheme", rng.choice([b"http", b"https"])),
        (b":path", b"/arrow.flight.protocol.FlightService/" + rng.choice(GRPC_METHODS).encode()),
        (b":authority", b"127.0.0.1:%d" % rng.choice([9090, 50051, rng.randrange(1024, 65536)])),
        (b"content-type", b"application/grpc"),
        (b"te", b"trailers"),
        (b"grpc-accept-encoding", b"identity, deflate, gzip"),
        (b"user-agent", rng.choice([b"grpc-c++/1.71.0 grpc-c/46.0.0 (linux; chttp2)", b"grpc-python/1.85.3",
                                    b"grpc-node-js/1.14.7", b"grpc-go/1.70.0"])),
    ]
    if rng.random() < 0.5:
        headers.append((b"grpc-timeout", b"%dm" % rng.randrange(1, 100000)))
    if rng.random() < 0.3:
        headers.append((b"x-request-id", token(36, "0123456789abcdef-")))
    if rng.random() < 0.2:
        headers.append((b"auth-token-bin", token(rng.randrange(4, 60), "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")))
    return headers


def grpc_response():
    if rng.random() < 0.5:
        return [(b":status", b"200"), (b"content-type", b"application/grpc")]
    headers = [(b"grpc-status", str(rng.randrange(17)).encode())]
    if rng.random() < 0.7:
        headers.append((b"grpc-message", printable(rng.randrange(0, 80)).replace(b"%", b"%25")))
    return headers


def random_list(pool):
    headers = []
    for _ in range(rng.randrange(0, 9)):
        r = rng.random()
        if r < 0.25 and pool:
            headers.append(rng.choice(pool))  # likely still in the dynamic table: an indexed field
            continue
        if r < 0.45:
            name = rng.choice(STATIC_NAMES).encode()
        else:
            name = token(rng.randrange(1, 30))
        kind = rng.random()
        if kind < 0.4:
            value = printable(rng.randrange(0, 40))
        elif kind < 0.8:
            value = any_bytes(rng.randrange(0, 40))
        elif kind < 0.92:
            value = any_bytes(rng.randrange(40, 120))
        else:
            value = printable(rng.randrange(150, 600))  # larger than the whole table after an update to 256
        headers.append((name, value))
    return headers


def main():
    encoder = Encoder()
    check = Decoder()
    check.max_header_list_size = 1 << 30
    pool = []
    blocks = []
    for i in range(BLOCKS):
        if i == 0:
            headers = [(b"x-all-bytes", bytes(range(256))), (b"x-all-bytes-reversed", bytes(range(255, -1, -1)))]
        elif i in (100, 200):
            # Larger than the whole 4096-byte table: empties it and is not added.
            headers = [(b"x-huge", printable(4100)), (b"after-huge", b"1")]
        elif i % 25 == 24:
            headers = [(b"x-byte-%d" % b, bytes([b]) * rng.randrange(1, 5)) for b in rng.sample(range(256), 16)]
        else:
            kind = rng.random()
            headers = grpc_request() if kind < 0.35 else grpc_response() if kind < 0.5 else random_list(pool)
        # Some fields never indexed (sensitive), as a client does for authorization.
        fields = [NeverIndexedHeaderTuple(n, v) if rng.random() < 0.05 else (n, v) for n, v in headers]
        if rng.random() < 0.06:
            encoder.header_table_size = rng.choice([0, 256, 512, 1024, 4096])
        huffman = rng.random() < 0.85
        block = encoder.encode(fields, huffman=huffman)
        decoded = [(bytes(n), bytes(v)) for n, v in check.decode(block, raw=True)]
        assert decoded == headers, (i, decoded, headers)
        pool.extend(h for h in headers if len(h[1]) < 100)
        pool = pool[-40:]
        blocks.append({
            "hex": block.hex(),
            "huffman": huffman,
            "headers": [[n.decode("latin1"), v.decode("latin1")] for n, v in headers],
        })
    doc = {
        "format": "flame-cache HPACK vectors v1",
        "generated_by": "tests/vectors/make_hpack_vectors.py",
        "encoder": "Python hpack %s (one Encoder for all blocks, in order)" % hpack.__version__,
        "decoder_max_table_size": 4096,
        "strings": "latin1: one char per byte",
        "blocks": blocks,
    }
    # One block per line keeps the file small and diffable.
    head = json.dumps({k: v for k, v in doc.items() if k != "blocks"}, indent=2)[:-2]
    lines = ",\n".join("    " + json.dumps(b, separators=(", ", ": ")) for b in blocks)
    with open(OUT, "w") as f:
        f.write(head + ',\n  "blocks": [\n' + lines + "\n  ]\n}\n")
    # The repository's `deno fmt --check` covers JSON too: format it the same way.
    try:
        subprocess.run(["deno", "fmt", "--quiet", OUT], check=True)
    except (OSError, subprocess.CalledProcessError):
        print("could not run `deno fmt %s`: run it before committing" % OUT)
    print("wrote %d blocks to %s" % (len(blocks), OUT))


if __name__ == "__main__":
    main()
