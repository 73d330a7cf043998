/**
 * FsEngine taking over folders written by others: the Flame-written vectors under tests/vectors/
 * (ZSTD and uncompressed, flamepy local storage, native tables), legacy version-0 bases and patches,
 * and a folder written by pyarrow when a Python with pyarrow is available (skipped otherwise).
 */
import assert from "node:assert/strict";
import { CacheCore } from "../../src/store/_core.ts";
import { FsEngine } from "../../src/store/fs/mod.ts";
import { opaqueFileParts } from "../../src/arrow/mod.ts";
import type { NativeBody, StoredObject } from "../../src/store/types.ts";
import { crc32 } from "node:zlib";
import { findPyarrowPython, NO_PYARROW } from "../helpers/python.ts";
import { skipUnless } from "../helpers/skip.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const LIMITS = { policy: "lru" as const, maxMemory: 1 << 30, maxObjects: Infinity };
const VECTORS = new URL("../vectors/", import.meta.url);
const manifest = JSON.parse(Deno.readTextFileSync(new URL("ipc-manifest.json", VECTORS))) as Record<
  string,
  { version: number; data_b64?: string; rows?: number }
>;

function open(root: string): { cache: CacheCore; summary: string } {
  const cache = new CacheCore(new FsEngine(root), LIMITS);
  return { cache, summary: cache.open() };
}

function data(obj: StoredObject): Uint8Array {
  assert.equal(obj.body.type, "opaque");
  return (obj.body as { data: Uint8Array }).data;
}

function b64(s: string): Uint8Array {
  return Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
}

function place(root: string, rel: string, bytes: Uint8Array): void {
  const path = `${root}/${rel}`;
  Deno.mkdirSync(path.slice(0, path.lastIndexOf("/")), { recursive: true });
  Deno.writeFileSync(path, bytes);
}

function vector(name: string): Uint8Array {
  return Deno.readFileSync(new URL(name, VECTORS));
}

function fileOf(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.byteLength;
  }
  return out;
}

function withRoot(fn: (root: string) => void | Promise<void>): () => Promise<void> {
  return async () => {
    const root = Deno.makeTempDirSync({ prefix: "fs_engine_compat_" });
    try {
      await fn(root);
    } finally {
      Deno.removeSync(root, { recursive: true });
    }
  };
}

Deno.test(
  "serves a folder written by Flame's Rust server and flamepy local storage (test vectors)",
  withRoot((root) => {
    place(root, "app/s/plain.arrow", vector("opaque.arrow"));
    place(root, "app/s/zstd.arrow", vector("opaque-zstd.arrow"));
    place(root, "app/s/zstd.deltas/0.arrow", vector("opaque-delta-zstd.arrow"));
    place(root, "app/s/local.arrow", vector("opaque-flamepy-local.arrow"));
    place(root, "app/s/table.arrow", vector("native.arrow"));
    place(root, "app/s/table-zstd.arrow", vector("native-zstd.arrow"));
    place(root, "sess/seed.arrow", vector("opaque-flamepy-local.arrow"));
    const { cache, summary } = open(root);
    assert.match(summary, /6 objects, 1 patches/);
    assert.match(summary, /0 quarantined/);

    const want = b64(manifest["opaque.arrow"].data_b64!);
    assert.equal(cache.stat("app/s/plain")?.version, 3);
    assert.equal(cache.stat("app/s/plain")?.size, want.length);
    assert.deepEqual(data(cache.get("app/s/plain")), want);

    const z = cache.stat("app/s/zstd")!;
    assert.deepEqual([z.baseVersion, z.version, z.deltaCount], [3, 4, 1]);
    assert.equal(z.size, want.length + b64(manifest["opaque-delta-zstd.arrow"].data_b64!).length);
    const zo = cache.get("app/s/zstd");
    assert.deepEqual(data(zo), want);
    assert.deepEqual(zo.deltas.map((d) => d.version), [4]);
    assert.deepEqual(zo.deltas[0].data, b64(manifest["opaque-delta-zstd.arrow"].data_b64!));

    assert.equal(cache.stat("app/s/local")?.version, 0);
    assert.deepEqual(data(cache.get("app/s/local")), b64(manifest["opaque-flamepy-local.arrow"].data_b64!));
    assert.deepEqual(data(cache.get("sess/seed")), b64(manifest["opaque-flamepy-local.arrow"].data_b64!));

    for (const key of ["app/s/table", "app/s/table-zstd"]) {
      const st = cache.stat(key)!;
      assert.equal(st.kind, "native");
      assert.equal(st.version, 2);
      assert.equal(st.rows, 12);
      const body = cache.get(key).body as NativeBody;
      assert.equal(body.rows, 12);
      assert.equal(body.messages.filter((m) => !m.isDictionary).length, 3);
    }
    // Both tables decode to the same uncompressed buffers.
    const a = cache.get("app/s/table").body as NativeBody;
    const b = cache.get("app/s/table-zstd").body as NativeBody;
    assert.equal(a.messages.length, b.messages.length);
    a.messages.forEach((m, i) => assert.deepEqual(b.messages[i].body, m.body, `message ${i}`));

    // Flame objects take new versions from where they are; the patch lands as 1.arrow.
    assert.equal(cache.patch("app/s/zstd", enc.encode("mine")).version, 5);
    assert.ok(Deno.statSync(`${root}/app/s/zstd.deltas/1.arrow`).isFile);
    assert.equal(cache.put("app/s/local", { type: "opaque", data: enc.encode("v1") }).version, 1);
    const again = open(root).cache;
    assert.deepEqual(again.get("app/s/zstd").deltas.map((d) => [d.version, d.data.length]), [[4, 10], [
      5,
      4,
    ]]);
    assert.equal(dec.decode(data(again.get("app/s/local"))), "v1");
  }),
);

Deno.test(
  "legacy version-0 bases and patches get Flame's synthetic versions (base + position + 1)",
  withRoot((root) => {
    const v0 = (s: string) => fileOf(opaqueFileParts(0, [enc.encode(s)], s.length, crc32(enc.encode(s))));
    place(root, "app/s/old.arrow", vector("opaque-flamepy-local.arrow")); // version 0, no metadata
    place(root, "app/s/old.deltas/0.arrow", v0("d0"));
    place(root, "app/s/old.deltas/1.arrow", v0("d1"));
    const { cache, summary } = open(root);
    assert.match(summary, /1 objects, 2 patches/);
    const st = cache.stat("app/s/old")!;
    assert.deepEqual([st.baseVersion, st.version, st.deltaCount], [0, 2, 2]);
    const obj = cache.get("app/s/old");
    assert.deepEqual(obj.deltas.map((d) => [d.version, dec.decode(d.data)]), [[1, "d0"], [2, "d1"]]);
    assert.equal(cache.patch("app/s/old", enc.encode("d2")).version, 3);
    const again = open(root).cache.get("app/s/old");
    assert.deepEqual(again.deltas.map((d) => [d.version, dec.decode(d.data)]), [[1, "d0"], [2, "d1"], [
      3,
      "d2",
    ]]);
    // An update of a legacy object starts real versions; the version-0 patches are gone.
    const c = open(root).cache;
    assert.equal(c.put("app/s/old", { type: "opaque", data: enc.encode("new") }).version, 4);
    assert.equal(open(root).cache.get("app/s/old").deltas.length, 0);
  }),
);

// ---------------------------------------------------------------------------------------------------
// pyarrow-written folder

const PYTHON = findPyarrowPython();

const PY_WRITER = `
import sys, json, hashlib
import pyarrow as pa
root = sys.argv[1]
import os
def payload(n, k):
    return bytes(((i * 31 + k) % 251) for i in range(n))
def opaque(path, version, data, compression=None, nullable=True):
    schema = pa.schema([pa.field("version", pa.uint64(), nullable=nullable), pa.field("data", pa.binary(), nullable=nullable)])
    batch = pa.record_batch([pa.array([version], pa.uint64()), pa.array([data], pa.binary())], schema=schema)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    opts = pa.ipc.IpcWriteOptions(compression=compression)
    with pa.ipc.new_file(path, schema, options=opts) as w:
        w.write_batch(batch)
out = {}
def note(key, version, data, deltas=()):
    out[key] = {"version": version, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data),
                "deltas": [[v, hashlib.sha256(d).hexdigest()] for v, d in deltas]}
# flamepy local storage: nullable fields, version 0, uncompressed
d = payload(1000, 1); opaque(f"{root}/py/s/local.arrow", 0, d)
l0 = payload(10, 6); opaque(f"{root}/py/s/local.deltas/0.arrow", 0, l0)
l1 = payload(20, 7); opaque(f"{root}/py/s/local.deltas/1.arrow", 0, l1)
note("py/s/local", 0, d, [(1, l0), (2, l1)])
# Flame Rust server: non-null, ZSTD, version 3, two patches
d = payload(300000, 2); opaque(f"{root}/py/s/zstd.arrow", 3, d, "zstd", False)
p1 = payload(100, 3); opaque(f"{root}/py/s/zstd.deltas/0.arrow", 4, p1, "zstd", False)
p2 = payload(70000, 4); opaque(f"{root}/py/s/zstd.deltas/1.arrow", 5, p2, "zstd", False)
note("py/s/zstd", 3, d, [(4, p1), (5, p2)])
# big uncompressed file without metadata (its version lives in the body)
d = payload(200000, 5); opaque(f"{root}/py/s/big.arrow", 7, d); note("py/s/big", 7, d)
# a head larger than one start-up read: 100 KB of schema metadata
schema = pa.schema([pa.field("version", pa.uint64()), pa.field("data", pa.binary())], metadata={"pad": "x" * 100000})
d = payload(5000, 8)
with pa.ipc.new_file(f"{root}/py/s/bigmeta.arrow", schema) as w:
    w.write_batch(pa.record_batch([pa.array([9], pa.uint64()), pa.array([d], pa.binary())], schema=schema))
note("py/s/bigmeta", 9, d)
# native tables: ZSTD, and one with a dictionary column
md = {"flame.cache.format": "arrow-table-v1", "flame.cache.version": "4", "flame.cache.logical_type": "pyarrow.table"}
t = pa.table({"id": pa.array(range(1000), pa.int64()), "name": pa.array([f"n{i}" for i in range(1000)]),
              "cat": pa.array(["a", "b", "c", "a"] * 250).dictionary_encode()}).replace_schema_metadata(md)
for name, comp in (("table", None), ("table-zstd", "zstd")):
    path = f"{root}/py/s/{name}.arrow"
    with pa.ipc.new_file(path, t.schema, options=pa.ipc.IpcWriteOptions(compression=comp)) as w:
        for b in t.to_batches(max_chunksize=300):
            w.write_batch(b)
    out[f"py/s/{name}"] = {"version": 4, "rows": 1000, "native": True}
print(json.dumps(out))
`;

Deno.test({
  name: "serves a Flame-layout folder written by pyarrow (opaque plain/ZSTD, native tables)",
  ignore: skipUnless("pyarrow", PYTHON !== undefined, NO_PYARROW),
  fn: withRoot(async (root) => {
    const r = new Deno.Command(PYTHON!, { args: ["-c", PY_WRITER, root], stderr: "piped" }).outputSync();
    assert.ok(r.success, dec.decode(r.stderr));
    const expected = JSON.parse(dec.decode(r.stdout)) as Record<
      string,
      {
        version: number;
        sha256?: string;
        size?: number;
        deltas?: [number, string][];
        rows?: number;
        native?: boolean;
      }
    >;
    const { cache, summary } = open(root);
    assert.match(summary, new RegExp(`${Object.keys(expected).length} objects, 4 patches`));
    assert.match(summary, /0 quarantined/);
    const sha = async (b: Uint8Array) =>
      Array.from(
        new Uint8Array(await crypto.subtle.digest("SHA-256", b.slice())),
        (x) => x.toString(16).padStart(2, "0"),
      )
        .join("");
    for (const [key, want] of Object.entries(expected)) {
      const st = cache.stat(key)!;
      assert.ok(st, key);
      assert.equal(st.baseVersion, want.version, key);
      const obj = cache.get(key);
      if (want.native) {
        assert.equal(st.kind, "native");
        assert.equal(st.rows, want.rows);
        const body = obj.body as NativeBody;
        assert.equal(body.rows, want.rows);
        assert.ok(body.messages.some((m) => m.isDictionary), "dictionary batches kept");
        continue;
      }
      assert.equal(st.size, want.size! + (obj.deltas.reduce((n, d) => n + d.data.length, 0)), key);
      assert.equal(await sha(data(obj)), want.sha256, key);
      assert.deepEqual(
        await Promise.all(obj.deltas.map(async (d) => [d.version, await sha(d.data)])),
        want.deltas,
        key,
      );
    }
    // A file that flamepy's local mode writes while the server runs is found on first use.
    const late = new Deno.Command(PYTHON!, {
      args: [
        "-c",
        "import sys, pyarrow as pa\n" +
        "s = pa.schema([('version', pa.uint64()), ('data', pa.binary())])\n" +
        "b = pa.record_batch([pa.array([0], pa.uint64()), pa.array([b'late bytes'])], schema=s)\n" +
        "w = pa.ipc.new_file(sys.argv[1], s); w.write_batch(b); w.close()",
        `${root}/py/s/late.arrow`,
      ],
    }).outputSync();
    assert.ok(late.success);
    assert.equal(cache.stat("py/s/late")?.version, 0);
    assert.equal(dec.decode(data(cache.get("py/s/late"))), "late bytes");
  }),
});
