/**
 * A full disk (issue 12, item 3): every write path answers ENOSPC/EDQUOT with RESOURCE_EXHAUSTED and a
 * message naming the key, leaves nothing half-written (no staging or temp file, the index unchanged),
 * and works again once space is freed; the server keeps serving.
 *
 * The disk is a small tmpfs (`mount -t tmpfs -o size=...`, needs root / CAP_SYS_ADMIN): the tests that
 * need it are skipped, with the reason printed, where mounting is refused.
 */
import assert from "node:assert/strict";
import { crc32 } from "node:zlib";
import { CacheError, Status } from "../../src/errors.ts";
import { CacheCore } from "../../src/store/_core.ts";
import { errnoCode, FsEngine, ioError, isDiskFull } from "../../src/store/fs/mod.ts";
import { createStager, STAGING_HEAD_ROOM } from "../../src/store/fs/_staging.ts";
import type { StoredObject } from "../../src/store/types.ts";
import { CacheClientError, FlameCacheClient } from "../../src/client/mod.ts";
import { startServer } from "../helpers/server.ts";
import { skipUnless } from "../helpers/skip.ts";
import { findPyarrowPython, NO_PYARROW } from "../helpers/python.ts";
import { haveWeed, startWeed } from "../helpers/services.ts";

const MiB = 1 << 20;
const LIMITS = { policy: "lru" as const, maxMemory: 1 << 30, maxObjects: Infinity };

// ---------------------------------------------------------------------------------------------------
// A tmpfs of a given size, mounted for one test.

/** Mount a `size` tmpfs on a new folder; returns the folder, or the reason it could not be mounted. */
function mountTmpfs(size: string): { dir: string } | { reason: string } {
  const dir = Deno.makeTempDirSync({ prefix: "flame_disk_full_" });
  let out: Deno.CommandOutput;
  try {
    out = new Deno.Command("mount", { args: ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", dir] })
      .outputSync();
  } catch (err) {
    Deno.removeSync(dir);
    return { reason: `mount could not be run: ${(err as Error).message}` };
  }
  if (!out.success) {
    Deno.removeSync(dir);
    return { reason: `mount -t tmpfs was refused: ${new TextDecoder().decode(out.stderr).trim()}` };
  }
  return { dir };
}

function unmount(dir: string): void {
  const out = new Deno.Command("umount", { args: [dir] }).outputSync();
  if (!out.success) new Deno.Command("umount", { args: ["-l", dir] }).outputSync();
  Deno.removeSync(dir, { recursive: true });
}

/** Whether this machine lets us mount a tmpfs (probed once, with a tiny one). */
const PROBE = (() => {
  const m = mountTmpfs("1m");
  if ("reason" in m) return m.reason;
  unmount(m.dir);
  return undefined;
})();
const NO_TMPFS = skipUnless("tmpfs", PROBE === undefined, PROBE ?? "");

/** Run `fn` on a fresh `size` tmpfs; always unmounted and removed afterwards. */
async function onTmpfs(size: string, fn: (dir: string) => Promise<void> | void): Promise<void> {
  const m = mountTmpfs(size);
  if ("reason" in m) throw new Error(m.reason);
  try {
    await fn(m.dir);
  } finally {
    unmount(m.dir);
  }
}

/** Fill the file system of `dir` to the last byte with `{dir}/filler`; returns its size. */
function fillDisk(dir: string): number {
  const file = Deno.openSync(`${dir}/filler`, { write: true, create: true, append: true });
  let total = 0;
  try {
    for (let chunk = 4 * MiB; chunk >= 512; chunk >>= 1) {
      const buf = new Uint8Array(chunk);
      for (;;) {
        try {
          total += file.writeSync(buf);
        } catch (err) {
          if (!isDiskFull(err)) throw err;
          break;
        }
      }
    }
  } finally {
    file.close();
  }
  return total;
}

/** Every file under `dir` (relative paths), skipping nothing. */
function walk(dir: string, rel = ""): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(`${dir}/${rel}`)) {
    const path = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory) out.push(...walk(dir, path));
    else out.push(path);
  }
  return out;
}

/** Files a failed write must never leave: staging files and temp files (`.{name}.tmp-{hex}`). */
function leftovers(dir: string): string[] {
  return walk(dir).filter((p) => p.startsWith(".staging/") || /(^|\/)\.[^/]*tmp-[0-9a-f]{12}$/.test(p));
}

function assertDiskFull(err: unknown, key: string): true {
  const code = err instanceof CacheError || err instanceof CacheClientError ? err.code : undefined;
  assert.equal(code, Status.RESOURCE_EXHAUSTED, `expected RESOURCE_EXHAUSTED, got ${err}`);
  const message = (err as Error).message;
  assert.ok(message.includes(key), `the message names the key ${key}: ${message}`);
  assert.ok(message.includes("the disk is full"), `the message says why: ${message}`);
  return true;
}

function pattern(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i += 4096) b[i] = (i / 4096 + seed) & 0xff;
  return b;
}

// ---------------------------------------------------------------------------------------------------
// The shared mapping, without a disk.

Deno.test("ioError maps ENOSPC and EDQUOT in every form Deno and node:fs report them", () => {
  const denoForm = Object.assign(new Error("No space left on device (os error 28)"), { code: "ENOSPC" });
  const messageOnly = new Error("No space left on device (os error 28)");
  const nodeForm = Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
  const wrapped = new Error("store error: ENOSPC: no space left on device, write");
  const quota = new Error("Disk quota exceeded (os error 122)");
  for (const err of [denoForm, messageOnly, nodeForm, wrapped]) {
    assert.equal(errnoCode(err), "ENOSPC", String(err));
    const e = ioError(err, "could not store app/s/o");
    assert.equal(e.code, Status.RESOURCE_EXHAUSTED);
    assert.equal(e.message, "could not store app/s/o: the disk is full (ENOSPC)");
  }
  assert.equal(errnoCode(quota), "EDQUOT");
  assert.equal(ioError(quota, "x").code, Status.RESOURCE_EXHAUSTED);
  assert.equal(ioError(new Error("File name too long (os error 36)"), "x").code, Status.INVALID_ARGUMENT);
  const other = ioError(new Error("Input/output error (os error 5)"), "could not store a/b");
  assert.deepEqual([other.code, other.message], [Status.INTERNAL, "could not store a/b: errno 5"]);
  const passed = new CacheError(Status.NOT_FOUND, "x");
  assert.equal(ioError(passed, "y"), passed);
});

// ---------------------------------------------------------------------------------------------------
// Each write path of the fs engine, on a disk filled to the last byte.

Deno.test({
  name: "fs engine on a full disk: puts, group commits, patches and staged adoptions fail cleanly",
  ignore: NO_TMPFS,
  fn: () =>
    onTmpfs("16m", async (root) => {
      const cache = new CacheCore(new FsEngine(root), LIMITS);
      cache.open();
      cache.put("app/s/kept", { type: "opaque", data: pattern(64 << 10, 1) });
      // A staged upload, complete before the disk fills: its adoption writes the head into the room and
      // the footer after the payload, which ends on a page boundary (tmpfs pages are 4 KiB), so the
      // footer needs a new page.
      const payload = pattern(2 * MiB - STAGING_HEAD_ROOM, 2);
      const writer = await createStager(root)("app/s/staged");
      await writer.write(payload);
      const staged = await writer.finish();
      assert.ok(fillDisk(root) > 0);

      // A plain put (writeBase).
      assert.throws(() => cache.put("app/s/new", { type: "opaque", data: pattern(256 << 10, 3) }), (err) =>
        assertDiskFull(err, "app/s/new"));
      // A group commit (writeBases): every put of the batch fails on its own.
      const outcomes = await cache.putMany([
        ["app/s/g1", { type: "opaque", data: pattern(256 << 10, 4) }],
        ["app/s/g2", { type: "opaque", data: pattern(256 << 10, 5) }],
      ]);
      outcomes.forEach((o, i) =>
        assert.ok("error" in o && assertDiskFull(o.error, `app/s/g${i + 1}`))
      );
      // A patch (delta file).
      assert.throws(() => cache.patch("app/s/kept", pattern(256 << 10, 6)), (err) =>
        assertDiskFull(err, "app/s/kept"));
      // The adoption of the staged file (head write into its room, footer, rename).
      assert.throws(() =>
        cache.put("app/s/staged", staged), (err) => assertDiskFull(err, "app/s/staged"));

      // Nothing half-written, the index unchanged, the object still whole.
      assert.deepEqual(leftovers(root), []);
      assert.deepEqual(cache.list({ value: "", exact: false }).map((s) => [s.key, s.version]), [[
        "app/s/kept",
        1,
      ]]);
      assert.equal(cache.stat("app/s/kept")?.deltaCount, 0);
      assert.deepEqual((cache.get("app/s/kept").body as { data: Uint8Array }).data, pattern(64 << 10, 1));

      // Space freed: every path works again.
      Deno.removeSync(`${root}/filler`);
      cache.put("app/s/new", { type: "opaque", data: pattern(256 << 10, 3) });
      const again = await cache.putMany([
        ["app/s/g1", { type: "opaque", data: pattern(256 << 10, 4) }],
        ["app/s/g2", { type: "opaque", data: pattern(256 << 10, 5) }],
      ]);
      assert.ok(again.every((o) => "stat" in o));
      assert.equal(cache.patch("app/s/kept", pattern(256 << 10, 6)).version, 2);
      const writer2 = await createStager(root)("app/s/staged");
      await writer2.write(payload);
      assert.equal(cache.put("app/s/staged", await writer2.finish()).size, payload.length);
      const fresh = new CacheCore(new FsEngine(root), LIMITS);
      fresh.open();
      const got: StoredObject = fresh.get("app/s/staged");
      assert.equal(got.body.type, "opaque");
      assert.equal(crc32((got.body as { data: Uint8Array }).data), crc32(payload));
      assert.deepEqual(leftovers(root), []);
    }),
});

Deno.test({
  name: "the staging writer fails RESOURCE_EXHAUSTED naming the key, and its file can be removed",
  ignore: NO_TMPFS,
  fn: () =>
    onTmpfs("4m", async (root) => {
      const writer = await createStager(root)("app/s/too-big");
      const chunk = pattern(MiB, 7);
      // Writes are batched (4 MiB): the failure shows on a write or at finish (the last flush).
      const failure = await (async () => {
        for (let i = 0; i < 8; i++) await writer.write(chunk);
        await writer.finish();
      })().then(() => undefined, (err) => err);
      assertDiskFull(failure, "app/s/too-big");
      await writer.abort();
      assert.deepEqual(leftovers(root), []);
    }),
});

Deno.test({
  name: "a staging write on a full disk asks for room (a replica's blob cache) and goes on where it stopped",
  ignore: NO_TMPFS,
  fn: () =>
    onTmpfs("8m", async (root) => {
      fillDisk(root);
      const asked: number[] = [];
      const makeRoom = (bytes: number) => {
        asked.push(bytes);
        // The first call frees the filler; later calls have nothing left to drop.
        return Promise.resolve(asked.length === 1 && (Deno.removeSync(`${root}/filler`), true));
      };
      const payload = new Uint8Array(6 * MiB + 123).map((_, i) => (i * 7) & 0xff); // every byte checked
      const writer = await createStager(root, makeRoom)("app/s/roomy");
      for (let i = 0; i < payload.length; i += 256 << 10) {
        await writer.write(payload.subarray(i, i + (256 << 10)));
      }
      const staged = await writer.finish();
      assert.equal(asked.length, 1);
      assert.equal(staged.length, payload.length);
      assert.equal(staged.crc32, crc32(payload) >>> 0);
      const file = Deno.readFileSync(staged.path);
      assert.deepEqual(file.subarray(staged.dataOffset, staged.dataOffset + staged.length), payload);

      // Nothing more to drop: the write fails RESOURCE_EXHAUSTED naming the key.
      fillDisk(root);
      const second = await createStager(root, makeRoom)("app/s/starved");
      const failure = await (async () => {
        for (let i = 0; i < 4; i++) await second.write(pattern(MiB, i));
        await second.finish();
      })().then(() => undefined, (err) => err);
      assertDiskFull(failure, "app/s/starved");
      assert.equal(asked.length, 2);
      await second.abort();
    }),
});

// ---------------------------------------------------------------------------------------------------
// A real server on a 64 MiB tmpfs, through the TS client.

Deno.test({
  name: "a server on a full 64 MiB disk answers RESOURCE_EXHAUSTED for 1-70 MiB uploads and keeps serving",
  ignore: NO_TMPFS,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    onTmpfs("64m", async (root) => {
      const server = await startServer(["--storage", root]);
      const client = await FlameCacheClient.connect(`grpc://${server.address}`);
      try {
        // 1 MiB puts are group-committed in memory; 24 and 70 MiB ones are staged (above the 16 MiB
        // streaming threshold); 16 MiB sits at the threshold.
        for (const size of [1, 16, 24, 70]) {
          const app = `full${size}`;
          const stored: string[] = [];
          let failure: unknown;
          let failedKey = "";
          for (let n = 0; n < 80 && failure === undefined; n++) {
            const key = `${app}/s/obj${n}`;
            try {
              stored.push((await client.putObject(key, pattern(size * MiB, n))).key);
            } catch (err) {
              failure = err;
              failedKey = key;
            }
          }
          assert.ok(failure !== undefined, `${size} MiB puts never filled the disk`);
          assertDiskFull(failure, failedKey);
          assert.deepEqual(leftovers(root), [], `after the failed ${size} MiB put`);
          // Still serving: reads, listings, a patch on the full disk is refused cleanly.
          if (stored.length > 0) {
            const got = await client.getObject(stored[0]);
            assert.equal(got.kind === "opaque" ? got.base.length : -1, size * MiB);
            if (size === 1) {
              await assert.rejects(
                client.patchObject(stored[0], pattern(4 * MiB, 9)),
                (err) => assertDiskFull(err, stored[0]),
              );
            }
          }
          assert.deepEqual((await client.list(`${app}/`)).map((o) => o.key).sort(), [...stored].sort());
          // Space freed: the same put works (70 MiB can never fit in 64 MiB: a 24 MiB one then).
          await client.deleteObjects(`${app}/*`);
          const retry = size === 70 ? 24 : size;
          const ref = await client.putObject(failedKey, pattern(retry * MiB, 3));
          assert.equal((await client.stat(ref.key)).size, retry * MiB);
          await client.deleteObjects(`${app}/*`);
          assert.deepEqual(leftovers(root), []);
        }
        const logs = server.logs();
        assert.ok(!logs.includes("transport error"), "no disk error is logged as a transport error");
        assert.ok(logs.includes("RESOURCE_EXHAUSTED"));
      } finally {
        await client.close();
        await server.stop();
      }
    }),
});

// ---------------------------------------------------------------------------------------------------
// Cluster mode: a replica on a 64 MiB tmpfs whose store is a SeaweedFS tier. The local disk holds
// staging files and cached tier blobs; the cache gives way to puts, and only a disk full of someone
// else's data fails a large put or get.

Deno.test({
  name: "a replica on a full local disk: cached blobs give way, then RESOURCE_EXHAUSTED naming the key",
  ignore: NO_TMPFS || !haveWeed(),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const weed = await startWeed();
    try {
      await onTmpfs("64m", async (root) => {
        const server = await startServer(
          [
            ...["--storage", root, "--remote", "s3://flame-cache/disk-full"],
            ...["--remote-endpoint", weed.s3Endpoint, "--remote-path-style"],
          ],
          {
            env: {
              AWS_ACCESS_KEY_ID: weed.credentials.accessKeyId,
              AWS_SECRET_ACCESS_KEY: weed.credentials.secretAccessKey,
            },
          },
        );
        const client = await FlameCacheClient.connect(`grpc://${server.address}`);
        const size = 24 * MiB;
        const noPartFiles = () => assert.deepEqual(walk(root).filter((p) => p.endsWith(".part")), []);
        try {
          // 5 x 24 MiB through a 64 MiB disk: each staged upload is kept as a cached blob file, and the
          // staging of the next one drops the oldest when the disk fills.
          for (let n = 0; n < 5; n++) await client.putObject(`tier/s/obj${n}`, pattern(size, n));
          // Every one reads back (old ones are fetched from the tier into the cache, making room).
          for (let n = 0; n < 5; n++) {
            const got = await client.getObject(`tier/s/obj${n}`);
            assert.equal(got.kind === "opaque" ? got.base[4096] : -1, (1 + n) & 0xff);
          }
          assert.deepEqual(leftovers(root), []);
          noPartFiles();

          // Someone else fills the disk: a put still gets room from the cache. Each late object is deleted
          // again (its cached file goes) and the disk refilled, until the cache is empty and a put fails.
          let failure: unknown;
          let failedKey = "";
          let n = 0;
          for (; n < 8 && failure === undefined; n++) {
            fillDisk(root);
            const key = `tier/late/obj${n}`;
            await client.putObject(key, pattern(size, n)).then(
              () => client.deleteObjects("tier/late"),
              (err) => {
                failure = err;
                failedKey = key;
              },
            );
          }
          assertDiskFull(failure, failedKey);
          assert.ok(n > 1, "the first put on the filled disk got room from the cache");
          assert.deepEqual(leftovers(root), []);
          // A large get needs the local disk: RESOURCE_EXHAUSTED naming the key, nothing half-copied.
          await assert.rejects(client.getObject("tier/s/obj0"), (err) => {
            assert.equal((err as CacheClientError).code, Status.RESOURCE_EXHAUSTED);
            assert.match((err as Error).message, /could not serve tier\/s\/obj0: the local disk is full/);
            return true;
          });
          noPartFiles();
          // Small objects do not need the disk: put and get still work.
          const small = await client.putObject("tier/s/small", pattern(64 << 10, 9));
          assert.equal((await client.getObject(small)).version, 1);

          // Space freed: the failed put and the large get work again.
          Deno.removeSync(`${root}/filler`);
          await client.putObject(failedKey, pattern(size, 3));
          const got = await client.getObject("tier/s/obj0");
          assert.equal(got.kind === "opaque" ? got.base.length : -1, size);
          assert.deepEqual(leftovers(root), []);
          noPartFiles();
          assert.ok(
            !server.logs().includes("transport error"),
            "no disk error is logged as a transport error",
          );
        } finally {
          await client.close();
          await server.stop();
        }
      });
    } finally {
      await weed.close();
    }
  },
});

// ---------------------------------------------------------------------------------------------------
// The same through pyarrow (Flame's Python clients use pyarrow.flight).

const PY = findPyarrowPython();

const PYARROW_FILL = `
import sys, pyarrow as pa, pyarrow.flight as fl
port, size = int(sys.argv[1]), int(sys.argv[2]) << 20
client = fl.connect(f"grpc://127.0.0.1:{port}")
schema = pa.schema([("version", pa.uint64()), ("data", pa.binary())])
for n in range(20):
    key = f"py/s/obj{n}"
    batch = pa.record_batch([pa.array([0], pa.uint64()), pa.array([bytes(size)], pa.binary())], schema=schema)
    try:
        writer, reader = client.do_put(fl.FlightDescriptor.for_path(key), schema)
        writer.write_batch(batch)
        writer.done_writing()
        reader.read()
        writer.close()
    except pa.ArrowException as err:  # pyarrow maps RESOURCE_EXHAUSTED to ArrowInvalid
        print(key)
        print(type(err).__name__)
        print(str(err).splitlines()[0])
        break
`;

Deno.test({
  name: "pyarrow uploads on a full disk get a RESOURCE_EXHAUSTED error naming the key",
  ignore: NO_TMPFS || skipUnless("pyarrow", PY !== undefined, NO_PYARROW),
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    onTmpfs("64m", async (root) => {
      const server = await startServer(["--storage", root]);
      try {
        const out = await new Deno.Command(PY!, {
          args: ["-c", PYARROW_FILL, String(server.port), "24"],
          stdout: "piped",
          stderr: "piped",
        }).output();
        const [key, kind, message] = new TextDecoder().decode(out.stdout).trim().split("\n");
        assert.ok(out.success, new TextDecoder().decode(out.stderr));
        assert.ok(key?.startsWith("py/s/obj"), `pyarrow never saw the disk fill: ${kind} ${message}`);
        // pyarrow raises ArrowInvalid "gRPC returned resource exhausted error, with message: ...".
        assert.match(message, /resource exhausted/);
        assert.match(message, /the disk is full/);
        assert.ok(message.includes(key), message);
        assert.deepEqual(leftovers(root), []);
        assert.ok(server.logs().includes('"code":"RESOURCE_EXHAUSTED"'), "the server logged the status");
      } finally {
        await server.stop();
      }
    }),
});
