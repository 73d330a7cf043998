/** The HTTP/2 frame reader (src/h2/reader.ts): chunking, DATA views, padding, limits. */
import assert from "node:assert/strict";
import { concat } from "../../src/bytes.ts";
import { FrameReader } from "../../src/h2/reader.ts";

function frame(type: number, payload: Uint8Array, streamId = 0): Uint8Array {
  const f = new Uint8Array(9 + payload.length);
  f[0] = payload.length >> 16;
  f[1] = (payload.length >> 8) & 0xff;
  f[2] = payload.length & 0xff;
  f[3] = type;
  new DataView(f.buffer).setUint32(5, streamId);
  f.set(payload, 9);
  return f;
}

Deno.test("HTTP/2 frame reader: same frames at any chunking; DATA as views, padding stripped", () => {
  const preface = new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
  const settings = frame(4, new Uint8Array(12).fill(1));
  const data = frame(0, new Uint8Array(1000).map((_, i) => i % 256), 1);
  const padded = frame(0, new Uint8Array([3, 9, 9, 0, 0, 0]), 1);
  padded[4] = 0x8;
  const goaway = frame(7, new Uint8Array(8).fill(9));
  const input = concat([preface, settings, data, padded, goaway]);
  for (const size of [1, 2, 5, 9, 10, 24, 33, 100, 4096]) {
    const seen: string[] = [];
    const body: Uint8Array[] = [];
    const reader = new FrameReader({
      onFrame: (type, _flags, id, payload) => seen.push(`${type}/${id}/${payload.length}`),
      onDataStart: (id, _flags, length) => seen.push(`data ${id} ${length}`),
      onData: (_id, piece) => void body.push(piece.slice()),
      onDataEnd: (id) => seen.push(`end ${id}`),
    }, 1 << 20);
    for (let i = 0; i < input.length; i += size) reader.push(input.subarray(i, i + size));
    assert.deepEqual(seen, ["4/0/12", "data 1 1000", "end 1", "data 1 6", "end 1", "7/0/8"], `chunk ${size}`);
    assert.deepEqual(
      concat(body),
      concat([new Uint8Array(1000).map((_, i) => i % 256), new Uint8Array([9, 9])]),
    );
  }
  assert.throws(() => new FrameReader({} as never, 1 << 20).push(new TextEncoder().encode("GET / HTTP/1.1")));
  const big = new FrameReader({} as never, 16384);
  big.push(preface);
  assert.throws(() => big.push(frame(0, new Uint8Array(16385), 1)), /exceeds/);
});
