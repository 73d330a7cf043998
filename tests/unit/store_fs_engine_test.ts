/**
 * FsEngine behind CacheCore: round trips through restarts, patches, updates, deletes, native tables,
 * two-part keys, temp files, the disk budget.
 */
import assert from "node:assert/strict";
import { CacheCore, type CacheLimits } from "../../src/store/_core.ts";
import type { FsEngine } from "../../src/store/fs/mod.ts";
import { CheckpointedFsEngine, listTree, withRoot } from "../helpers/fs_engine.ts";
import { CacheError, Status } from "../../src/errors.ts";
import { NATIVE_FORMAT_KEY, NATIVE_VERSION_KEY, readIpcFile } from "../../src/arrow/mod.ts";
import type { NativeBody, StoredObject } from "../../src/store/types.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const LIMITS: CacheLimits = { policy: "lru", maxMemory: 1 << 30, maxObjects: Infinity };
const opaque = (s: string | Uint8Array) => ({
  type: "opaque" as const,
  data: typeof s === "string" ? enc.encode(s) : s,
});
const text = (obj: StoredObject) => dec.decode((obj.body as { data: Uint8Array }).data);

/** The engine opened last on each root: a new open stops it first (a restart, log checkpointed). */
const live = new Map<string, FsEngine>();

function open(
  root: string,
  capacity?: number,
  limits = LIMITS,
): { cache: CacheCore; summary: string; engine: FsEngine } {
  live.get(root)?.close();
  const engine = new CheckpointedFsEngine(root, { capacity });
  live.set(root, engine);
  const cache = new CacheCore(engine, limits);
  const summary = cache.open();
  return { cache, summary, engine };
}

Deno.test(
  "round trip through a restart: bytes, versions, Flame layout",
  withRoot((root) => {
    const a = open(root).cache;
    assert.equal(a.put("app/s1/o1", opaque("hello")).version, 1);
    assert.equal(a.put("app/s1/o1", opaque("hello again")).version, 2);
    a.put("app/s2/o2", opaque(""));
    a.close();
    // No .trash/ folder: puts of objects without patches have nothing to move there. `.index` is the
    // index snapshot written at close.
    assert.deepEqual(listTree(root), [
      ".index",
      "app/",
      "app/s1/",
      "app/s1/o1.arrow",
      "app/s2/",
      "app/s2/o2.arrow",
    ]);

    const { cache: b, summary } = open(root);
    assert.match(summary, /2 objects, 0 patches/);
    assert.equal(b.stat("app/s1/o1")?.version, 2);
    assert.equal(b.stat("app/s1/o1")?.size, 11);
    const obj = b.get("app/s1/o1");
    assert.equal(obj.baseVersion, 2);
    assert.equal(text(obj), "hello again");
    assert.equal(text(b.get("app/s2/o2")), "");
    assert.equal(b.put("app/s1/o1", opaque("third")).version, 3);
  }),
);

Deno.test(
  "patches survive restarts with their versions; an update drops them",
  withRoot((root) => {
    const a = open(root).cache;
    a.put("app/s/o", opaque("base"));
    assert.equal(a.patch("app/s/o", enc.encode("p1")).version, 2);
    assert.equal(a.patch("app/s/o", enc.encode("p2")).version, 3);
    assert.deepEqual(listTree(`${root}/app/s`), [
      "o.arrow",
      "o.deltas/",
      "o.deltas/0.arrow",
      "o.deltas/1.arrow",
    ]);

    const { cache: b, summary } = open(root);
    assert.match(summary, /1 objects, 2 patches/);
    const st = b.stat("app/s/o")!;
    assert.equal(st.version, 3);
    assert.equal(st.baseVersion, 1);
    assert.equal(st.deltaCount, 2);
    assert.equal(st.size, 8);
    const obj = b.get("app/s/o");
    assert.deepEqual(obj.deltas.map((d) => [d.version, dec.decode(d.data)]), [[2, "p1"], [3, "p2"]]);
    assert.equal(b.patch("app/s/o", enc.encode("p3")).version, 4);

    const c = open(root).cache;
    assert.equal(c.get("app/s/o").deltas.length, 3);
    const up = c.put("app/s/o", opaque("new base"));
    assert.equal(up.version, 5);
    assert.equal(up.deltaCount, 0);
    assert.deepEqual(listTree(`${root}/app/s`), ["o.arrow"]);

    const d = open(root).cache;
    const again = d.get("app/s/o");
    assert.equal(again.baseVersion, 5);
    assert.equal(again.deltas.length, 0);
    assert.equal(text(again), "new base");
    assert.equal(d.patch("app/s/o", enc.encode("after")).version, 6);
    assert.deepEqual(open(root).cache.get("app/s/o").deltas.map((x) => x.version), [6]);
  }),
);

Deno.test(
  "delete exact, session and app; versions continue; empty session folder kept",
  withRoot((root) => {
    const a = open(root).cache;
    for (const k of ["a/s1/o1", "a/s1/o2", "a/s2/o1", "a/s10/o1", "b/s1/o1"]) a.put(k, opaque(k));
    a.patch("a/s1/o1", enc.encode("p"));
    assert.equal(a.delete({ value: "a/s1/o1", exact: true }), 1);
    assert.ok(!listTree(root).some((p) => p.startsWith("a/s1/o1")));
    assert.equal(a.delete({ value: "a/s1", exact: false }), 1);
    assert.equal(open(root).cache.stat("a/s1/o2"), null);
    assert.equal(a.delete({ value: "a", exact: false }), 2);
    assert.deepEqual(listTree(root).filter((p) => !p.startsWith(".")), ["b/", "b/s1/", "b/s1/o1.arrow"]);
    assert.deepEqual(listTree(`${root}/.trash`), [], "trash emptied");
    assert.equal(
      a.put("a/s1/o1", opaque("again")).version,
      3,
      "the cache remembers versions of deleted keys",
    );

    const b = open(root).cache;
    assert.deepEqual(b.list({ value: "", exact: false }).map((s) => s.key), ["a/s1/o1", "b/s1/o1"]);
    assert.equal(b.delete({ value: "", exact: false }), 2);
    b.close(); // a clean stop checkpoints and removes the write-ahead log, then writes the index snapshot
    assert.deepEqual(listTree(root), [".index", ".trash/"]);
  }),
);

Deno.test(
  "delete of a prefix removes files the index never saw (as Flame does)",
  withRoot((root) => {
    const a = open(root).cache;
    a.put("app/s/o", opaque("x"));
    Deno.writeTextFileSync(`${root}/app/s/notes.txt`, "stray");
    a.delete({ value: "app/s", exact: false });
    assert.ok(!listTree(root).includes("app/s/"));
  }),
);

Deno.test(
  "two-part keys of the seed layout: {root}/{session}/{object}.arrow",
  withRoot((root) => {
    const a = open(root).cache;
    a.put("sess/obj", opaque("two"));
    a.patch("sess/obj", enc.encode("+p"));
    a.put("sess/sub/obj", opaque("three"));
    assert.deepEqual(listTree(root).filter((p) => !p.startsWith(".")), [
      "sess/",
      "sess/obj.arrow",
      "sess/obj.deltas/",
      "sess/obj.deltas/0.arrow",
      "sess/sub/",
      "sess/sub/obj.arrow",
    ]);
    const b = open(root).cache;
    assert.deepEqual(b.list({ value: "", exact: false }).map((s) => [s.key, s.version]), [
      ["sess/obj", 2],
      ["sess/sub/obj", 1],
    ]);
    assert.equal(text(b.get("sess/obj")), "two");
    assert.equal(b.delete({ value: "sess/obj", exact: true }), 1);
    assert.deepEqual(open(root).cache.list({ value: "", exact: false }).map((s) => s.key), ["sess/sub/obj"]);
  }),
);

Deno.test(
  "reserved folder names are refused as keys",
  withRoot((root) => {
    const a = open(root).cache;
    assert.throws(
      () => a.put(".trash/s/o", opaque("x")),
      (e) => e instanceof CacheError && e.code === Status.INVALID_ARGUMENT,
    );
    assert.throws(
      () => a.get(".quarantine/s/o"),
      (e) => e instanceof CacheError && e.code === Status.NOT_FOUND,
    );
  }),
);

Deno.test(
  "native tables round-trip with their schema metadata and without the checksum key",
  withRoot((root) => {
    const file = readIpcFile(Deno.readFileSync(new URL("../vectors/native.arrow", import.meta.url)));
    const body: NativeBody = {
      type: "native",
      schemaHeader: file.schemaHeader,
      messages: file.messages.map((m) => ({
        header: m.header,
        body: m.body,
        isDictionary: m.message.kind === "dictionaryBatch",
      })),
      rows: file.messages.reduce(
        (n, m) => n + (m.message.kind === "recordBatch" ? m.message.batch.length : 0),
        0,
      ),
    };
    const a = open(root).cache;
    const st = a.put("app/s/table", body);
    assert.equal(st.kind, "native");
    const { cache: b } = open(root);
    const s2 = b.stat("app/s/table")!;
    assert.equal(s2.kind, "native");
    assert.equal(s2.version, st.version);
    assert.equal(s2.rows, body.rows);
    assert.equal(s2.size, st.size);
    const got = b.get("app/s/table");
    assert.equal(got.body.type, "native");
    const nb = got.body as NativeBody;
    assert.equal(nb.rows, body.rows);
    assert.equal(nb.messages.length, body.messages.length);
    nb.messages.forEach((m, i) => assert.deepEqual(m.body, body.messages[i].body));
    const schema = readIpcFile(Deno.readFileSync(`${root}/app/s/table.arrow`)).schema;
    assert.equal(schema.metadata.get(NATIVE_FORMAT_KEY), "arrow-table-v1");
    assert.equal(schema.metadata.get(NATIVE_VERSION_KEY), String(st.version));
    assert.match(schema.metadata.get("flame.cache.crc32") ?? "", /^[0-9a-f]{8}$/);
    // What is served carries the version but not the storage checksum.
    const served = readIpcFile(Deno.readFileSync(`${root}/app/s/table.arrow`));
    assert.ok(served.schema.metadata.has("flame.cache.crc32"));
    const again = b.get("app/s/table").body as NativeBody;
    assert.ok(!new TextDecoder().decode(again.schemaHeader).includes("flame.cache.crc32"));
    assert.ok(new TextDecoder().decode(again.schemaHeader).includes(NATIVE_VERSION_KEY));
  }),
);

Deno.test(
  "large payloads load into SharedArrayBuffers; small ones do not",
  withRoot((root) => {
    const big = new Uint8Array(300_000);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 0xff;
    const a = open(root).cache;
    a.put("app/s/big", opaque(big));
    a.put("app/s/small", opaque("tiny"));
    a.patch("app/s/big", big.subarray(0, 70_000));
    const b = open(root).cache;
    const obj = b.get("app/s/big");
    const data = (obj.body as { data: Uint8Array }).data;
    assert.ok(data.buffer instanceof SharedArrayBuffer);
    assert.deepEqual(data, big);
    assert.ok(obj.deltas[0].data.buffer instanceof SharedArrayBuffer);
    assert.ok(
      !((b.get("app/s/small").body as { data: Uint8Array }).data.buffer instanceof SharedArrayBuffer),
    );
  }),
);

Deno.test(
  "leftover temp files and trash are removed at open",
  withRoot((root) => {
    const a = open(root).cache;
    a.put("app/s/o", opaque("x"));
    a.patch("app/s/o", enc.encode("p"));
    Deno.writeTextFileSync(`${root}/app/s/.o.arrow.tmp-0123456789ab`, "half written");
    Deno.writeTextFileSync(`${root}/app/s/o.deltas/.1.arrow.tmp-abcdef012345`, "half");
    Deno.writeTextFileSync(`${root}/app/s/.tmp-aaaaaaaaaaaa`, "long name temp");
    Deno.mkdirSync(`${root}/.trash/123-abc/x`, { recursive: true });
    Deno.writeTextFileSync(`${root}/.trash/123-abc/x/0.arrow`, "deleted");
    // A real object whose id merely looks like a temp name stays.
    a.put("app/s/.z.tmp-0123456789ab", opaque("keep me"));
    const { cache: b, summary } = open(root);
    assert.match(summary, /3 temp files removed/);
    assert.match(summary, /1 trash entries removed/);
    assert.deepEqual(listTree(root), [
      ".trash/",
      "app/",
      "app/s/",
      "app/s/.z.tmp-0123456789ab.arrow",
      "app/s/o.arrow",
      "app/s/o.deltas/",
      "app/s/o.deltas/0.arrow",
    ]);
    assert.equal(text(b.get("app/s/.z.tmp-0123456789ab")), "keep me");
    assert.equal(b.get("app/s/o").deltas.length, 1);
  }),
);

Deno.test(
  "objects written by another process after start-up are found by probe",
  withRoot((root) => {
    const a = open(root).cache;
    const b = open(root).cache;
    b.put("app/s/late", opaque("from b"));
    b.patch("app/s/late", enc.encode("!"));
    assert.equal(a.stat("app/s/late")?.version, 2);
    const obj = a.get("app/s/late");
    assert.equal(text(obj), "from b");
    assert.equal(dec.decode(obj.deltas[0].data), "!");
    assert.equal(a.patch("app/s/late", enc.encode("?")).version, 3);
    assert.deepEqual(listTree(`${root}/app/s/late.deltas`), ["0.arrow", "1.arrow"]);
  }),
);

Deno.test(
  "memory eviction reloads from disk",
  withRoot((root) => {
    const { cache } = open(root, undefined, { policy: "lru", maxMemory: 1000, maxObjects: 2 });
    for (let i = 0; i < 5; i++) cache.put(`app/s/o${i}`, opaque(`payload ${i}`));
    assert.equal(cache.usage().residentObjects, 2);
    for (let i = 0; i < 5; i++) assert.equal(text(cache.get(`app/s/o${i}`)), `payload ${i}`);
    assert.ok(cache.counters.loads >= 3);
  }),
);

Deno.test(
  "disk capacity: least recently used whole objects are deleted and forgotten",
  withRoot((root) => {
    const payload = new Uint8Array(1000);
    const { cache, engine } = open(root, 1 << 30);
    cache.put("app/s/probe", opaque(payload));
    const file = Deno.statSync(`${root}/app/s/probe.arrow`).size; // payload + IPC framing
    cache.delete({ value: "app/s/probe", exact: true });
    const small = open(root, 3 * file + 500);
    const c = small.cache;
    c.put("app/s/a", opaque(payload));
    c.put("app/s/b", opaque(payload));
    c.patch("app/s/a", new Uint8Array(10));
    c.put("app/s/c", opaque(payload)); // over budget: b is the least recently used
    assert.ok(small.engine.diskBytes <= 3 * file + 500, `disk bytes ${small.engine.diskBytes}`);
    assert.equal(c.stat("app/s/b"), null);
    assert.ok(c.stat("app/s/a"));
    assert.ok(c.stat("app/s/c"));
    assert.deepEqual(listTree(`${root}/app/s`), ["a.arrow", "a.deltas/", "a.deltas/0.arrow", "c.arrow"]);
    c.get("app/s/a"); // a memory hit still counts as a use
    c.put("app/s/d", opaque(payload)); // now c is the oldest
    assert.equal(c.stat("app/s/c"), null);
    assert.ok(c.stat("app/s/a"));
    assert.equal(c.put("app/s/c", opaque("back")).version, 2, "version continues after eviction");
    // An object larger than the budget is kept; everything else goes.
    c.put("app/s/huge", opaque(new Uint8Array(5 * file)));
    assert.deepEqual(c.list({ value: "", exact: false }).map((s) => s.key), ["app/s/huge"]);
    assert.equal(engine.name, "fs");
    // The budget applies at start-up too.
    const again = open(root, 1000);
    assert.match(again.summary, /0 objects/);
    assert.match(again.summary, /1 evicted over capacity/);
  }),
);

Deno.test(
  "a key part too long for the file system is INVALID_ARGUMENT and leaves nothing behind",
  withRoot((root) => {
    const { cache } = open(root);
    const lines: string[] = [];
    const original = Deno.stderr.writeSync;
    Deno.stderr.writeSync = (b: Uint8Array) => (lines.push(dec.decode(b)), b.byteLength);
    try {
      assert.throws(
        () => cache.put(`app/s/${"x".repeat(300)}`, opaque("x")),
        (e) => e instanceof CacheError && e.code === Status.INVALID_ARGUMENT && !e.message.includes(root),
      );
    } finally {
      Deno.stderr.writeSync = original;
    }
    // Refused before anything is logged or created (not even the session folder).
    assert.deepEqual(listTree(root).filter((p) => !p.endsWith("/")), []);
    assert.equal(cache.put(`app/s/${"y".repeat(240)}`, opaque("long but fine")).version, 1);
    assert.equal(text(open(root).cache.get(`app/s/${"y".repeat(240)}`)), "long but fine");
  }),
);
