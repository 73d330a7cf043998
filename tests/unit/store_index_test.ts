/** The compact object index (src/store/_index.ts): lookups, updates, ordered and paged prefix listings. */
import assert from "node:assert/strict";
import { ObjectIndex } from "../../src/store/_index.ts";
import { type KeySelector, type ObjectStat, selects } from "../../src/store/types.ts";

function stat(key: string, version = 1, size = 10): ObjectStat {
  return { key, version, baseVersion: version, size, deltaCount: 0, kind: "opaque", rows: 1, modified: 1000 };
}

const all: KeySelector = { value: "", exact: false };

Deno.test("index: set, get, replace, delete keep counts and bytes", () => {
  const ix = new ObjectIndex();
  ix.set(stat("a/s/o1", 1, 5));
  ix.set({ ...stat("a/s/o2", 3, 7), kind: "native", rows: 42, deltaCount: 2, baseVersion: 1 });
  assert.equal(ix.size, 2);
  assert.equal(ix.totalBytes, 12);
  assert.deepEqual(ix.get("a/s/o2"), {
    key: "a/s/o2",
    version: 3,
    baseVersion: 1,
    size: 7,
    deltaCount: 2,
    kind: "native",
    rows: 42,
    modified: 1000,
  });
  // Unusual values are kept exactly too: a base far below the version, huge row counts and sizes.
  const odd = {
    ...stat("a/t/x", 2 ** 40),
    baseVersion: 3,
    kind: "native" as const,
    rows: 2 ** 35,
    size: 2 ** 41,
  };
  ix.set(odd);
  assert.deepEqual(ix.get("a/t/x"), odd);
  ix.set(stat("a/t/x", 7));
  assert.deepEqual(ix.get("a/t/x"), stat("a/t/x", 7), "a replaced entry keeps nothing of the old one");
  ix.delete("a/t/x");
  ix.set(stat("a/s/o1", 2, 50));
  assert.equal(ix.size, 2);
  assert.equal(ix.totalBytes, 57);
  assert.equal(ix.delete("a/s/o1"), 2);
  assert.equal(ix.delete("a/s/o1"), undefined);
  assert.equal(ix.get("a/s/o1"), undefined);
  assert.equal(ix.size, 1);
  assert.equal(ix.totalBytes, 7);
  assert.deepEqual(ix.groupTotals(), [{ name: "a/s", objects: 1, bytes: 7 }]);
  ix.delete("a/s/o2");
  assert.deepEqual(ix.groupTotals(), []);
  // Slots are reused.
  for (let i = 0; i < 5000; i++) ix.set(stat(`b/s${i % 7}/o${i}`));
  for (let i = 0; i < 5000; i += 2) ix.delete(`b/s${i % 7}/o${i}`);
  for (let i = 0; i < 5000; i += 2) ix.set(stat(`c/s/o${i}`, 9));
  assert.equal(ix.size, 5000);
  assert.equal(ix.get("c/s/o10")?.version, 9);
  assert.equal(ix.get("b/s1/o1")?.version, 1);
});

Deno.test("index: prefix listings select exactly what selects() selects, in key order", () => {
  const ix = new ObjectIndex();
  const keys = [
    "a/s1/o1",
    "a/s1/o2",
    "a/s10/o1",
    "a/s1-x/o1",
    "a/s2/z",
    "ab/s1/o1",
    "b/s/o",
    "a/s1", // a two-part key equal to a session prefix
    "s/o", // two-part keys
    "s/p",
  ];
  for (const k of [...keys].reverse()) ix.set(stat(k));
  for (const value of ["", "a", "a/s1", "a/s1/o1", "ab", "s", "zzz", "a/s"]) {
    for (const exact of [false, true]) {
      const sel = { value, exact };
      const got = ix.page(sel, undefined, Infinity).map((s) => s.key);
      const want = keys.filter((k) => selects(sel, k));
      assert.deepEqual([...got].sort(), [...want].sort(), `selector ${value} exact=${exact}`);
      if (value !== "") {
        // Within a prefix of whole segments, the order is the keys' order.
        assert.deepEqual(got, [...want].sort(), `order of ${value}`);
      }
    }
  }
});

Deno.test("index: pages after a cursor add up to the whole listing, also while keys change", () => {
  const ix = new ObjectIndex();
  for (let s = 0; s < 30; s++) for (let o = 0; o < 37; o++) ix.set(stat(`app/s${s}/o${o}`));
  const whole = ix.page(all, undefined, Infinity).map((s) => s.key);
  assert.equal(whole.length, 30 * 37);
  for (const limit of [1, 7, 37, 100, 5000]) {
    const got: string[] = [];
    let after: string | undefined;
    for (;;) {
      const page = ix.page(all, after, limit);
      got.push(...page.map((s) => s.key));
      if (page.length < limit) break;
      after = page[page.length - 1].key;
    }
    assert.deepEqual(got, whole, `limit ${limit}`);
  }
  // A key added after the cursor shows up; one removed before it is not repeated.
  const first = ix.page({ value: "app/s3", exact: false }, undefined, 10);
  ix.delete(first[0].key);
  ix.set(stat("app/s3/zzz"));
  const rest = ix.page({ value: "app/s3", exact: false }, first[9].key, 1000).map((s) => s.key);
  assert.equal(rest.length, 37 - 10 + 1);
  assert.ok(rest.includes("app/s3/zzz"));
  // The cursor's own key may be gone.
  ix.delete(first[9].key);
  assert.deepEqual(ix.page({ value: "app/s3", exact: false }, first[9].key, 1000).map((s) => s.key), rest);
});
