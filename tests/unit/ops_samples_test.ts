/**
 * Throughput samples and rates (src/ops/_samples.ts).
 */
import assert from "node:assert/strict";
import { rates, type Sample, SampleRing } from "../../src/ops/_samples.ts";

Deno.test("SampleRing keeps the newest samples; rates per interval, hit rate null without reads", () => {
  const ring = new SampleRing(3);
  const s = (t: number, bytesOut: number, hits: number, misses: number): Sample => ({
    t: t * 1000,
    bytesIn: 0,
    bytesOut,
    hits,
    loads: 0,
    misses,
    calls: 0,
  });
  for (let i = 0; i < 5; i++) ring.push(s(i * 5, i * 5000, i * 3, i));
  assert.equal(ring.size, 3);
  assert.deepEqual(ring.all().map((x) => x.t), [10_000, 15_000, 20_000]);
  const r = rates(ring.all());
  assert.equal(r.length, 2);
  assert.equal(r[0].outBps, 1000);
  assert.equal(r[0].hitRate, 0.75);
  assert.deepEqual(rates([s(0, 0, 1, 1), s(5, 0, 1, 1)])[0].hitRate, null);
  // Counter reset (restart) never gives negative rates.
  assert.equal(rates([s(0, 100, 0, 0), s(5, 0, 0, 0)])[0].outBps, 0);
});
