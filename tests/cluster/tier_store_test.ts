/**
 * The replica's store on the shared tier (src/cluster/tier_store.ts) against a real SeaweedFS: selectors
 * mean what they mean on one node (a prefix also selects the key equal to it, e.g. a legacy two-part
 * `session/object` key), a delete drops this replica's copies and then calls `afterDelete` (the cluster
 * wiring tells the peers), and `forgetCopies` drops copies without touching the tier.
 */
import assert from "node:assert/strict";
import { S3Bucket } from "../../src/tier/s3.ts";
import { Tier } from "../../src/tier/tier.ts";
import { TierStore } from "../../src/cluster/tier_store.ts";
import type { KeySelector } from "../../src/store/types.ts";
import { haveWeed, startWeed } from "../helpers/services.ts";

const ignore = !haveWeed();
const MIB = 1 << 20;

function opaque(text: string) {
  return { type: "opaque" as const, data: new TextEncoder().encode(text) };
}

async function files(dir: string): Promise<number> {
  let n = 0;
  for await (const e of Deno.readDir(dir)) if (e.isFile) n++;
  return n;
}

Deno.test({ name: "tier store: selectors, delete hook and forgetting copies", ignore }, async (t) => {
  const weed = await startWeed();
  const dir = await Deno.makeTempDir();
  const tier = () =>
    new Tier({
      bucket: new S3Bucket({ endpoint: weed.s3Endpoint, bucket: weed.bucket, credentials: weed.credentials }),
      prefix: "ts/",
      retireDelayMs: 0,
    });
  const options = { memoryBytes: 64 * MIB, diskBytes: 256 * MIB };
  const a = new TierStore(tier(), "test", { ...options, cacheDir: `${dir}/a` });
  const b = new TierStore(tier(), "test", { ...options, cacheDir: `${dir}/b` });
  const deleted: KeySelector[] = [];
  a.afterDelete = (sel) => {
    deleted.push(sel);
    return Promise.resolve();
  };
  try {
    await a.open();
    await b.open();

    await t.step(
      "a two-part (legacy) key is selected by the prefix equal to it, as on one node",
      async () => {
        await a.put("sess/obj", opaque("legacy"));
        await a.put("sess/obj2", opaque("sibling"));
        await a.put("sess/obj/x", opaque("under it")); // a three-part key under the same prefix
        const listed = (await b.list({ value: "sess/obj", exact: false })).map((s) => s.key).sort();
        assert.deepEqual(listed, ["sess/obj", "sess/obj/x"]);
        assert.equal(await a.delete({ value: "sess/obj", exact: false }), 2);
        assert.deepEqual(deleted, [{ value: "sess/obj", exact: false }]);
        assert.equal(await b.stat("sess/obj"), null);
        assert.equal(await b.stat("sess/obj/x"), null);
        assert.equal((await b.stat("sess/obj2"))?.version, 1);
        // A one-segment prefix selects the two-part keys under it.
        assert.equal(await a.delete({ value: "sess", exact: false }), 1);
        assert.deepEqual(await b.list({ value: "sess", exact: false }), []);
      },
    );

    await t.step("forgetCopies drops this replica's cached files, not the objects", async () => {
      const big = new Uint8Array(5 * MIB).fill(3); // above the 4 MiB file threshold
      await a.put("app/s/big", { type: "opaque", data: big });
      await a.put("app/t/big", { type: "opaque", data: big });
      await b.get("app/s/big");
      await b.get("app/t/big");
      assert.equal(await files(`${dir}/b`), 2);
      await b.forgetCopies({ value: "app/s", exact: false });
      assert.equal(await files(`${dir}/b`), 1, "the copy under app/s is gone, the other stays");
      const again = await b.get("app/s/big"); // still in the tier: fetched again
      assert.equal(again.body.type, "file");
      assert.equal(await files(`${dir}/b`), 2);
      await b.forgetCopies({ value: "app", exact: false });
      assert.equal(await files(`${dir}/b`), 0);
      assert.equal((await b.stat("app/t/big"))?.size, 5 * MIB);
    });
  } finally {
    await a.close();
    await b.close();
    await weed.close();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
