import assert from "node:assert/strict";
import { HotReadStore, InThreadStore, type Store } from "../../src/store/mod.ts";
import type { StoredObject } from "../../src/store/types.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const opaque = (s: string) => ({ type: "opaque" as const, data: enc.encode(s) });
const text = (o: StoredObject) => (o.body.type === "opaque" ? dec.decode(o.body.data) : "?");

function stores(): { inner: InThreadStore & { gets: number }; hot: HotReadStore } {
  const inner = new InThreadStore({
    storage: { kind: "none" },
    limits: { policy: "lru", maxMemory: 1 << 30, maxObjects: Infinity },
  }) as InThreadStore & { gets: number };
  inner.gets = 0;
  const get = inner.get.bind(inner);
  inner.get = (key: string) => {
    inner.gets++;
    return get(key);
  };
  return { inner, hot: new HotReadStore(inner as Store, { maxObjectBytes: 100, maxBytes: 250 }) };
}

Deno.test("hot cache: hits skip the inner store; writes invalidate; big objects are not cached", async () => {
  const { inner, hot } = stores();
  await hot.open();
  await hot.put("a/s/1", opaque("one"));
  assert.equal(text(await hot.get("a/s/1")), "one");
  assert.equal(text(await hot.get("a/s/1")), "one");
  assert.equal(inner.gets, 1, "second get is a hit");
  await hot.put("a/s/1", opaque("two"));
  assert.equal(text(await hot.get("a/s/1")), "two");
  await hot.patch("a/s/1", enc.encode("+p"));
  const patched = await hot.get("a/s/1");
  assert.equal(patched.deltas.length, 1, "a patch invalidates");
  await hot.delete({ value: "a/s", exact: false });
  await assert.rejects(() => hot.get("a/s/1"), /not found/);
  await hot.put("a/s/big", opaque("x".repeat(200)));
  await hot.get("a/s/big");
  await hot.get("a/s/big");
  assert.equal(inner.gets, 6, "objects over maxObjectBytes always go to the store");
});

Deno.test("hot cache: a get racing a write is not cached; the byte budget evicts", async () => {
  const { inner, hot } = stores();
  await hot.put("a/s/1", opaque("old"));
  const racing = hot.get("a/s/1");
  const writing = hot.put("a/s/1", opaque("new"));
  await Promise.all([racing, writing]);
  assert.equal(text(await hot.get("a/s/1")), "new", "no stale entry survives a racing write");
  for (let i = 0; i < 5; i++) {
    await hot.put(`a/s/k${i}`, opaque("y".repeat(80)));
    await hot.get(`a/s/k${i}`);
  }
  const before = inner.gets;
  await hot.get("a/s/k0"); // evicted: 5 x 80 bytes > 250
  assert.equal(inner.gets, before + 1);
  await hot.get("a/s/k4"); // most recent: still cached
  assert.equal(inner.gets, before + 1);
});

/** A promise and its resolve function. */
function gate(): { open: () => void; wait: Promise<void> } {
  let open!: () => void;
  const wait = new Promise<void>((r) => (open = r));
  return { open, wait };
}

Deno.test("hot cache: coherence is per key: writes of other keys in flight do not stop caching", async () => {
  const { inner, hot } = stores();
  await hot.put("a/s/A", opaque("a1"));
  await hot.put("a/s/B", opaque("b1"));
  // A slow put of B (a durable write waiting for its flush) is in flight ...
  const slow = gate();
  const put = inner.put.bind(inner);
  inner.put = async (key, body) => {
    if (key === "a/s/B") await slow.wait;
    return put(key, body);
  };
  const writingB = hot.put("a/s/B", opaque("b2"));
  // ... gets of A are still cached.
  assert.equal(text(await hot.get("a/s/A")), "a1");
  const before = inner.gets;
  assert.equal(text(await hot.get("a/s/A")), "a1");
  assert.equal(inner.gets, before, "the second get of A is a hit while B is being written");
  // A get of B itself during its write is not cached.
  const getB = hot.get("a/s/B");
  slow.open();
  await Promise.all([writingB, getB]);
  assert.equal(text(await hot.get("a/s/B")), "b2");
});

Deno.test("hot cache: a get whose key is written (or deleted by prefix) while it runs is not cached", async () => {
  const { inner, hot } = stores();
  await hot.put("a/s/A", opaque("old"));
  const slowGet = gate();
  const get = inner.get.bind(inner);
  inner.get = async (key) => {
    const obj = await get(key);
    await slowGet.wait; // the read returns the old object after the write below
    return obj;
  };
  const reading = hot.get("a/s/A");
  await hot.put("a/s/A", opaque("new"));
  slowGet.open();
  assert.equal(text(await reading), "old");
  inner.get = get;
  assert.equal(text(await hot.get("a/s/A")), "new", "the old object was not cached");

  const slowDelete = gate();
  const del = inner.delete.bind(inner);
  inner.delete = async (sel) => {
    await slowDelete.wait;
    return del(sel);
  };
  const deleting = hot.delete({ value: "a/s", exact: false });
  const during = hot.get("a/s/A"); // may see the object; must not cache it
  slowDelete.open();
  await Promise.all([deleting, during]);
  await assert.rejects(() => hot.get("a/s/A"), /not found/);
});
