/** Rendezvous hashing: even spread, stability when members change, and agreement on order. */
import assert from "node:assert/strict";
import { owner, ranked, weight } from "../../src/cluster/rendezvous.ts";

const keys = Array.from({ length: 20_000 }, (_, i) => `app${i % 37}/session-${i}`);
const members = ["replica-0", "replica-1", "replica-2", "replica-3", "replica-4"];

function owners(list: string[]): Map<string, string> {
  return new Map(keys.map((k) => [k, owner(k, list)!]));
}

Deno.test("rendezvous: weights are deterministic 53-bit integers", () => {
  assert.equal(weight("a", "x/y"), weight("a", "x/y"));
  assert.notEqual(weight("a", "x/y"), weight("b", "x/y"));
  assert.notEqual(weight("ab", "x/y"), weight("a", "bx/y"), "the separator keeps member and key apart");
  for (const k of keys.slice(0, 1000)) {
    const w = weight("m", k);
    assert.ok(Number.isSafeInteger(w) && w >= 0);
  }
  assert.equal(owner("x/y", []), undefined);
});

Deno.test("rendezvous: keys spread evenly over members", () => {
  const counts = new Map<string, number>();
  for (const o of owners(members).values()) counts.set(o, (counts.get(o) ?? 0) + 1);
  const expected = keys.length / members.length;
  for (const m of members) {
    const n = counts.get(m) ?? 0;
    assert.ok(Math.abs(n - expected) < expected * 0.06, `${m} owns ${n}, expected about ${expected}`);
  }
});

Deno.test("rendezvous: removing a member moves only its keys; adding one takes only its share", () => {
  const before = owners(members);
  const without = owners(members.filter((m) => m !== "replica-2"));
  let moved = 0;
  for (const [k, o] of before) {
    if (o === "replica-2") moved++;
    else assert.equal(without.get(k), o, `${k} moved though its owner stayed`);
  }
  assert.ok(moved > 0);
  const withNew = owners([...members, "replica-5"]);
  let taken = 0;
  for (const [k, o] of before) {
    const now = withNew.get(k)!;
    if (now !== o) {
      assert.equal(now, "replica-5", "keys only move to the new member");
      taken++;
    }
  }
  const share = keys.length / 6;
  assert.ok(Math.abs(taken - share) < share * 0.08, `new member took ${taken}, expected about ${share}`);
});

Deno.test("rendezvous: ranked starts with the owner, is independent of input order, runner-up takes over", () => {
  for (const k of keys.slice(0, 500)) {
    const order = ranked(k, members);
    assert.equal(order[0], owner(k, members));
    assert.deepEqual([...order].sort(), [...members].sort());
    assert.deepEqual(ranked(k, [...members].reverse()), order);
    assert.equal(owner(k, members.filter((m) => m !== order[0])), order[1]);
  }
});

Deno.test("rendezvous: an owner lookup is fast", () => {
  const started = performance.now();
  for (const k of keys) owner(k, members);
  const perLookupUs = ((performance.now() - started) * 1000) / keys.length;
  assert.ok(perLookupUs < 20, `${perLookupUs.toFixed(2)} us per lookup over 5 members`);
});
