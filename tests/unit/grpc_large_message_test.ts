/** Large request messages (src/grpc/large_message.ts) as the request decoder hands them out. */
import assert from "node:assert/strict";
import { concat } from "../../src/bytes.ts";
import { LargeMessage } from "../../src/grpc/large_message.ts";
import { messagePrefix } from "../../src/grpc/prefix.ts";
import { RequestDecoder } from "../../src/grpc/request_decoder.ts";

Deno.test("large messages stream piece by piece: read, skip, unshift, readAll; truncation fails the reader", async () => {
  const big = new Uint8Array(100_000).map((_, i) => i % 251);
  const small = new Uint8Array([9, 9]);
  const wire = concat([messagePrefix(big.length), big, messagePrefix(small.length), small]);
  const d = new RequestDecoder(1 << 20, () => true, 50_000);
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

  const d2 = new RequestDecoder(1 << 20, () => true, 10);
  const [m] = d2.push(concat([messagePrefix(100), new Uint8Array(40)])) as LargeMessage[];
  assert.equal(d2.partial, true);
  m.fail(d2.truncatedError());
  assert.equal((await m.read(40)).length, 40);
  await assert.rejects(() => m.read(1), /ended in the middle/);
});
