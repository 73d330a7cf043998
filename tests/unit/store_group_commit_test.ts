/**
 * Group commit of puts (CacheCore.putMany -> FsEngine.writeBases -> io.commitMany): a batch is
 * durable and indexed like the same puts one by one, repeated keys apply in order, one bad put fails
 * alone, and the worker store batches concurrent puts.
 */
import assert from "node:assert/strict";
import { CacheCore, type CacheLimits } from "../../src/store/_core.ts";
import { FsEngine } from "../../src/store/fs/mod.ts";
import { commitMany, writeTemp } from "../../src/store/fs/_io.ts";
import { WorkerStore } from "../../src/store/mod.ts";
import type { ObjectBody } from "../../src/store/types.ts";

const enc = new TextEncoder();
const LIMITS: CacheLimits = { policy: "lru", maxMemory: 1 << 30, maxObjects: Infinity };
const opaque = (s: string): ObjectBody => ({ type: "opaque", data: enc.encode(s) });

function tempRoot(): string {
  return Deno.makeTempDirSync({ prefix: "fs_group_commit_" });
}

Deno.test("putMany: every put durable and indexed; repeated keys in order; a bad put fails alone", async () => {
  const root = tempRoot();
  try {
    const cache = new CacheCore(new FsEngine(root), LIMITS);
    cache.open();
    const bad: ObjectBody = { type: "native", schemaHeader: new Uint8Array([1, 2, 3]), batches: [] } as never;
    const outcomes = await cache.putMany([
      ["app/s1/a", opaque("a1")],
      ["app/s1/b", opaque("b1")],
      ["app/s2/c", opaque("c1")],
      ["app/s1/a", opaque("a2")], // same key again: a second group, version 2
      ["app/s1/bad", bad],
      ["app/s1/d", opaque("d1")],
    ]);
    const versions = outcomes.map((o) => ("stat" in o ? o.stat.version : `error ${o.error.code}`));
    assert.deepEqual(versions.slice(0, 4), [1, 1, 1, 2]);
    assert.match(String(versions[4]), /^error \d+$/, "the malformed put fails on its own");
    assert.equal(versions[5], 1);
    cache.close();
    // After a restart (the files are what counts), the same objects and versions.
    const again = new CacheCore(new FsEngine(root), LIMITS);
    again.open();
    const got = (k: string) => new TextDecoder().decode((again.get(k).body as { data: Uint8Array }).data);
    assert.equal(got("app/s1/a"), "a2");
    assert.equal(again.stat("app/s1/a")?.version, 2);
    assert.equal(got("app/s1/b"), "b1");
    assert.equal(got("app/s2/c"), "c1");
    assert.equal(got("app/s1/d"), "d1");
    assert.equal(again.stat("app/s1/bad"), null);
    // No temp files left behind.
    for (const dir of ["app/s1", "app/s2"]) {
      for (const e of Deno.readDirSync(`${root}/${dir}`)) assert.ok(!e.name.includes(".tmp-"), e.name);
    }
    again.close();
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("commitMany: a write that cannot be flushed or renamed fails alone and leaves no temp file", async () => {
  const root = tempRoot();
  try {
    Deno.mkdirSync(`${root}/d1`);
    Deno.mkdirSync(`${root}/d2`);
    const ok = writeTemp(root, `${root}/d1`, "x.arrow", [enc.encode("x")]);
    const doomed = writeTemp(root, `${root}/d2`, "y.arrow", [enc.encode("y")]);
    // Its folder disappears before the rename.
    Deno.removeSync(`${root}/d2`, { recursive: true });
    const errors = await commitMany([ok, doomed]);
    assert.equal(errors[0], null);
    assert.ok(errors[1] instanceof Error);
    assert.deepEqual([...Deno.readDirSync(`${root}/d1`)].map((e) => e.name), ["x.arrow"]);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("WorkerStore: concurrent durable puts are group-committed and all acknowledged", async () => {
  const root = tempRoot();
  const store = new WorkerStore({ storage: { kind: "fs", root }, limits: LIMITS });
  try {
    await store.open();
    const stats = await Promise.all(
      Array.from({ length: 100 }, (_, i) => store.put(`app/s${i % 3}/o${i}`, opaque(`v${i}`))),
    );
    assert.deepEqual(stats.map((s) => s.version), stats.map(() => 1));
    const same = await Promise.all([1, 2, 3, 4].map((n) => store.put("app/s0/same", opaque(`n${n}`))));
    assert.deepEqual(
      same.map((s) => s.version).sort(),
      [1, 2, 3, 4],
      "one key: versions in order, none lost",
    );
    const obj = await store.get("app/s0/same");
    assert.equal(obj.baseVersion, 4);
    assert.equal((await store.list({ value: "app", exact: false })).length, 101);
  } finally {
    await store.close();
    Deno.removeSync(root, { recursive: true });
  }
});
