/**
 * The one gRPC message decoder (src/grpc/decoder.ts), seen through the client's
 * policy (replyDecoder): limits on the prefix, streaming above a threshold.
 */
import assert from "node:assert/strict";
import { concat } from "../../src/bytes.ts";
import { replyDecoder } from "../../src/grpc/client_call.ts";
import { CacheClientError } from "../../src/grpc/client_errors.ts";
import type { MessageEvent } from "../../src/grpc/decoder.ts";
import { messagePrefix } from "../../src/grpc/prefix.ts";

Deno.test("reply decoder: size limit is checked on the prefix; compressed messages refused", () => {
  const d = replyDecoder(10);
  assert.throws(
    () => d.push(messagePrefix(11)),
    (e: unknown) => e instanceof CacheClientError && e.code === 8,
  );
  assert.throws(
    () => replyDecoder(10).push(new Uint8Array([1, 0, 0, 0, 1, 0])),
    (e: unknown) => e instanceof CacheClientError && e.code === 13,
  );
});

Deno.test("decoder: whole and streamed messages at any chunking; empty messages are whole", () => {
  const big = new Uint8Array(1000).map((_, i) => i % 253);
  const small = new Uint8Array([4, 5, 6]);
  const wire = concat([messagePrefix(big.length), big, messagePrefix(0), messagePrefix(small.length), small]);
  for (const size of [1, 3, 5, 7, 100, wire.length]) {
    const d = replyDecoder(1 << 20, 100);
    const events: MessageEvent[] = [];
    for (let i = 0; i < wire.length; i += size) events.push(...d.push(wire.subarray(i, i + size)));
    const kinds = events.map((e) => e.type).filter((t, i, all) => t !== "chunk" || all[i - 1] !== "chunk");
    assert.deepEqual(kinds, ["begin", "chunk", "end", "message", "message"], `chunk ${size}`);
    const streamed = concat(events.flatMap((e) => e.type === "chunk" ? [e.data.slice()] : []));
    assert.deepEqual(streamed, big);
    const whole = events.flatMap((e) => e.type === "message" ? [e.data] : []);
    assert.deepEqual(whole, [new Uint8Array(0), small]);
    assert.equal(d.partial, false);
  }
  const cut = replyDecoder(1 << 20, 100);
  cut.push(wire.subarray(0, 500));
  assert.equal(cut.partial, true);
});
