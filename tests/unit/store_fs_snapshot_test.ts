/**
 * The index snapshot of the fs engine (src/store/fs/_snapshot.ts) and the index load in steps
 * (src/store/_core.ts begin/loadStep): a folder unchanged since the snapshot is taken from it without
 * opening files; a folder or patch folder changed since (or changed too close to the snapshot) is
 * scanned; a damaged snapshot is ignored; keys are served while the index loads.
 */
import assert from "node:assert/strict";
import { CacheCore, type CacheLimits } from "../../src/store/_core.ts";
import { FsEngine } from "../../src/store/fs/mod.ts";
import { RACY_MS, SNAPSHOT_NAME } from "../../src/store/fs/_snapshot.ts";
import { CacheError, Status } from "../../src/errors.ts";
import type { StoredObject } from "../../src/store/types.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const LIMITS: CacheLimits = { policy: "lru", maxMemory: 1 << 30, maxObjects: Infinity };
const opaque = (s: string) => ({ type: "opaque" as const, data: enc.encode(s) });
const text = (obj: StoredObject) => {
  const parts = [(obj.body as { data: Uint8Array }).data, ...obj.deltas.map((d) => d.data)];
  return parts.map((p) => dec.decode(p)).join("");
};

function core(root: string, capacity?: number): CacheCore {
  return new CacheCore(new FsEngine(root, { capacity }), LIMITS);
}

function withRoot(fn: (root: string) => void): () => void {
  return () => {
    const root = Deno.makeTempDirSync({ prefix: "fs_snapshot_" });
    try {
      fn(root);
    } finally {
      Deno.removeSync(root, { recursive: true });
    }
  };
}

/** Set every folder's times (and files') under `dir` to `ageMs` ago: settled long before a snapshot. */
function age(dir: string, ageMs = 60_000): void {
  const t = new Date(Date.now() - ageMs);
  for (const e of Deno.readDirSync(dir)) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory) age(p, ageMs);
    if (!e.name.startsWith(".index")) Deno.utimeSync(p, t, t);
  }
  Deno.utimeSync(dir, t, t);
}

/** Write objects, close (snapshot), age the folders, close again so the snapshot records settled times. */
function settledStore(root: string): void {
  const a = core(root);
  a.open();
  for (let s = 0; s < 3; s++) for (let o = 0; o < 4; o++) a.put(`app/s${s}/o${o}`, opaque(`v-${s}-${o}`));
  a.put("two/part", opaque("seed"));
  a.patch("app/s1/o1", enc.encode("+p"));
  a.close();
  age(root);
  const b = core(root);
  b.open();
  b.close();
}

function summaryOf(root: string): { c: CacheCore; summary: string } {
  const c = core(root);
  return { c, summary: c.open() };
}

Deno.test(
  "snapshot: unchanged folders are taken from it, with versions, sizes and patches",
  withRoot((root) => {
    settledStore(root);
    const { c, summary } = summaryOf(root);
    assert.match(summary, /13 objects, 1 patches/);
    assert.match(summary, /12 from the snapshot/, summary); // two/part's folder is the app's sibling: scanned
    assert.equal(c.stat("app/s1/o1")?.version, 2);
    assert.equal(c.stat("app/s1/o1")?.deltaCount, 1);
    assert.equal(c.stat("app/s2/o3")?.size, 5);
    assert.equal(text(c.get("app/s1/o1")), "v-1-1+p");
    assert.equal(c.list({ value: "app/s0", exact: false }).length, 4);
    // Patching an object from the snapshot continues its patch numbering.
    assert.equal(c.patch("app/s1/o1", enc.encode("+q")).version, 3);
    assert.deepEqual([...Deno.readDirSync(`${root}/app/s1/o1.deltas`)].map((e) => e.name).sort(), [
      "0.arrow",
      "1.arrow",
    ]);
    c.close();
  }),
);

Deno.test(
  "snapshot: a folder written since (or a patch folder) is scanned again; it never answers stale data",
  withRoot((root) => {
    settledStore(root);
    // Another writer while the cache was stopped: a new object, an updated object, a deleted one and a patch.
    const a = core(root);
    a.open();
    a.put("app/s0/new", opaque("new"));
    a.put("app/s2/o0", opaque("updated"));
    a.delete({ value: "app/s2/o1", exact: true });
    a.patch("app/s1/o1", enc.encode("+x"));
    // Crash: no close, so the settled snapshot stays as it was.
    const { c, summary } = summaryOf(root);
    assert.match(summary, /13 objects/);
    assert.equal(text(c.get("app/s0/new")), "new");
    assert.equal(c.stat("app/s2/o0")?.version, 2);
    assert.equal(c.stat("app/s2/o1"), null);
    assert.equal(c.stat("app/s1/o1")?.version, 3);
    assert.equal(text(c.get("app/s1/o1")), "v-1-1+p+x");
    assert.equal(c.list({ value: "", exact: false }).length, 13);
    // s0 and s2 changed and were scanned; s1's folder did not (only o1's patch folder did): o1 was
    // scanned, its 3 other objects still come from the snapshot.
    assert.match(summary, /3 from the snapshot/, summary);
  }),
);

Deno.test(
  "snapshot: folders changed within RACY_MS of the snapshot are scanned; a damaged snapshot is ignored",
  withRoot((root) => {
    const a = core(root);
    a.open();
    a.put("app/s/o", opaque("x"));
    a.close(); // the folder changed just now: not settled
    let { summary } = summaryOf(root);
    assert.match(summary, /0 from the snapshot/);
    assert.ok(RACY_MS >= 1000);
    age(root);
    core(root).close(); // never opened: no index, no snapshot written
    const b = core(root);
    b.open();
    b.close();
    ({ summary } = summaryOf(root));
    assert.match(summary, /1 from the snapshot/);
    // Flip a byte of the snapshot: its checksum fails, every file is read.
    const path = `${root}/${SNAPSHOT_NAME}`;
    const bytes = Deno.readFileSync(path);
    bytes[20] ^= 0xff;
    Deno.writeFileSync(path, bytes);
    ({ summary } = summaryOf(root));
    assert.match(summary, /1 objects.*0 from the snapshot \(none usable\)/);
  }),
);

Deno.test(
  "snapshot: the disk budget needs file sizes, so a snapshot written without a budget is not used with one",
  withRoot((root) => {
    settledStore(root);
    const c = core(root, 1 << 30);
    const summary = c.open();
    assert.match(summary, /0 from the snapshot \(none usable\)/);
    c.close();
  }),
);

Deno.test(
  "loading in steps: gets, puts, patches and exact deletes are served before the index is complete",
  withRoot((root) => {
    settledStore(root);
    const c = core(root);
    c.begin();
    assert.equal(c.indexComplete, false);
    // Not indexed yet: found on disk.
    assert.equal(text(c.get("app/s2/o2")), "v-2-2");
    assert.equal(c.put("app/s2/o3", opaque("again")).version, 2);
    assert.equal(c.patch("app/s0/o0", enc.encode("+1")).version, 2);
    assert.equal(c.delete({ value: "app/s0/o1", exact: true }), 1);
    assert.equal(c.put("app/s0/o1", opaque("back")).version, 2, "versions never go backwards");
    for (
      const op of [
        () => c.list({ value: "app", exact: false }),
        () => c.delete({ value: "app/s1", exact: false }),
      ]
    ) {
      assert.throws(op, (e) => e instanceof CacheError && e.code === Status.UNAVAILABLE);
    }
    let steps = 0;
    while (c.loadStep()) steps++;
    assert.ok(steps >= 3);
    assert.equal(c.indexComplete, true);
    const listed = c.list({ value: "", exact: false });
    assert.equal(listed.length, 13, "the walk does not add keys twice or bring deleted ones back");
    assert.equal(listed.find((s) => s.key === "app/s2/o3")?.version, 2);
    assert.equal(listed.find((s) => s.key === "app/s0/o0")?.version, 2);
    assert.equal(c.delete({ value: "app/s1", exact: false }), 4);
    c.close();
  }),
);
