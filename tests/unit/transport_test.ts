import assert from "node:assert/strict";
import { FrameReader } from "../../src/h2/reader.ts";
import { LargeMessage } from "../../src/transport/large_message.ts";
import {
  encodeGrpcMessage,
  MessageDecoder,
  messagePrefix,
  parseGrpcTimeout,
} from "../../src/transport/framing.ts";
import { fields, ProtoWriter } from "../../src/protocol/protobuf.ts";
import { decodeFlightData, encodeFlightDataPrefix, flightDataSize } from "../../src/protocol/messages.ts";
import { CacheError } from "../../src/errors.ts";

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

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
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

Deno.test("gRPC framing: messages split and joined across chunks; limit checked on the prefix", () => {
  const m1 = new Uint8Array(70_000).fill(7);
  const m2 = new Uint8Array(3).fill(1);
  const wire = concat([messagePrefix(m1.length), m1, messagePrefix(0), messagePrefix(m2.length), m2]);
  for (const size of [1, 4, 5, 6, 1000, wire.length]) {
    const d = new MessageDecoder(1 << 20);
    const out: Uint8Array[] = [];
    for (let i = 0; i < wire.length; i += size) {
      out.push(...(d.push(wire.subarray(i, i + size)) as Uint8Array[]));
    }
    assert.equal(out.length, 3);
    assert.deepEqual(out[0], m1);
    assert.ok(out[0].buffer instanceof SharedArrayBuffer, "large messages are shared");
    assert.equal(out[1].length, 0);
    assert.deepEqual(out[2], m2);
    assert.equal(d.partial, false);
  }
  const small = new MessageDecoder(10);
  assert.throws(() => small.push(messagePrefix(11)), (e) => e instanceof CacheError && e.code === 8);
  const compressed = new Uint8Array([1, 0, 0, 0, 1, 0]);
  assert.throws(
    () => new MessageDecoder(10).push(compressed),
    (e) => e instanceof CacheError && e.code === 12,
  );
  const d = new MessageDecoder(100);
  d.push(messagePrefix(10).subarray(0, 3));
  assert.equal(d.partial, true);
});

Deno.test("grpc-message percent-encoding and grpc-timeout parsing", () => {
  assert.equal(encodeGrpcMessage("object a/b not found"), "object a/b not found");
  assert.equal(encodeGrpcMessage("100% é\n"), "100%25 %C3%A9%0A");
  assert.equal(parseGrpcTimeout("100m"), 100);
  assert.equal(parseGrpcTimeout("2S"), 2000);
  assert.equal(parseGrpcTimeout("1H"), 3_600_000);
  assert.equal(parseGrpcTimeout("bogus"), undefined);
  assert.equal(parseGrpcTimeout(undefined), undefined);
});

Deno.test("protobuf: FlightData round trip, body stays a view; malformed input rejected", () => {
  const header = new Uint8Array([1, 2, 3]);
  const body = new Uint8Array(300).fill(5);
  const prefix = encodeFlightDataPrefix(header, body.length);
  const msg = concat([prefix, body]);
  assert.equal(msg.length, flightDataSize(header.length, body.length));
  const fd = decodeFlightData(msg);
  assert.deepEqual(fd.dataHeader, header);
  assert.deepEqual(fd.dataBody, body);
  assert.equal(fd.dataBody.buffer, msg.buffer, "body is a view");

  const w = new ProtoWriter().varint(-1).finish();
  assert.equal(w.length, 10, "negative int64 takes 10 bytes");
  for (const bad of [[0x12, 0x05, 1], [0x80], [0x0b], [0x12, 0xff, 0xff, 0xff, 0xff, 0x0f]]) {
    assert.throws(
      () => [...fields(new Uint8Array(bad), "test")],
      (e) => e instanceof CacheError && e.code === 3,
    );
  }
});

Deno.test("large messages stream piece by piece: read, skip, unshift, readAll; truncation fails the reader", async () => {
  const big = new Uint8Array(100_000).map((_, i) => i % 251);
  const small = new Uint8Array([9, 9]);
  const wire = concat([messagePrefix(big.length), big, messagePrefix(small.length), small]);
  const d = new MessageDecoder(1 << 20, () => true, 50_000);
  const out = [];
  for (let i = 0; i < wire.length; i += 7000) out.push(...d.push(wire.subarray(i, i + 7000)));
  assert.equal(out.length, 2);
  const large = out[0] as LargeMessage;
  assert.ok(large instanceof LargeMessage);
  assert.equal(large.length, big.length);
  assert.deepEqual(await large.read(10), big.subarray(0, 10));
  await large.skip(90);
  const rest = await large.readAll(new Uint8Array([1, 2]));
  assert.equal(rest.length, big.length - 100 + 2);
  assert.deepEqual(rest.subarray(2), big.subarray(100));
  assert.deepEqual(out[1], small);

  const d2 = new MessageDecoder(1 << 20, () => true, 10);
  const [m] = d2.push(concat([messagePrefix(100), new Uint8Array(40)])) as LargeMessage[];
  assert.equal(d2.partial, true);
  m.fail(d2.truncatedError());
  assert.equal((await m.read(40)).length, 40);
  await assert.rejects(() => m.read(1), /ended in the middle/);
});
