/**
 * The fs engine's write-ahead log (src/store/fs/_wal.ts, _behind.ts): replay after a crash that lost the
 * files written behind the log, in order (puts, updates, patches, deletes of keys and prefixes); torn and
 * damaged log tails ignored, never applied; a clean stop leaves pure Flame layout; `relaxed` keeps no log.
 */
import assert from "node:assert/strict";
import { CacheCore, type CacheLimits } from "../../src/store/_core.ts";
import { FsEngine } from "../../src/store/fs/mod.ts";
import { decodeSegment, encodeRecord } from "../../src/store/fs/_wal.ts";
import type { StoredObject } from "../../src/store/types.ts";
import { listTree, withRoot } from "../helpers/fs_engine.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const LIMITS: CacheLimits = { policy: "lru", maxMemory: 1 << 30, maxObjects: Infinity };
const opaque = (s: string) => ({ type: "opaque" as const, data: enc.encode(s) });
const text = (obj: StoredObject) => dec.decode((obj.body as { data: Uint8Array }).data);

function open(root: string, durability: "sync" | "relaxed" = "sync", limits = LIMITS) {
  const engine = new FsEngine(root, { durability });
  const cache = new CacheCore(engine, limits);
  const summary = cache.open();
  return { cache, engine, summary };
}

/** A power cut before any checkpoint: every object file written behind the log is lost. */
function loseFilesBehindTheLog(root: string): void {
  for (const e of Deno.readDirSync(root)) {
    if (e.name !== ".wal") Deno.removeSync(`${root}/${e.name}`, { recursive: true });
  }
}

/** key -> [version, base text, patch texts] of everything listed. */
function state(cache: CacheCore): Record<string, [number, string, string[]]> {
  const out: Record<string, [number, string, string[]]> = {};
  for (const st of cache.list({ value: "", exact: false })) {
    const obj = cache.get(st.key);
    out[st.key] = [st.version, text(obj), obj.deltas.map((d) => dec.decode(d.data))];
  }
  return out;
}

function segmentPath(root: string): string {
  const names = [...Deno.readDirSync(`${root}/.wal`)].map((e) => e.name).sort();
  assert.equal(names.length, 1, `one log segment: ${names}`);
  return `${root}/.wal/${names[0]}`;
}

Deno.test(
  "replay restores every acknowledged write, in order, when the files behind the log were lost",
  withRoot(async (root) => {
    const a = open(root).cache;
    a.put("app/s1/o1", opaque("one"));
    a.put("app/s1/o1", opaque("one, updated"));
    a.patch("app/s1/o1", enc.encode("+p1"));
    a.patch("app/s1/o1", enc.encode("+p2"));
    // A group commit: one log append and one flush for all three.
    const group = await a.putMany([
      ["app/s2/o1", opaque("two")],
      ["app/s2/o2", opaque("gone with its session")],
      ["app/s3/o1", opaque("deleted exactly")],
    ]);
    assert.ok(group.every((o) => "stat" in o));
    a.delete({ value: "app/s3/o1", exact: true });
    a.delete({ value: "app/s2", exact: false });
    a.put("app/s2/o1", opaque("two, after its session was deleted"));
    a.put("sess/two", opaque("a two-part key"));
    a.patch("sess/two", enc.encode("+x"));
    a.put("sess/two", opaque("updated: the patch is dropped"));
    const want = state(a);
    assert.deepEqual(Object.keys(want).sort(), ["app/s1/o1", "app/s2/o1", "sess/two"]);

    loseFilesBehindTheLog(root);
    const { cache: b, summary } = open(root);
    assert.match(summary, /log records replayed/);
    assert.deepEqual(state(b), want);
    assert.ok(!listTree(root).some((p) => p.startsWith("app/s3/o1")), "the exact delete was replayed");
  }),
);

Deno.test(
  "a torn log tail or a damaged record is ignored, never applied as a wrong object",
  withRoot((root) => {
    const a = open(root).cache;
    a.put("app/s/first", opaque("first"));
    a.put("app/s/second", opaque("second"));
    const seg = segmentPath(root);
    const bytes = Deno.readFileSync(seg);
    loseFilesBehindTheLog(root);

    // Torn: the last record is cut short.
    Deno.writeFileSync(seg, bytes.subarray(0, bytes.length - 3));
    let b = open(root).cache;
    assert.deepEqual(Object.keys(state(b)), ["app/s/first"]);
    assert.equal(text(b.get("app/s/first")), "first");

    // Damaged: one byte of the last record's payload flipped (its checksum fails).
    loseFilesBehindTheLog(root);
    const flipped = bytes.slice();
    flipped[flipped.length - 40] ^= 0x01;
    Deno.writeFileSync(seg, flipped);
    b = open(root).cache;
    assert.deepEqual(Object.keys(state(b)), ["app/s/first"]);
  }),
);

Deno.test("decodeSegment: every truncation and every flipped byte yields a prefix of the records", () => {
  const recs = [
    encodeRecord("base", "app/s/a", 0, [enc.encode("payload a")]),
    encodeRecord("patch", "app/s/a", 3, [enc.encode("patch")]),
    encodeRecord("delete", "app/s", 0, []),
  ];
  const all = new Uint8Array(recs.reduce((n, r) => n + r.bytes, 0));
  let off = 0;
  const ends: number[] = [];
  for (const r of recs) {
    for (const p of r.parts) {
      all.set(p, off);
      off += p.byteLength;
    }
    ends.push(off);
  }
  const full = decodeSegment(all);
  assert.equal(full.torn, false);
  assert.deepEqual(full.records.map((r) => r.kind), ["base", "patch", "delete"]);
  assert.deepEqual(full.records[1], { kind: "patch", key: "app/s/a", n: 3, file: enc.encode("patch") });
  assert.deepEqual(full.records[2], { kind: "delete", exact: false, value: "app/s" });
  for (let cut = 0; cut < all.length; cut++) {
    const d = decodeSegment(all.subarray(0, cut));
    assert.equal(d.records.length, ends.filter((e) => e <= cut).length, `cut at ${cut}`);
  }
  for (let i = 0; i < all.length; i++) {
    const bad = all.slice();
    bad[i] ^= 0x40;
    const d = decodeSegment(bad);
    const hit = ends.findIndex((e) => i < e); // the record the flipped byte is in
    assert.equal(d.records.length, hit, `flip at ${i}`);
    assert.deepEqual(d.records, full.records.slice(0, hit));
  }
});

Deno.test(
  "a clean stop checkpoints and removes the log: pure Flame layout, read by a fresh engine",
  withRoot(async (root) => {
    const { cache, engine } = open(root);
    for (let i = 0; i < 100; i++) cache.put(`app/s/o${i}`, opaque(`object ${i}`)); // > the synchronous close
    cache.patch("app/s/o1", enc.encode("+p"));
    assert.ok(listTree(root).includes(".wal/"));
    await engine.close();
    const tree = listTree(root);
    assert.ok(!tree.some((p) => p.startsWith(".wal")), "no log left");
    assert.equal(tree.filter((p) => p.endsWith(".arrow")).length, 101);
    const { cache: b, summary } = open(root);
    assert.match(summary, /101 objects|100 objects, 1 patches/);
    assert.equal(text(b.get("app/s/o99")), "object 99");
  }),
);

Deno.test(
  "relaxed durability: reads see writes at once (from memory, then the files); a clean stop leaves Flame layout",
  withRoot(async (root) => {
    const tiny: CacheLimits = { policy: "lru", maxMemory: 16, maxObjects: 1 }; // reads come from the files
    const { cache, engine } = open(root, "relaxed", tiny);
    cache.put("app/s/a", opaque("alpha"));
    cache.put("app/s/b", opaque("beta"));
    cache.patch("app/s/a", enc.encode("+1"));
    assert.equal(text(cache.get("app/s/a")), "alpha");
    assert.equal(cache.get("app/s/a").deltas.length, 1);
    await engine.close();
    assert.deepEqual(listTree(root), [
      "app/",
      "app/s/",
      "app/s/a.arrow",
      "app/s/a.deltas/",
      "app/s/a.deltas/0.arrow",
      "app/s/b.arrow",
    ]);
  }),
);

Deno.test(
  "a large put that bypasses the log is not undone by replay of an older logged write",
  withRoot((root) => {
    const a = open(root).cache;
    a.put("app/s/o", opaque("small, logged"));
    a.delete({ value: "app/s", exact: false });
    const big = "L".repeat(2 * 1024 * 1024); // over the log's file limit: written in place
    a.put("app/s/o", opaque(big));
    // A crash now: the log replays; the large file is already durable and must win.
    const b = open(root).cache;
    assert.equal(text(b.get("app/s/o")).length, big.length);
  }),
);

Deno.test(
  "a large put that bypasses the log and fails midway leaves the acknowledged small version",
  withRoot((root) => {
    const a = open(root).cache;
    a.put("app/s/o", opaque("small v1, logged"));
    a.put("app/s/o", opaque("small v2, logged"));
    // A large put whose file cannot be created (its temp name is taken by a folder): it fails after
    // the log was checkpointed for it; a crash now must still find v2.
    const big = "L".repeat(2 * 1024 * 1024);
    const realOpen = Deno.openSync;
    Deno.openSync = ((path: string | URL, opts?: Deno.OpenOptions) => {
      if (String(path).includes(".o.arrow.tmp-")) throw new Deno.errors.PermissionDenied("injected");
      return realOpen(path, opts);
    }) as typeof Deno.openSync;
    try {
      assert.throws(() => a.put("app/s/o", opaque(big)));
    } finally {
      Deno.openSync = realOpen;
    }
    const b = open(root).cache;
    assert.equal(text(b.get("app/s/o")), "small v2, logged");
  }),
);

Deno.test(
  "relaxed: a patch is flushed at once, with its object's pending base written first",
  withRoot(async (root) => {
    const { cache, engine } = open(root, "relaxed");
    cache.put("app/s/o", opaque("base"));
    assert.ok(!listTree(root).includes("app/s/o.arrow"), "the base waits for the checkpoint");
    cache.patch("app/s/o", enc.encode("+p"));
    // Both files are on disk now, before any checkpoint: the patch never sits on an older base.
    assert.ok(listTree(root).includes("app/s/o.arrow"));
    assert.ok(listTree(root).includes("app/s/o.deltas/0.arrow"));
    const b = new CacheCore(new FsEngine(`${root}`, { durability: "relaxed" }), LIMITS);
    b.open();
    assert.deepEqual(state(b), { "app/s/o": [2, "base", ["+p"]] });
    await engine.close();
  }),
);

Deno.test(
  "disk budget: an object evicted before its checkpoint is not written after",
  withRoot(async (root) => {
    const engine = new FsEngine(root, { capacity: 3000 });
    const cache = new CacheCore(engine, LIMITS);
    cache.open();
    for (let i = 0; i < 6; i++) cache.put(`app/s/o${i}`, opaque("x".repeat(900)));
    const kept = cache.list({ value: "", exact: false }).map((s) => s.key);
    assert.ok(kept.length < 6, "some objects were evicted over the budget");
    await engine.close();
    const files = listTree(root).filter((p) => p.endsWith(".arrow")).map((p) => p.slice(0, -6)).sort();
    assert.deepEqual(files, kept.sort());
  }),
);
