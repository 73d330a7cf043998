/**
 * File transfers through the client against a real server: a 64 MiB upload and
 * download in constant memory (the RSS of this test process must not grow by
 * anything like the file size), progress callbacks, atomic replacement of the
 * target, refusals (patched objects, missing objects) that leave no files
 * behind, and native tables downloaded as Arrow IPC streams.
 */
import assert from "node:assert/strict";
import { tableFromArrays, tableFromIPC } from "apache-arrow";
import { CacheClientError, FlameCacheClient, NotFoundError, type Progress } from "../../src/client/mod.ts";
import { startServer } from "../helpers/server.ts";

const MiB = 1024 * 1024;
const FILE_MIB = 64;

/** Chunk `i` of the test file: 1 MiB of a pattern that differs per chunk. */
function chunk(i: number, out = new Uint8Array(MiB)): Uint8Array {
  const dv = new DataView(out.buffer);
  for (let off = 0; off < MiB; off += 4) dv.setUint32(off, (i * 2654435761 + off * 40503) >>> 0, true);
  return out;
}

async function writeTestFile(path: string, mib: number): Promise<void> {
  const f = await Deno.open(path, { write: true, create: true, truncate: true });
  const buf = new Uint8Array(MiB);
  for (let i = 0; i < mib; i++) {
    chunk(i, buf);
    let off = 0;
    while (off < buf.length) off += await f.write(buf.subarray(off));
  }
  f.close();
}

/** Compare a file with the pattern, 1 MiB at a time. */
async function checkTestFile(path: string, mib: number): Promise<void> {
  assert.equal((await Deno.stat(path)).size, mib * MiB);
  const f = await Deno.open(path, { read: true });
  const buf = new Uint8Array(MiB);
  const want = new Uint8Array(MiB);
  try {
    for (let i = 0; i < mib; i++) {
      let fill = 0;
      while (fill < MiB) {
        const n = await f.read(buf.subarray(fill));
        assert.ok(n !== null, "file too short");
        fill += n!;
      }
      chunk(i, want);
      assert.ok(buf.every((b, j) => b === want[j]), `chunk ${i} differs`);
    }
  } finally {
    f.close();
  }
}

/** Sample the RSS every 5 ms while `fn` runs; resolves with the peak. */
async function peakRss<T>(fn: () => Promise<T>): Promise<{ value: T; peak: number }> {
  let peak = Deno.memoryUsage().rss;
  const timer = setInterval(() => (peak = Math.max(peak, Deno.memoryUsage().rss)), 5);
  try {
    const value = await fn();
    peak = Math.max(peak, Deno.memoryUsage().rss);
    return { value, peak };
  } finally {
    clearInterval(timer);
  }
}

/**
 * Child mode (`deno run --v8-flags=--expose-gc <this file> child ENDPOINT DIR`):
 * upload and download the 64 MiB file, forcing a GC every 2 MiB, and print how
 * much each transfer's peak RSS exceeds the RSS just before it, as JSON. Forcing GC separates
 * live memory (what a client holding the object would keep) from garbage that
 * V8 collects lazily: Deno's node:http2 copies each written chunk into fresh
 * external buffers, and V8 lets ~64 MiB of those pile up before collecting.
 */
async function child(endpoint: string, dir: string): Promise<void> {
  const gc = (globalThis as unknown as { gc: () => void }).gc;
  const client = await FlameCacheClient.connect(endpoint, { cache: false });
  let nextGc = 0;
  const onProgress = (p: Progress) => {
    if (p.bytes >= nextGc) {
      gc();
      nextGc = p.bytes + 2 * MiB;
    }
  };
  const small = await client.uploadFile("app/warm", `${dir}/small.bin`);
  await client.downloadFile(small, `${dir}/small.out`);
  gc();
  // Each transfer's peak RSS minus the RSS just before it.
  const growth: Record<string, number> = {};
  const measure = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    nextGc = 0;
    gc();
    const before = Deno.memoryUsage().rss;
    const r = await peakRss(fn);
    growth[name] = r.peak - before;
    return r.value;
  };
  const ref = await measure(
    "upload",
    () => client.uploadFile("app/files/input.bin", `${dir}/input.bin`, { onProgress }),
  );
  await measure("download", () => client.downloadFile(ref, `${dir}/output.bin`, { onProgress }));
  await measure("getObject", () => client.getObject(ref)); // holds the object: the contrast
  await client.close();
  console.log(JSON.stringify(growth));
}

if (import.meta.main && Deno.args[0] === "child") await child(Deno.args[1], Deno.args[2]);

Deno.test({
  name: "client files: 64 MiB upload and download stream in constant memory",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir();
    const server = await startServer();
    const client = await FlameCacheClient.connect(server.endpoint);
    try {
      const src = `${dir}/input.bin`;
      await writeTestFile(src, FILE_MIB);
      await writeTestFile(`${dir}/small.bin`, 2);

      // Memory: a child process with a forced GC every 2 MiB reports its RSS.
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          "--v8-flags=--expose-gc",
          new URL(import.meta.url).pathname,
          "child",
          server.endpoint,
          dir,
        ],
        stdout: "piped",
        stderr: "inherit",
      }).output();
      assert.equal(out.code, 0, "child transfer process");
      const rss = JSON.parse(new TextDecoder().decode(out.stdout));
      const grew = (k: string) => rss[k] / MiB;
      console.log(
        `RSS growth: upload ${grew("upload").toFixed(1)} MiB, download ${grew("download").toFixed(1)} MiB, ` +
          `getObject ${grew("getObject").toFixed(1)} MiB (file ${FILE_MIB} MiB)`,
      );
      // Live memory is bounded by windows and queues (16 MiB stream window, 2 MiB
      // reply queue, 8 x 1 MiB upload rows), typically 10-50 MiB here, not by the file.
      assert.ok(grew("upload") < FILE_MIB, `upload RSS grew by ${grew("upload").toFixed(1)} MiB`);
      assert.ok(grew("download") < FILE_MIB, `download RSS grew by ${grew("download").toFixed(1)} MiB`);
      // The contrast: getObject holds the object (RSS is sampled, so its peak may be partly missed).
      assert.ok(
        grew("getObject") >= FILE_MIB * 0.5 && grew("getObject") > grew("download"),
        "the contrast: getObject holds the object",
      );
      await checkTestFile(`${dir}/output.bin`, FILE_MIB);

      // Correctness in this process: progress, stat, atomic replacement.
      const progress: Progress[] = [];
      const ref = await client.uploadFile("app/files/input.bin", src, {
        onProgress: (p) => progress.push(p),
      });
      assert.deepEqual([ref.key, ref.version], ["app/files/input.bin", 2]);
      assert.equal(progress.length, FILE_MIB);
      assert.deepEqual(progress.at(-1), { bytes: FILE_MIB * MiB, total: FILE_MIB * MiB });
      const info = await client.stat(ref.key);
      assert.equal(info.size, FILE_MIB * MiB);
      assert.equal(info.records, 1);

      const target = `${dir}/output.bin`;
      await Deno.writeTextFile(target, "old contents, replaced atomically");
      let last: Progress | undefined;
      const res = await client.downloadFile(ref, target, { onProgress: (p) => (last = p) });
      assert.deepEqual(res, { kind: "opaque", version: 2, bytes: FILE_MIB * MiB, path: target });
      assert.deepEqual(last, { bytes: FILE_MIB * MiB, total: FILE_MIB * MiB });
      await checkTestFile(target, FILE_MIB);
      assert.deepEqual((await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort(), [
        "input.bin",
        "output.bin",
        "small.bin",
        "small.out",
      ]);
    } finally {
      await client.close();
      await server.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "client files: refusals leave no files; native tables download as IPC streams",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir();
    const server = await startServer();
    const client = await FlameCacheClient.connect(server.endpoint);
    try {
      // Missing object: NOT_FOUND, target untouched, no temp file.
      await Deno.writeTextFile(`${dir}/keep.txt`, "keep");
      await assert.rejects(() => client.downloadFile("app/s/missing", `${dir}/keep.txt`), NotFoundError);
      assert.equal(await Deno.readTextFile(`${dir}/keep.txt`), "keep");
      // Patched object: refused like Flame's SDKs.
      const ref = await client.putObject("app/s", new Uint8Array(3 * MiB).fill(1));
      await client.patchObject(ref, new Uint8Array([2]));
      const err = await client.downloadFile(ref, `${dir}/patched.bin`).catch((e) => e);
      assert.ok(err instanceof CacheClientError && err.codeName === "FAILED_PRECONDITION", String(err));
      // Missing local file for upload: a Deno error naming the file.
      await assert.rejects(() => client.uploadFile("app/s", `${dir}/nope.bin`), Deno.errors.NotFound);
      assert.deepEqual((await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name), ["keep.txt"]);
      // Empty file round trip.
      await Deno.writeFile(`${dir}/empty`, new Uint8Array(0));
      const empty = await client.uploadFile("app/s", `${dir}/empty`);
      const got = await client.getObject(empty);
      assert.equal(got.kind === "opaque" && got.base.length, 0);
      assert.equal((await client.downloadFile(empty, `${dir}/empty.out`)).bytes, 0);
      assert.equal((await Deno.stat(`${dir}/empty.out`)).size, 0);
      // Native table: the file is an Arrow IPC stream.
      const table = tableFromArrays({ n: Int32Array.from([4, 5, 6]), s: ["x", "y", "z"] });
      const tref = await client.putObject("app/t", table);
      const res = await client.downloadFile(tref, `${dir}/table.arrows`);
      assert.equal(res.kind, "native");
      const back = tableFromIPC(await Deno.readFile(`${dir}/table.arrows`));
      assert.deepEqual([...back.getChild("n")!], [4, 5, 6]);
      // streamObject into any sink.
      const parts: Uint8Array[] = [];
      const s = await client.streamObject(ref.key.replace(/\/[^/]+$/, "/") + empty.key.split("/")[2], {
        write: (d) => Promise.resolve(void parts.push(d)),
      });
      assert.equal(s.bytes, 0);
    } finally {
      await client.close();
      await server.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "client files: round trip through a server with fs storage (replies streamed from disk)",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir();
    const server = await startServer([], { storage: `${dir}/store` });
    const client = await FlameCacheClient.connect(server.endpoint);
    try {
      await writeTestFile(`${dir}/in.bin`, 24);
      const ref = await client.uploadFile("app/fs", `${dir}/in.bin`);
      const res = await client.downloadFile(ref, `${dir}/out.bin`);
      assert.equal(res.bytes, 24 * MiB);
      await checkTestFile(`${dir}/out.bin`, 24);
      const got = await client.getObject(ref);
      assert.ok(got.kind === "opaque" && got.base.length === 24 * MiB);
      await client.patchObject(ref, new Uint8Array([9]));
      const patched = await client.getObject(ref);
      assert.deepEqual(patched.kind === "opaque" && patched.patches.map((p) => [p.version, p.data[0]]), [[
        2,
        9,
      ]]);
      assert.equal(client.cacheStats()!.patched, 0, "own patch invalidated the entry: full read");
    } finally {
      await client.close();
      await server.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
