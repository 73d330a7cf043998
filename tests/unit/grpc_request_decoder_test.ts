/** The server's request decoder (src/grpc/request_decoder.ts) on the shared gRPC decoder core. */
import assert from "node:assert/strict";
import { concat } from "../../src/bytes.ts";
import { CacheError } from "../../src/errors.ts";
import { messagePrefix } from "../../src/grpc/prefix.ts";
import { RequestDecoder } from "../../src/grpc/request_decoder.ts";

Deno.test("gRPC framing: messages split and joined across chunks; limit checked on the prefix", () => {
  const m1 = new Uint8Array(70_000).fill(7);
  const m2 = new Uint8Array(3).fill(1);
  const wire = concat([messagePrefix(m1.length), m1, messagePrefix(0), messagePrefix(m2.length), m2]);
  for (const size of [1, 4, 5, 6, 1000, wire.length]) {
    const d = new RequestDecoder(1 << 20);
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
  const small = new RequestDecoder(10);
  assert.throws(() => small.push(messagePrefix(11)), (e) => e instanceof CacheError && e.code === 8);
  const compressed = new Uint8Array([1, 0, 0, 0, 1, 0]);
  assert.throws(
    () => new RequestDecoder(10).push(compressed),
    (e) => e instanceof CacheError && e.code === 12,
  );
  const d = new RequestDecoder(100);
  d.push(messagePrefix(10).subarray(0, 3));
  assert.equal(d.partial, true);
});
