/**
 * Large uploads staged on disk (_staging.ts) and adopted by the fs engine as base files.
 */
import assert from "node:assert/strict";
import { crc32 } from "node:zlib";
import { CacheCore } from "../../src/store/_core.ts";
import { FsEngine } from "../../src/store/fs/mod.ts";
import { createStager, STAGING_HEAD_ROOM } from "../../src/store/fs/_staging.ts";
import type { StagedPayload, StoredObject } from "../../src/store/types.ts";

const enc = new TextEncoder();
const LIMITS = { policy: "lru" as const, maxMemory: 1 << 30, maxObjects: Infinity };

function open(root: string): { cache: CacheCore; summary: string } {
  const cache = new CacheCore(new FsEngine(root), LIMITS);
  return { cache, summary: cache.open() };
}

function withRoot(fn: (root: string) => Promise<void> | void): () => Promise<void> {
  return async () => {
    const root = Deno.makeTempDirSync({ prefix: "fs_engine_staging_" });
    try {
      await fn(root);
    } finally {
      Deno.removeSync(root, { recursive: true });
    }
  };
}

function pattern(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 131 + seed) & 0xff;
  return b;
}

const data = (obj: StoredObject) => (obj.body as { data: Uint8Array }).data;

async function stage(root: string, payload: Uint8Array, piece = 1 << 20): Promise<StagedPayload> {
  const writer = await createStager(root)("app/staging/test");
  for (let i = 0; i < payload.length; i += piece) await writer.write(payload.subarray(i, i + piece));
  return await writer.finish();
}

Deno.test(
  "a staged upload becomes the base file in place, survives a restart and drops patches",
  withRoot(async (root) => {
    const { cache } = open(root);
    cache.put("app/s/o", { type: "opaque", data: enc.encode("small base") });
    cache.patch("app/s/o", enc.encode("p"));
    const payload = pattern(3 * (1 << 20) + 5, 7);
    const staged = await stage(root, payload, 300_001);
    assert.equal(staged.dataOffset, STAGING_HEAD_ROOM);
    assert.equal(staged.length, payload.length);
    assert.equal(staged.crc32, crc32(payload) >>> 0);
    const st = cache.put("app/s/o", staged);
    assert.deepEqual([st.version, st.deltaCount, st.size], [3, 0, payload.length]);
    assert.deepEqual([...Deno.readDirSync(`${root}/.staging`)], [], "staging file consumed");
    assert.deepEqual([...Deno.readDirSync(`${root}/app/s`)].map((e) => e.name), ["o.arrow"]);
    const got = cache.get("app/s/o");
    assert.equal(got.baseVersion, 3);
    assert.deepEqual(data(got), payload);

    const again = open(root).cache;
    const s2 = again.stat("app/s/o")!;
    assert.deepEqual([s2.version, s2.size, s2.deltaCount], [3, payload.length, 0]);
    assert.deepEqual(data(again.get("app/s/o")), payload);
    assert.equal(again.patch("app/s/o", enc.encode("after")).version, 4);
  }),
);

Deno.test(
  "a staged file with a different head room is copied, and still verified on load",
  withRoot((root) => {
    const { cache } = open(root);
    const payload = pattern(200_000, 3);
    Deno.mkdirSync(`${root}/.staging`);
    const path = `${root}/.staging/foreign.staged`;
    const file = new Uint8Array(100 + payload.length);
    file.set(payload, 100);
    Deno.writeFileSync(path, file);
    const st = cache.put("app/s/copied", {
      type: "staged",
      path,
      dataOffset: 100,
      length: payload.length,
      crc32: crc32(payload) >>> 0,
    });
    assert.equal(st.version, 1);
    assert.throws(() => Deno.statSync(path), Deno.errors.NotFound);
    assert.deepEqual(data(open(root).cache.get("app/s/copied")), payload);
  }),
);

Deno.test(
  "unfinished uploads are removed at start-up; an aborted stage leaves nothing",
  withRoot(async (root) => {
    open(root);
    const writer = await createStager(root)("app/staging/test");
    await writer.write(pattern(1000, 1));
    await writer.abort();
    const left = await createStager(root)("app/staging/test");
    await left.write(pattern(1000, 2));
    await left.finish(); // never adopted: a crash between upload and store
    const { summary } = open(root);
    assert.match(summary, /1 unfinished uploads/);
    assert.deepEqual([...Deno.readDirSync(`${root}/.staging`)], []);
  }),
);
