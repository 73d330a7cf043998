/**
 * Deletes reach the other replicas' local caches (src/cluster/peers.ts, the FORGET action): two real
 * replica processes on one etcd and one SeaweedFS bucket. A large object read through replica B is cached
 * there as a file; a delete through replica A removes that file before A answers. A peer that cannot be
 * reached is logged and never fails the delete.
 */
import assert from "node:assert/strict";
import { FlameCacheClient, InvalidArgumentError, NotFoundError } from "../../src/client/mod.ts";
import { EtcdClient } from "../../src/cluster/etcd.ts";
import { haveEtcd, haveWeed, startEtcd, startWeed } from "../helpers/services.ts";
import type { TestServer } from "../helpers/server.ts";
import { startReplica } from "./_replica.ts";

const ignore = !haveEtcd() || !haveWeed();
const MIB = 1 << 20;

async function cachedFiles(storage: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(`${storage}/.tier-cache`)) if (e.isFile) out.push(e.name);
  return out;
}

/** With auth on, the replicas share the configuration: peers present its unscoped token. */
async function authConfig(): Promise<string> {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/tokens`, "tok-admin admin\ntok-app1 worker app1\n");
  await Deno.writeTextFile(`${dir}/cache.yaml`, `cache:\n  auth:\n    tokens_file: ${dir}/tokens\n`);
  return `${dir}/cache.yaml`;
}

for (const auth of [false, true]) {
  Deno.test({
    name: `a delete makes every live peer forget its local copies${auth ? " (auth on)" : ""}`,
    ignore,
  }, () => forgetScenario(auth));
}

async function forgetScenario(auth: boolean): Promise<void> {
  const config = auth ? ["--config", await authConfig()] : [];
  const token = auth ? "tok-admin" : undefined;
  const etcd = await startEtcd();
  const weed = await startWeed();
  const dirs = [await Deno.makeTempDir(), await Deno.makeTempDir()];
  const servers: TestServer[] = [];
  const clients: FlameCacheClient[] = [];
  try {
    for (const [i, dir] of dirs.entries()) {
      servers.push(await startReplica(etcd, weed, { id: `peer-${i}`, dir, prefix: "peers", flags: config }));
    }
    // Both registered (A's watch sees B's key as soon as etcd has it).
    const members = new EtcdClient({ endpoints: [etcd.endpoint] });
    for (let i = 0; (await members.list("/flame-cache/")).kvs.length < 2; i++) {
      assert.ok(i < 100, "both replicas register in etcd");
      await new Promise((r) => setTimeout(r, 50));
    }
    const [a, b] = await Promise.all(
      servers.map((s) => FlameCacheClient.connect(s.address, { cache: false, token })),
    );
    clients.push(a, b);

    const big = new Uint8Array(6 * MIB).fill(7); // above the 4 MiB file threshold: B caches it as a file
    const ref = await a.putObject("app/ssn", big);
    const keep = await a.putObject("app/other", big);
    await b.getObject(ref);
    await b.getObject(keep);
    assert.equal((await cachedFiles(dirs[1])).length, 2, "B holds both copies as files");

    await a.deleteObjects("app/ssn");
    assert.equal(
      (await cachedFiles(dirs[1])).length,
      1,
      "B dropped the deleted object's copy, kept the other",
    );
    await assert.rejects(b.getObject(ref), NotFoundError);
    assert.equal((await b.getObject(keep)).kind, "opaque");

    // FORGET checks its selector like DELETE does.
    await assert.rejects(b.doAction("FORGET", "app//x"), InvalidArgumentError);

    // B gone without leaving (its lease still lists it): A's delete still succeeds, and says so in its log.
    await servers[1].kill();
    await a.deleteObjects("app/other");
    await assert.rejects(a.getObject(keep), NotFoundError);
    assert.match(servers[0].logs(), /"msg":"peer did not forget deleted objects".*"peer":"peer-1"/);
    // Only the dead peer failed: with auth on, the live one accepted the replica's token.
    assert.equal(servers[0].logs().match(/peer did not forget/g)?.length, 1, servers[0].logs());
  } finally {
    for (const c of clients) await c.close().catch(() => {});
    for (const s of servers) await s.stop();
    await weed.close();
    await etcd.close();
    for (const d of dirs) await Deno.remove(d, { recursive: true }).catch(() => {});
  }
}
