/**
 * The fs engine behind a real server process: objects, patches and versions survive a clean stop and a
 * SIGKILL; a folder written by Flame (test vectors) is served after start-up; a damaged file is
 * quarantined at start-up without stopping the server.
 */
import assert from "node:assert/strict";
import { BSON } from "bson";
import {
  connect,
  doGet,
  doPut,
  flightDataToTable,
  grpc,
  opaqueFlightData,
  readRows,
  statusOf,
} from "../helpers/flight_client.ts";
import { startServer, type TestServer } from "../helpers/server.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const VECTORS = new URL("../vectors/", import.meta.url);

async function put(client: unknown, path: string, data: Uint8Array) {
  const msgs = opaqueFlightData([data]);
  msgs[0].flight_descriptor = { type: 1, path: [path] };
  const results = await doPut(client, msgs);
  return BSON.deserialize(results[0], { promoteLongs: true }) as { key: string; version: number };
}

async function patch(client: unknown, key: string, data: Uint8Array) {
  const msgs = opaqueFlightData([data]);
  msgs[0].flight_descriptor = { type: 2, cmd: enc.encode(`PATCH:${key}`) };
  const results = await doPut(client, msgs);
  return BSON.deserialize(results[0], { promoteLongs: true }) as { key: string; version: number };
}

async function rows(client: unknown, ticket: string) {
  return readRows(flightDataToTable(await doGet(client, ticket))).map((r) => ({
    version: Number(r.version),
    kind: r.kind,
    text: dec.decode(r.data),
  }));
}

/** The store's summary line, once the index has loaded in the background (gets are served before it). */
async function indexSummary(server: TestServer): Promise<string> {
  for (let i = 0; i < 200; i++) {
    const line = server.logs().split("\n").find((l) => l.includes('"msg":"index loaded"'));
    if (line) return line;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`no "index loaded" line in 5 s:\n${server.logs()}`);
}

async function withServer(
  storage: string,
  fn: (client: ReturnType<typeof connect>, s: TestServer) => Promise<void>,
) {
  const server = await startServer(["--storage", storage]);
  const client = connect(server.address);
  try {
    await fn(client, server);
  } finally {
    client.close();
    if (server.child.pid) await server.stop();
  }
}

Deno.test({
  name: "restart: objects, patches and versions survive a clean stop and a SIGKILL",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const root = Deno.makeTempDirSync({ prefix: "restart_fs_" });
    try {
      let key = "";
      await withServer(root, async (client) => {
        const ref = await put(client, "app/ssn", enc.encode("base one"));
        key = ref.key;
        assert.equal(ref.version, 1);
        assert.equal((await patch(client, key, enc.encode("p2"))).version, 2);
        assert.equal((await patch(client, key, enc.encode("p3"))).version, 3);
        assert.equal((await put(client, "app/ssn/fixed", enc.encode("v1"))).version, 1);
        assert.equal((await put(client, "app/ssn/fixed", enc.encode("v2"))).version, 2);
      });
      await withServer(root, async (client, server) => {
        assert.match(await indexSummary(server), /2 objects, 2 patches/);
        assert.deepEqual(await rows(client, `${key}:0`), [
          { version: 1, kind: "base", text: "base one" },
          { version: 2, kind: "patch", text: "p2" },
          { version: 3, kind: "patch", text: "p3" },
        ]);
        assert.deepEqual(await rows(client, `${key}:2`), [{ version: 3, kind: "patch", text: "p3" }]);
        assert.deepEqual(await rows(client, "app/ssn/fixed:0"), [{ version: 2, kind: "base", text: "v2" }]);
        // Acknowledged writes survive a SIGKILL.
        assert.equal((await put(client, "app/ssn/fixed", enc.encode("v3"))).version, 3);
        assert.equal((await patch(client, key, enc.encode("p4"))).version, 4);
        await server.kill();
      });
      await withServer(root, async (client) => {
        assert.deepEqual(await rows(client, "app/ssn/fixed:0"), [{ version: 3, kind: "base", text: "v3" }]);
        assert.deepEqual((await rows(client, `${key}:0`)).map((r) => r.version), [1, 2, 3, 4]);
        // An update drops the patches, durably.
        assert.equal((await put(client, key, enc.encode("base five"))).version, 5);
      });
      await withServer(root, async (client) => {
        assert.deepEqual(await rows(client, `${key}:0`), [{ version: 5, kind: "base", text: "base five" }]);
      });
    } finally {
      Deno.removeSync(root, { recursive: true });
    }
  },
});

Deno.test({
  name: "restart: a Flame-written folder is served; damaged files are quarantined, not fatal",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const root = Deno.makeTempDirSync({ prefix: "restart_fs_flame_" });
    try {
      Deno.mkdirSync(`${root}/app/s/o.deltas`, { recursive: true });
      Deno.copyFileSync(new URL("opaque-zstd.arrow", VECTORS), `${root}/app/s/o.arrow`);
      Deno.copyFileSync(new URL("opaque-delta-zstd.arrow", VECTORS), `${root}/app/s/o.deltas/0.arrow`);
      Deno.writeFileSync(`${root}/app/s/broken.arrow`, enc.encode("not an arrow file"));
      await withServer(root, async (client, server) => {
        assert.match(await indexSummary(server), /1 objects, 1 patches/);
        assert.match(server.logs(), /1 quarantined/);
        assert.match(server.logs(), /damaged object quarantined/);
        const got = await rows(client, "app/s/o:0");
        assert.deepEqual(got.map((r) => [r.version, r.kind]), [[3, "base"], [4, "patch"]]);
        assert.equal(got[0].text, "flame-cache opaque payload \x00\x01\x02\ufffd end");
        assert.equal((await statusOf(doGet(client, "app/s/broken:0"))).code, grpc.status.NOT_FOUND);
        assert.equal((await patch(client, "app/s/o", enc.encode("mine"))).version, 5);
      });
      assert.ok([...Deno.readDirSync(`${root}/.quarantine`)].length === 1);
    } finally {
      Deno.removeSync(root, { recursive: true });
    }
  },
});
