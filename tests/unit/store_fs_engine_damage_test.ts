/**
 * FsEngine with damaged folders: truncated, bit-flipped, garbage and empty files, inconsistent patches
 * and crash leftovers. Start-up carries on, damaged objects go to .quarantine with one JSON log line,
 * reads get DATA_LOSS once and NOT_FOUND after, and wrong bytes are never returned.
 */
import assert from "node:assert/strict";
import { CacheCore } from "../../src/store/_core.ts";
import type { FsEngine } from "../../src/store/fs/mod.ts";
import { CheckpointedFsEngine } from "../helpers/fs_engine.ts";
import { CacheError, Status } from "../../src/errors.ts";
import { opaqueFileParts } from "../../src/arrow/mod.ts";
import type { StoredObject } from "../../src/store/types.ts";
import { crc32 } from "node:zlib";

const enc = new TextEncoder();
const dec = new TextDecoder();
const LIMITS = { policy: "lru" as const, maxMemory: 1 << 30, maxObjects: Infinity };

/** The engine opened last on each root: a new open stops it first (a restart, log checkpointed). */
const live = new Map<string, FsEngine>();

function open(root: string): { cache: CacheCore; summary: string } {
  live.get(root)?.close();
  const engine = new CheckpointedFsEngine(root);
  live.set(root, engine);
  const cache = new CacheCore(engine, LIMITS);
  return { cache, summary: cache.open() };
}

const text = (obj: StoredObject) => dec.decode((obj.body as { data: Uint8Array }).data);
const isCode = (code: number) => (e: unknown) => e instanceof CacheError && e.code === code;

/** Run `fn` with stderr captured; returns the lines written. */
function captureStderr(fn: () => void): string[] {
  const lines: string[] = [];
  const original = Deno.stderr.writeSync;
  Deno.stderr.writeSync = (b: Uint8Array) => {
    lines.push(...dec.decode(b).split("\n").filter((l) => l !== ""));
    return b.byteLength;
  };
  try {
    fn();
  } finally {
    Deno.stderr.writeSync = original;
  }
  return lines;
}

function quarantined(root: string): string[] {
  try {
    return [...Deno.readDirSync(`${root}/.quarantine`)].map((e) => e.name).sort();
  } catch {
    return [];
  }
}

function withRoot(fn: (root: string) => void): () => void {
  return () => {
    const root = Deno.makeTempDirSync({ prefix: "fs_engine_corrupt_" });
    try {
      fn(root);
    } finally {
      Deno.removeSync(root, { recursive: true });
    }
  };
}

function seed(root: string, keys: string[]): void {
  const c = open(root).cache;
  for (const k of keys) c.put(k, { type: "opaque", data: enc.encode(`payload of ${k}`) });
  c.close(); // stopped cleanly: the files are at rest, the log is gone
}

Deno.test(
  "open() quarantines truncated, garbage and empty files and serves the rest",
  withRoot((root) => {
    seed(root, ["app/s/good", "app/s/trunc", "app/s/garbage", "app/s/empty", "app/s/headless"]);
    const trunc = Deno.readFileSync(`${root}/app/s/trunc.arrow`);
    Deno.writeFileSync(`${root}/app/s/trunc.arrow`, trunc.subarray(0, trunc.length - 100));
    Deno.writeFileSync(`${root}/app/s/garbage.arrow`, crypto.getRandomValues(new Uint8Array(3000)));
    Deno.writeFileSync(`${root}/app/s/empty.arrow`, new Uint8Array(0));
    const headless = Deno.readFileSync(`${root}/app/s/headless.arrow`);
    headless[0] ^= 0xff; // leading magic broken, footer intact
    Deno.writeFileSync(`${root}/app/s/headless.arrow`, headless);

    let summary = "";
    let cache!: CacheCore;
    const lines = captureStderr(() => ({ cache, summary } = open(root)));
    assert.match(summary, /1 objects/);
    assert.match(summary, /4 quarantined/);
    assert.equal(lines.length, 4, lines.join("\n"));
    for (const line of lines) {
      const ev = JSON.parse(line);
      assert.equal(ev.level, "error");
      assert.equal(ev.msg, "damaged object quarantined");
      assert.match(ev.key, /^app\/s\/(trunc|garbage|empty|headless)$/);
      assert.equal(typeof ev.reason, "string");
    }
    assert.deepEqual(quarantined(root).map((n) => n.replace(/~.*$/, "")), [
      "app%2Fs%2Fempty.arrow",
      "app%2Fs%2Fgarbage.arrow",
      "app%2Fs%2Fheadless.arrow",
      "app%2Fs%2Ftrunc.arrow",
    ]);
    assert.equal(text(cache.get("app/s/good")), "payload of app/s/good");
    for (const k of ["app/s/trunc", "app/s/garbage", "app/s/empty", "app/s/headless"]) {
      assert.throws(() => cache.get(k), isCode(Status.NOT_FOUND));
    }
    // The keys can be written again.
    assert.equal(cache.put("app/s/trunc", { type: "opaque", data: enc.encode("fresh") }).version, 1);
    assert.match(open(root).summary, /2 objects, 0 patches.*0 quarantined/);
  }),
);

Deno.test(
  "a flipped payload byte fails the checksum: DATA_LOSS, quarantined, then NOT_FOUND",
  withRoot((root) => {
    seed(root, ["app/s/o", "app/s/other"]);
    const path = `${root}/app/s/o.arrow`;
    const bytes = Deno.readFileSync(path);
    const at = dec.decode(bytes).indexOf("payload of app/s/o");
    assert.ok(at > 0);
    bytes[at + 3] ^= 0x20;
    Deno.writeFileSync(path, bytes);
    const { cache, summary } = open(root);
    assert.match(summary, /2 objects/, "the footer is intact, so start-up indexes it");
    let error: unknown;
    const lines = captureStderr(() => {
      try {
        cache.get("app/s/o");
      } catch (e) {
        error = e;
      }
    });
    assert.ok(isCode(Status.DATA_LOSS)(error), String(error));
    assert.match((error as Error).message, /checksum/);
    assert.equal(lines.length, 1);
    assert.equal(JSON.parse(lines[0]).file, "app/s/o.arrow");
    assert.equal(quarantined(root).length, 1);
    assert.throws(() => Deno.statSync(path), Deno.errors.NotFound);
    assert.throws(() => cache.get("app/s/o"), isCode(Status.NOT_FOUND));
    assert.deepEqual(cache.list({ value: "", exact: false }).map((s) => s.key), ["app/s/other"]);
    assert.equal(cache.put("app/s/o", { type: "opaque", data: enc.encode("x") }).version, 2);
  }),
);

Deno.test(
  "a damaged patch quarantines the whole object (base and patches)",
  withRoot((root) => {
    const c = open(root).cache;
    c.put("app/s/o", { type: "opaque", data: enc.encode("base") });
    c.patch("app/s/o", enc.encode("patch one"));
    c.patch("app/s/o", enc.encode("patch two"));
    const path = `${root}/app/s/o.deltas/1.arrow`;
    const bytes = Deno.readFileSync(path);
    bytes[dec.decode(bytes).indexOf("patch two")] ^= 1;
    Deno.writeFileSync(path, bytes);
    const { cache } = open(root);
    captureStderr(() => assert.throws(() => cache.get("app/s/o"), isCode(Status.DATA_LOSS)));
    assert.deepEqual(quarantined(root).map((n) => n.replace(/~.*$/, "")), [
      "app%2Fs%2Fo.arrow",
      "app%2Fs%2Fo.deltas",
    ]);
    assert.deepEqual([...Deno.readDirSync(`${root}/app/s`)], []);
    assert.throws(() => cache.get("app/s/o"), isCode(Status.NOT_FOUND));
  }),
);

Deno.test(
  "crash leftovers: stale patches after an interrupted update, orphan patch folders",
  withRoot((root) => {
    const c = open(root).cache;
    c.put("app/s/upd", { type: "opaque", data: enc.encode("old base") });
    c.patch("app/s/upd", enc.encode("p2"));
    c.patch("app/s/upd", enc.encode("p3"));
    // Simulate a crash after the new base (version 4) was renamed in, before the patches were dropped.
    const base = enc.encode("new base");
    const parts = opaqueFileParts(4, [base], base.length, crc32(base));
    const file = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    parts.reduce((pos, p) => (file.set(p, pos), pos + p.length), 0);
    Deno.writeFileSync(`${root}/app/s/upd.arrow`, file);
    // Simulate a crash mid-delete: base gone, patches left.
    c.put("app/s/del", { type: "opaque", data: enc.encode("deleted") });
    c.patch("app/s/del", enc.encode("p"));
    Deno.removeSync(`${root}/app/s/del.arrow`);
    c.put("two/del", { type: "opaque", data: enc.encode("deleted") });
    c.patch("two/del", enc.encode("p"));
    Deno.removeSync(`${root}/two/del.arrow`);

    const { cache, summary } = open(root);
    assert.match(summary, /1 objects, 0 patches/);
    assert.match(summary, /2 stale patches and 2 orphan patch folders dropped/);
    const obj = cache.get("app/s/upd");
    assert.equal(obj.baseVersion, 4);
    assert.equal(obj.deltas.length, 0);
    assert.equal(text(obj), "new base");
    assert.deepEqual([...Deno.readDirSync(`${root}/app/s`)].map((e) => e.name), ["upd.arrow"]);
    assert.deepEqual([...Deno.readDirSync(`${root}/two`)], []);
    assert.equal(cache.patch("app/s/upd", enc.encode("p5")).version, 5);
    assert.throws(() => cache.get("app/s/del"), isCode(Status.NOT_FOUND));
  }),
);

Deno.test(
  "stale patches are ignored on load even without a restart",
  withRoot((root) => {
    const c = open(root).cache;
    c.put("app/s/o", { type: "opaque", data: enc.encode("b1") });
    c.patch("app/s/o", enc.encode("p2"));
    // Another engine (process) updates the object while the patch folder is out of its sight, then the
    // folder comes back: its patch (version 2) is not newer than the new base (version 2).
    Deno.renameSync(`${root}/app/s/o.deltas`, `${root}/keep`);
    const other = open(root).cache;
    other.put("app/s/o", { type: "opaque", data: enc.encode("b3") });
    Deno.renameSync(`${root}/keep`, `${root}/app/s/o.deltas`);
    const fresh = new CacheCore(new CheckpointedFsEngine(root), LIMITS); // not opened: found by probe
    const obj = fresh.get("app/s/o");
    assert.equal(obj.baseVersion, 2, "the other engine never saw the patch, so its update is version 2");
    assert.equal(obj.deltas.length, 0);
  }),
);

Deno.test(
  "patch versions that do not increase are damage",
  withRoot((root) => {
    const c = open(root).cache;
    c.put("app/s/o", { type: "opaque", data: enc.encode("b") });
    c.patch("app/s/o", enc.encode("p2"));
    c.patch("app/s/o", enc.encode("p3"));
    const d = `${root}/app/s/o.deltas`;
    Deno.renameSync(`${d}/0.arrow`, `${d}/x`);
    Deno.renameSync(`${d}/1.arrow`, `${d}/0.arrow`);
    Deno.renameSync(`${d}/x`, `${d}/1.arrow`);
    let summary = "";
    captureStderr(() => ({ summary } = open(root)));
    assert.match(summary, /0 objects.*1 quarantined/);
  }),
);

Deno.test(
  "a damaged file written after start-up is quarantined on first use once it has settled",
  withRoot((root) => {
    const { cache } = open(root);
    Deno.mkdirSync(`${root}/app/s`, { recursive: true });
    Deno.writeFileSync(`${root}/app/s/late.arrow`, enc.encode("ARROW1 not really"));
    // Just written: maybe still being written in place by its writer, so not judged yet.
    assert.throws(() => cache.get("app/s/late"), isCode(Status.NOT_FOUND));
    assert.equal(quarantined(root).length, 0);
    const old = new Date(Date.now() - 60_000);
    Deno.utimeSync(`${root}/app/s/late.arrow`, old, old);
    captureStderr(() => assert.throws(() => cache.get("app/s/late"), isCode(Status.DATA_LOSS)));
    assert.throws(() => cache.get("app/s/late"), isCode(Status.NOT_FOUND));
    assert.equal(quarantined(root).length, 1);
  }),
);

Deno.test(
  "no single flipped byte anywhere in a file makes the engine return wrong bytes or crash",
  withRoot((root) => {
    const c = open(root).cache;
    const payload = enc.encode("the quick brown fox jumps over the lazy dog 0123456789");
    c.put("app/s/o", { type: "opaque", data: payload });
    c.patch("app/s/o", enc.encode("patch!"));
    const basePath = `${root}/app/s/o.arrow`;
    const deltaPath = `${root}/app/s/o.deltas/0.arrow`;
    const base = Deno.readFileSync(basePath);
    const delta = Deno.readFileSync(deltaPath);
    const outcomes = { served: 0, dataLoss: 0, notFound: 0 };
    const trial = (path: string, original: Uint8Array, i: number, mask: number) => {
      const bytes = original.slice();
      bytes[i] ^= mask;
      Deno.mkdirSync(`${root}/app/s/o.deltas`, { recursive: true });
      Deno.writeFileSync(basePath, path === basePath ? bytes : base);
      Deno.writeFileSync(deltaPath, path === deltaPath ? bytes : delta);
      captureStderr(() => {
        const { cache } = open(root);
        try {
          const obj = cache.get("app/s/o");
          assert.deepEqual((obj.body as { data: Uint8Array }).data, payload, `byte ${i} of ${path}`);
          assert.equal(obj.baseVersion, 1, `byte ${i}`);
          assert.deepEqual(
            obj.deltas.map((d) => [d.version, dec.decode(d.data)]),
            [[2, "patch!"]],
            `byte ${i}`,
          );
          outcomes.served++;
        } catch (e) {
          if (isCode(Status.DATA_LOSS)(e)) outcomes.dataLoss++;
          else if (isCode(Status.NOT_FOUND)(e)) outcomes.notFound++;
          else throw e;
        }
      });
      Deno.removeSync(`${root}/.quarantine`, { recursive: true });
      Deno.mkdirSync(`${root}/.quarantine`);
    };
    Deno.mkdirSync(`${root}/.quarantine`);
    for (let i = 0; i < base.length; i++) trial(basePath, base, i, i % 2 ? 0x01 : 0x80);
    for (let i = 0; i < delta.length; i += 3) trial(deltaPath, delta, i, 0x04);
    // Most flips land in metadata that does not change what is served (padding, the head schema copy).
    assert.ok(outcomes.dataLoss + outcomes.notFound > 100, JSON.stringify(outcomes));
  }),
);
