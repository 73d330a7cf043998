/**
 * `flame-cache migrate`: a single node's folder (opaque objects, a patched object, a native table, a
 * large object the engine streams from disk) goes into the shared tier with its keys and versions, and a
 * server on that tier serves them; a second run skips what is already there.
 */
import assert from "node:assert/strict";
import { tableFromArrays } from "apache-arrow";
import { FlameCacheClient } from "../../src/client/mod.ts";
import { startServer, type TestServer } from "../helpers/server.ts";
import { haveWeed, startWeed, type WeedService } from "../helpers/services.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const ignore = !haveWeed();
if (ignore) console.log("migrate_test: SeaweedFS (.tools/weed) is missing: run scripts/tools.sh weed");

function tierFlags(weed: WeedService): { flags: string[]; env: Record<string, string> } {
  return {
    flags: [
      "--remote",
      "s3://flame-cache/migrated",
      "--remote-endpoint",
      weed.s3Endpoint,
      "--remote-path-style",
    ],
    env: {
      AWS_ACCESS_KEY_ID: weed.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: weed.credentials.secretAccessKey,
    },
  };
}

async function runMigrate(folder: string, weed: WeedService): Promise<{ code: number; stderr: string }> {
  const { flags, env } = tierFlags(weed);
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", `${ROOT}main.ts`, "migrate", "--storage", folder, ...flags],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

Deno.test({
  name: "migrate uploads a node's folder into the tier with keys and versions; a tier server serves it",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const weed = await startWeed();
    const folder = await Deno.makeTempDir({ prefix: "flame-migrate-" });
    let node: TestServer | undefined;
    let replica: TestServer | undefined;
    try {
      // A single node with some history.
      node = await startServer([], { storage: folder });
      let client = await FlameCacheClient.connect(node.endpoint);
      const small = await client.putObject("app/s1", new TextEncoder().encode("small"));
      let patched = await client.putObject("app/s1", new TextEncoder().encode("base"));
      patched = await client.updateObject(patched, new TextEncoder().encode("base v2"));
      await client.patchObject(patched, new TextEncoder().encode("+p1"));
      const table = await client.putObject("app/s2", tableFromArrays({ id: Int32Array.from([1, 2, 3]) }));
      const large = new Uint8Array(40 << 20);
      for (let i = 0; i < large.length; i += 4096) large[i] = i % 251;
      const big = await client.putObject("app/s2", large);
      await client.close();
      await node.stop();
      node = undefined;

      const first = await runMigrate(folder, weed);
      assert.equal(first.code, 0, first.stderr);
      assert.match(first.stderr, /4 objects uploaded/);
      const again = await runMigrate(folder, weed);
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stderr, /0 objects uploaded .* 4 already in the tier/);

      const { flags, env } = tierFlags(weed);
      replica = await startServer(flags, {
        env,
        storage: await Deno.makeTempDir({ prefix: "flame-replica-" }),
      });
      client = await FlameCacheClient.connect(replica.endpoint);
      const gotSmall = await client.getObject(small.key);
      assert.equal(gotSmall.version, 1);
      assert.equal(gotSmall.kind === "opaque" && new TextDecoder().decode(gotSmall.base), "small");
      const gotPatched = await client.getObject(patched.key);
      assert.equal(gotPatched.version, 3);
      assert.ok(gotPatched.kind === "opaque");
      assert.equal(new TextDecoder().decode(gotPatched.base), "base v2");
      assert.deepEqual(gotPatched.patches.map((p) => [p.version, new TextDecoder().decode(p.data)]), [[
        3,
        "+p1",
      ]]);
      const gotTable = await client.getObject(table.key);
      assert.equal(gotTable.kind === "native" ? gotTable.table.numRows : -1, 3);
      const gotBig = await client.getObject(big.key);
      assert.ok(gotBig.kind === "opaque");
      assert.equal(gotBig.base.length, large.length);
      assert.deepEqual(gotBig.base.subarray(0, 1 << 20), large.subarray(0, 1 << 20));
      // The next write continues from the migrated version.
      const next = await client.updateObject(patched, new TextEncoder().encode("v4"));
      assert.equal(next.version, 4);
      await client.close();
    } finally {
      await node?.stop();
      await replica?.stop();
      await weed.close();
      await Deno.remove(folder, { recursive: true }).catch(() => {});
    }
  },
});
