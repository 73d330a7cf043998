/** The client's version-aware object cache (src/client/cache.ts). */
import assert from "node:assert/strict";
import { ClientObjectCache } from "../../src/client/mod.ts";

Deno.test("ClientObjectCache: LRU order, patch append rules, selector invalidation", () => {
  const c = new ClientObjectCache(2);
  const base = new Uint8Array([1]);
  c.set("e", "a/s/1", { kind: "opaque", version: 1, base, patches: [] });
  c.set("e", "a/s/2", { kind: "opaque", version: 1, base, patches: [] });
  c.get("e", "a/s/1"); // 1 is now most recent
  c.set("e", "a/t/3", { kind: "opaque", version: 1, base, patches: [] });
  assert.equal(c.get("e", "a/s/2"), undefined, "least recently used evicted");
  assert.ok(c.get("e", "a/s/1"));
  assert.equal(c.stats().evictions, 1);

  const p = [{ version: 2, data: new Uint8Array([2]) }];
  assert.equal(c.appendPatches("e", "a/s/1", 5, p, 2), undefined, "stale request: refetch");
  const next = c.appendPatches("e", "a/s/1", 1, p, 2);
  assert.equal(next?.version, 2);
  assert.equal(next?.kind === "opaque" && next.patches.length, 1);
  assert.equal(c.appendPatches("e", "a/s/1", 1, p, 2)?.version, 2, "already applied: no-op");
  const entry = c.get("e", "a/s/1");
  assert.equal(entry?.kind === "opaque" && entry.patches.length, 1);

  c.invalidateSelector("e", "a/*");
  assert.equal(c.size, 0);
  c.set("e", "a/s/1", { kind: "opaque", version: 1, base, patches: [] });
  c.set("other", "a/s/9", { kind: "opaque", version: 1, base, patches: [] });
  c.invalidateSelector("e", "a/s");
  assert.equal(c.get("e", "a/s/1"), undefined);
  assert.ok(c.get("other", "a/s/9"), "other endpoints untouched");
  c.invalidateSelector("other", "a/s/9");
  assert.equal(c.size, 0);
  assert.throws(() => new ClientObjectCache(0), RangeError);
});
