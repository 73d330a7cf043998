/**
 * The etcd JSON-gateway client against a real etcd: key-value calls, leases, watch, failover and typed
 * errors.
 */
import assert from "node:assert/strict";
import {
  EtcdClient,
  EtcdRejectedError,
  EtcdUnavailableError,
  prefixRangeEnd,
  type WatchBatch,
} from "../../src/cluster/etcd.ts";
import { rejectsWith } from "./rejects.ts";
import { freePort, haveEtcd, startEtcd } from "../helpers/services.ts";

const ignore = !haveEtcd();
const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

Deno.test("prefixRangeEnd increments the last byte below 0xff", () => {
  assert.equal(text(prefixRangeEnd("/a/b/")), "/a/b0");
  assert.deepEqual([...prefixRangeEnd("a\u00ff")], [0x61, 0xc3, 0xc0]);
});

Deno.test({ name: "etcd client: put, get, list, delete, prefix delete", ignore }, async () => {
  const etcd = await startEtcd();
  try {
    const client = new EtcdClient({ endpoints: [etcd.endpoint] });
    const r1 = await client.put("/t/a", "1");
    const r2 = await client.put("/t/b", new Uint8Array([0, 255, 7]));
    await client.put("/u/c", "other");
    assert.ok(r2 > r1);
    assert.equal(text((await client.get("/t/a"))!.value), "1");
    assert.deepEqual([...(await client.get("/t/b"))!.value], [0, 255, 7]);
    assert.equal(await client.get("/t/none"), undefined);
    const listed = await client.list("/t/");
    assert.deepEqual(listed.kvs.map((kv) => kv.key), ["/t/a", "/t/b"]);
    assert.equal(listed.revision, r2 + 1);
    assert.equal(await client.delete("/t/a"), 1);
    assert.equal(await client.delete("/t/a"), 0);
    await client.put("/t/c", "3");
    assert.equal(await client.deletePrefix("/t/"), 2);
    assert.equal((await client.list("/t/")).kvs.length, 0);
    assert.equal((await client.list("/u/")).kvs.length, 1);
  } finally {
    await etcd.close();
  }
});

Deno.test({ name: "etcd client: leases keep keys alive and revoking deletes them", ignore }, async () => {
  const etcd = await startEtcd();
  try {
    const client = new EtcdClient({ endpoints: [etcd.endpoint] });
    const lease = await client.grantLease(5);
    assert.ok(lease.id.length > 0);
    assert.equal(lease.ttl, 5);
    await client.put("/l/x", "x", { lease: lease.id });
    assert.equal((await client.get("/l/x"))!.lease, lease.id);
    assert.ok(await client.keepAlive(lease.id) > 0);
    await client.revokeLease(lease.id);
    assert.equal(await client.get("/l/x"), undefined);
    assert.equal(await client.keepAlive(lease.id), 0, "a revoked lease keeps nothing alive");
    await client.revokeLease(lease.id); // unknown lease: not an error
    const err = await rejectsWith(() => client.put("/l/y", "y", { lease: lease.id }), EtcdRejectedError);
    assert.equal(err.code, 5);
  } finally {
    await etcd.close();
  }
});

Deno.test({ name: "etcd client: a lease with no keep-alive expires", ignore }, async () => {
  const etcd = await startEtcd();
  try {
    const client = new EtcdClient({ endpoints: [etcd.endpoint] });
    const lease = await client.grantLease(2);
    await client.put("/e/x", "x", { lease: lease.id });
    const deadline = Date.now() + 8000;
    while (await client.get("/e/x") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    assert.equal(await client.get("/e/x"), undefined);
  } finally {
    await etcd.close();
  }
});

Deno.test({ name: "etcd client: watch streams puts and deletes from a revision", ignore }, async () => {
  const etcd = await startEtcd();
  try {
    const client = new EtcdClient({ endpoints: [etcd.endpoint] });
    const before = await client.put("/w/old", "0");
    const controller = new AbortController();
    const batches: WatchBatch[] = [];
    const watching = (async () => {
      for await (const batch of client.watchPrefix("/w/", before, controller.signal)) {
        batches.push(batch);
        if (batches.flatMap((b) => b.events).length >= 3) controller.abort();
      }
    })();
    await client.put("/w/a", "1");
    await client.put("/x/outside", "1");
    await client.delete("/w/a");
    await watching;
    const events = batches.flatMap((b) => b.events).map((e) => `${e.type} ${e.kv.key} ${text(e.kv.value)}`);
    assert.deepEqual(events, ["put /w/old 0", "put /w/a 1", "delete /w/a "]);
  } finally {
    await etcd.close();
  }
});

Deno.test(
  { name: "etcd client: fails over to the next endpoint; all down is unavailable", ignore },
  async () => {
    const etcd = await startEtcd();
    try {
      const dead = `http://127.0.0.1:${freePort()}`;
      const client = new EtcdClient({ endpoints: [dead, etcd.endpoint], timeoutMs: 1000 });
      await client.put("/f/a", "1");
      assert.equal(text((await client.get("/f/a"))!.value), "1");
      await etcd.stop();
      const started = Date.now();
      const err = await rejectsWith(() => client.get("/f/a"), EtcdUnavailableError);
      assert.ok(Date.now() - started < 3000, "unreachable is reported quickly");
      assert.ok(err.message.includes(dead) && err.message.includes(etcd.endpoint), err.message);
      const watch = client.watchPrefix("/f/", 1, new AbortController().signal);
      await rejectsWith(() => watch.next(), EtcdUnavailableError);
    } finally {
      await etcd.close();
    }
  },
);
