import assert from "node:assert/strict";
import { CacheCore, type CacheLimits, MAX_PATCHES } from "../../src/store/_core.ts";
import { NoneEngine } from "../../src/store/_none_engine.ts";
import { CacheError, Status } from "../../src/errors.ts";

const enc = new TextEncoder();
const opaque = (s: string | number) => ({
  type: "opaque" as const,
  data: typeof s === "number" ? new Uint8Array(s) : enc.encode(s),
});

function cache(limits: CacheLimits = { policy: "lru", maxMemory: 1 << 30, maxObjects: Infinity }) {
  const c = new CacheCore(new NoneEngine(), limits);
  c.open();
  return c;
}

Deno.test("versions: put = 1, update and patch add 1, current = last patch", () => {
  const c = cache();
  assert.equal(c.put("a/s/o", opaque("x")).version, 1);
  assert.equal(c.patch("a/s/o", enc.encode("p")).version, 2);
  assert.equal(c.patch("a/s/o", enc.encode("q")).version, 3);
  const obj = c.get("a/s/o");
  assert.equal(obj.baseVersion, 1);
  assert.deepEqual(obj.deltas.map((d) => d.version), [2, 3]);
  const s = c.put("a/s/o", opaque("y"));
  assert.equal(s.version, 4);
  assert.equal(s.deltaCount, 0);
  assert.equal(c.get("a/s/o").deltas.length, 0);
});

Deno.test("patch limit and missing targets", () => {
  const c = cache();
  assert.throws(
    () => c.patch("a/s/none", enc.encode("p")),
    (e) => e instanceof CacheError && e.code === Status.NOT_FOUND,
  );
  c.put("a/s/o", opaque("x"));
  for (let i = 0; i < MAX_PATCHES; i++) c.patch("a/s/o", enc.encode("p"));
  assert.throws(
    () => c.patch("a/s/o", enc.encode("p")),
    (e) => e instanceof CacheError && e.code === Status.RESOURCE_EXHAUSTED && /a\/s\/o/.test(e.message),
  );
  assert.equal(c.put("a/s/o", opaque("x")).deltaCount, 0, "an update starts the patch count again");
});

Deno.test("delete: exact, session, app; versions never go backwards", () => {
  const c = cache();
  c.put("a/s1/o1", opaque("1"));
  c.put("a/s1/o2", opaque("2"));
  c.put("a/s2/o1", opaque("3"));
  c.put("a/s10/o1", opaque("4"));
  c.put("b/s1/o1", opaque("5"));
  assert.equal(c.delete({ value: "a/s1/o1", exact: true }), 1);
  assert.equal(c.delete({ value: "a/s1", exact: false }), 1, "a/s1 does not match a/s10");
  assert.equal(c.stat("a/s10/o1")?.version, 1);
  assert.equal(c.delete({ value: "a", exact: false }), 2);
  assert.deepEqual(c.list({ value: "", exact: false }).map((s) => s.key), ["b/s1/o1"]);
  assert.equal(c.put("a/s1/o1", opaque("again")).version, 2);
});

Deno.test("LRU by bytes and by count; storage none loses evicted objects", () => {
  const c = cache({ policy: "lru", maxMemory: 1000, maxObjects: 3 });
  c.put("a/s/1", opaque(400));
  c.put("a/s/2", opaque(400));
  c.get("a/s/1"); // 1 is now more recent than 2
  c.put("a/s/3", opaque(400)); // 1200 bytes > 1000: evict 2
  assert.equal(c.stat("a/s/2"), null);
  assert.ok(c.stat("a/s/1"));
  assert.throws(() => c.get("a/s/2"), (e) => e instanceof CacheError && e.code === Status.NOT_FOUND);
  c.put("a/s/4", opaque(1));
  c.put("a/s/5", opaque(1));
  assert.ok(c.usage().residentObjects <= 3);
  assert.ok(c.usage().residentBytes <= 1000);
  assert.ok(c.counters.evictions >= 2);
  // An object larger than the budget is still served right after its put.
  c.put("a/s/big", opaque(5000));
  assert.equal(c.get("a/s/big").body.type, "opaque");
});

Deno.test("policy none never evicts", () => {
  const c = cache({ policy: "none", maxMemory: 10, maxObjects: 1 });
  c.put("a/s/1", opaque(100));
  c.put("a/s/2", opaque(100));
  assert.equal(c.usage().residentObjects, 2);
});
