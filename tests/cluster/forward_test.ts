/**
 * Small writes to an existing key go to the owner of their session (src/cluster/forward.ts): two real
 * replicas on one etcd and one SeaweedFS bucket. Through the replica that does not own the session, a put
 * naming its object, an update, a patch and a session delete are relayed to the owner, which alone writes
 * the tier; a put to a prefix (a new id) and a large body are written where they arrive; reads are served
 * where they arrive. When the owner is gone, the call is served where it arrived.
 */
import assert from "node:assert/strict";
import { FlameCacheClient, NotFoundError } from "../../src/client/mod.ts";
import { EtcdClient } from "../../src/cluster/etcd.ts";
import { owner } from "../../src/cluster/rendezvous.ts";
import { haveEtcd, haveWeed, startEtcd, startWeed } from "../helpers/services.ts";
import type { TestServer } from "../helpers/server.ts";
import { startReplica } from "./_replica.ts";

const ignore = !haveEtcd() || !haveWeed();
const MIB = 1 << 20;
const IDS = ["fwd-0", "fwd-1"];

/** A session (under `app`) that replica `id` owns among {@link IDS}. */
function sessionOwnedBy(id: string, app: string): string {
  for (let i = 0;; i++) {
    const session = `${app}/s${i}`;
    if (owner(session, IDS) === id) return session;
  }
}

function count(logs: string, msg: string): number {
  return logs.split("\n").filter((l) => l.includes(`"msg":"${msg}"`)).length;
}

Deno.test({ name: "a session's writes reach its owner through any replica", ignore }, async () => {
  const etcd = await startEtcd();
  const weed = await startWeed();
  const dirs = [await Deno.makeTempDir(), await Deno.makeTempDir()];
  const servers: TestServer[] = [];
  const clients: FlameCacheClient[] = [];
  try {
    for (const [i, dir] of dirs.entries()) {
      servers.push(
        await startReplica(etcd, weed, { id: IDS[i], dir, prefix: "fwd", env: { FLAME_LOG: "debug" } }),
      );
    }
    const members = new EtcdClient({ endpoints: [etcd.endpoint] });
    for (let i = 0; (await members.list("/flame-cache/")).kvs.length < 2; i++) {
      assert.ok(i < 100, "both replicas register in etcd");
      await new Promise((r) => setTimeout(r, 50));
    }
    await new Promise((r) => setTimeout(r, 200)); // both watches have seen both members
    const [a, b] = await Promise.all(
      servers.map((s) => FlameCacheClient.connect(s.address, { cache: false })),
    );
    clients.push(a, b);

    // Through A, on a session B owns: writes to existing keys are relayed to B.
    const session = sessionOwnedBy(IDS[1], "app");
    const ref = await a.putObject(session, new Uint8Array([1, 2, 3])); // new id: written by A
    const named = await a.putObject(`${session}/named`, new Uint8Array([4])); // relayed
    const updated = await a.updateObject(ref, new Uint8Array([5, 6])); // relayed
    assert.equal(updated.version, ref.version + 1);
    const patched = await a.patchObject(updated, new Uint8Array([7])); // relayed
    assert.equal(patched.version, updated.version + 1);
    const big = new Uint8Array(24 * MIB);
    for (let i = 0; i < big.length; i += 4096) big[i] = (i / 4096) & 0xff;
    const bigRef = await a.putObject(`${session}/big`, big); // a large body: written by A

    const logsA = servers[0].logs();
    const logsB = servers[1].logs();
    assert.equal(count(logsA, "forwarded"), 3, "A relayed the three small writes to existing keys");
    assert.equal(count(logsA, "put"), 2, "A wrote the new id and the large body itself");
    assert.equal(count(logsB, "put"), 3, "B wrote the three it was relayed (DoPut logs each as a put)");

    // Reads are served where they arrive, and see every write.
    const got = await a.getObject(patched);
    assert.equal(got.version, patched.version);
    const gotBig = await b.getObject(bigRef);
    assert.deepEqual(gotBig.kind === "opaque" ? gotBig.base : undefined, big);
    assert.equal((await a.getObject(named)).version, 1);

    // A session A owns: served by A, nothing relayed.
    const mine = sessionOwnedBy(IDS[0], "app");
    await a.updateObject(await a.putObject(mine, new Uint8Array([9])), new Uint8Array([10]));
    assert.equal(count(servers[0].logs(), "forwarded"), 3);

    // A session delete through A is relayed to B; nothing of the session is left.
    await a.deleteObjects(session);
    assert.equal(count(servers[0].logs(), "forwarded"), 4);
    await assert.rejects(b.getObject(patched), NotFoundError);
    await assert.rejects(a.getObject(bigRef), NotFoundError);

    // B gone without leaving (its lease still lists it): A serves B's sessions itself.
    await servers[1].kill();
    const after = await a.putObject(`${session}/after`, new Uint8Array([8]));
    assert.equal((await a.getObject(after)).version, 1);
    assert.match(
      servers[0].logs(),
      /"msg":"session owner unreachable; serving the call here".*"owner":"fwd-1"/,
    );
  } finally {
    for (const c of clients) await c.close().catch(() => {});
    for (const s of servers) await s.stop();
    await weed.close();
    await etcd.close();
    for (const d of dirs) await Deno.remove(d, { recursive: true }).catch(() => {});
  }
});
