/**
 * Many objects (issue 14), through a real server process: a 100,000-object store (1,000 sessions of
 * 100) must be served before its index is complete, say so through health, list exactly what is stored
 * once complete, and stay correct across a SIGKILL during the index load and a clean restart from the
 * index snapshot. Correctness only: the timings are measured by the benchmark (`bench/scale.ts`).
 */
import assert from "node:assert/strict";
import { crc32 } from "node:zlib";
// @ts-types="npm:@grpc/grpc-js@1.14.4"
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { opaqueFileParts } from "../../src/arrow/mod.ts";
import { writeParts } from "../../src/store/fs/_io.ts";
import { FlameCacheClient } from "../../src/client/mod.ts";
import { startServer, type TestServer } from "../helpers/server.ts";

const N = 100_000;
const PER_SESSION = 100;
const INDEX = "flame-cache.index";
const SERVING = 1;
const NOT_SERVING = 2;

const definition = protoLoader.loadSync(new URL("../../proto/health.proto", import.meta.url).pathname, {
  keepCase: true,
  enums: Number,
  defaults: true,
});
// deno-lint-ignore no-explicit-any
const healthPkg = (grpc.loadPackageDefinition(definition) as any).grpc.health.v1;

function check(address: string, service: string): Promise<number> {
  const client = new healthPkg.Health(address, grpc.credentials.createInsecure());
  return new Promise<number>((resolve, reject) => {
    client.Check(
      { service },
      { deadline: Date.now() + 5000 },
      (err: Error | null, res: { status: number }) => {
        if (err) reject(err);
        else resolve(res.status);
      },
    );
  }).finally(() => client.close());
}

const keyOf = (i: number) => `app/s${Math.floor(i / PER_SESSION)}/o${i}`;

/** Write the store's files directly (no fsync): object i holds the 4 bytes of i, version 1. */
function buildStore(root: string): void {
  let dir = "";
  for (let i = 0; i < N; i++) {
    const d = `${root}/app/s${Math.floor(i / PER_SESSION)}`;
    if (d !== dir) {
      Deno.mkdirSync(d, { recursive: true });
      dir = d;
    }
    const data = new Uint8Array(new Uint32Array([i]).buffer);
    const f = Deno.openSync(`${d}/o${i}.arrow`, { write: true, create: true });
    try {
      writeParts(f, opaqueFileParts(1, [data], 4, crc32(data)));
    } finally {
      f.close();
    }
  }
}

function indexLine(server: TestServer): string | undefined {
  return server.logs().split("\n").find((l) => l.includes('"index loaded"'));
}

async function waitFor(what: string, pred: () => boolean | Promise<boolean>, ms = 50_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function valueOf(client: FlameCacheClient, key: string): Promise<number> {
  const obj = await client.getObject(key);
  assert.equal(obj.kind, "opaque");
  const bytes = obj.kind === "opaque" ? obj.base : new Uint8Array();
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0, true);
}

Deno.test({
  name:
    "100k objects: served before the index is complete, listed exactly, correct after SIGKILL and restart",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const root = Deno.makeTempDirSync({ prefix: "scale_test_" });
    const servers: TestServer[] = [];
    const clients: FlameCacheClient[] = [];
    const start = async () => {
      const s = await startServer(["--storage", root], { timeoutMs: 30_000 });
      servers.push(s);
      const c = await FlameCacheClient.connect(s.endpoint, { cache: false });
      clients.push(c);
      return { s, c };
    };
    try {
      buildStore(root);

      // 1. First start (no snapshot: every footer is read). Serving at once, the index still loading.
      let { s, c } = await start();
      assert.equal(await valueOf(c, keyOf(77_777)), 77_777);
      const indexWhileServing = await check(s.address, INDEX);
      assert.equal(await check(s.address, ""), SERVING);
      const loadingSeen = indexWhileServing === NOT_SERVING && indexLine(s) === undefined;
      // Writes while the index loads: a put, an update and a patch of keys it may not have reached.
      const put = await c.putObject("app/s999", new TextEncoder().encode("new"));
      assert.equal(put.version, 1);
      assert.equal((await c.putObject(keyOf(99_998), new Uint8Array([1]))).version, 2);
      assert.equal((await c.patchObject(keyOf(99_999), new Uint8Array([2]))).version, 2);
      // A listing waits for the whole index, then is complete.
      const session = await c.list("app/s500/");
      assert.equal(session.length, PER_SESSION);
      assert.deepEqual(
        session.map((o) => o.key).sort(),
        Array.from({ length: PER_SESSION }, (_, k) => keyOf(500 * PER_SESSION + k)).sort(),
      );
      assert.ok(indexLine(s), "the index is complete once a listing answered");
      assert.equal(await check(s.address, INDEX), SERVING);
      assert.ok(
        loadingSeen,
        `a get was served while the index loaded (health ${indexWhileServing}, ${indexLine(s) ?? "no line"})`,
      );
      const all = await c.list("");
      assert.equal(all.length, N + 1);
      assert.equal(all.find((o) => o.key === keyOf(99_999))?.version, 2);

      // 2. SIGKILL during the next index load, right after more writes.
      await s.stop(); // clean: writes the snapshot
      ({ s, c } = await start());
      await c.putObject("app/s3/late", new TextEncoder().encode("late"));
      await c.patchObject(keyOf(12), new Uint8Array([3]));
      await s.kill();

      // 3. Restart after the kill: everything acknowledged is there, nothing twice.
      ({ s, c } = await start());
      const updated = await c.getObject(keyOf(99_998));
      assert.equal(updated.version, 2);
      assert.deepEqual(updated.kind === "opaque" ? [...updated.base] : [], [1]);
      assert.equal((await c.getObject("app/s3/late")).version, 1);
      assert.equal((await c.stat(keyOf(12))).version, 2);
      const after = await c.list("");
      assert.equal(after.length, N + 2);
      assert.equal(new Set(after.map((o) => o.key)).size, N + 2);
      await waitFor("the index line", () => indexLine(s) !== undefined);
      // Only the sessions written since the clean stop were scanned.
      assert.match(indexLine(s)!, /from the snapshot/);

      // 4. Clean restart: from the snapshot, same answers.
      await s.stop();
      ({ s, c } = await start());
      assert.equal((await c.list("app/s3/")).length, PER_SESSION + 1);
      await waitFor("the index line", () => indexLine(s) !== undefined);
      const m = /(\d+) from the snapshot/.exec(indexLine(s)!);
      assert.ok(m && Number(m[1]) > N / 2, indexLine(s));
      assert.equal((await c.list("")).length, N + 2);
      assert.equal(await valueOf(c, keyOf(4242)), 4242);
    } finally {
      for (const c of clients) await c.close().catch(() => {});
      for (const s of servers) await s.stop().catch(() => {});
      Deno.removeSync(root, { recursive: true });
    }
  },
});
