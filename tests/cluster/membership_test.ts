/**
 * Membership against a real etcd: join and leave, lease expiry, an etcd restart, and a member process
 * paused (SIGSTOP) longer than its lease.
 */
import assert from "node:assert/strict";
import { EtcdClient, EtcdUnavailableError } from "../../src/cluster/etcd.ts";
import {
  type Member,
  Membership,
  type MembershipEvent,
  membersPrefix,
} from "../../src/cluster/membership.ts";
import { freePort, haveEtcd, startEtcd } from "../helpers/services.ts";
import { rejectsWith } from "./rejects.ts";

const ignore = !haveEtcd();
const ROOT = new URL("../../", import.meta.url).pathname;

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function join(endpoint: string, id: string, ttlSeconds = 2): Promise<Membership> {
  return Membership.join({
    client: new EtcdClient({ endpoints: [endpoint], timeoutMs: 1000 }),
    cluster: "test",
    id,
    endpoint: `grpc://127.0.0.1:9${id.length}00`,
    ttlSeconds,
  });
}

const ids = (members: Member[]) => members.map((m) => m.id);

Deno.test({ name: "membership: members see each other join and leave", ignore }, async () => {
  const etcd = await startEtcd();
  const a = await join(etcd.endpoint, "a");
  const b = await join(etcd.endpoint, "b");
  try {
    const events: MembershipEvent[] = [];
    a.onChange((e) => events.push(e));
    await until("a sees b", () => a.memberIds.join() === "a,b");
    assert.deepEqual(b.memberIds, ["a", "b"]);
    assert.equal(b.member("a")?.endpoint, "grpc://127.0.0.1:9100");
    assert.ok(a.isFresh() && b.isFresh());
    const stored = await new EtcdClient({ endpoints: [etcd.endpoint] }).get(
      `${membersPrefix("/flame-cache", "test")}b`,
    );
    assert.equal(JSON.parse(new TextDecoder().decode(stored!.value)).endpoint, "grpc://127.0.0.1:9100");
    const c = await join(etcd.endpoint, "cc");
    await until("a sees c", () => a.memberIds.join() === "a,b,cc");
    const leftAt = Date.now();
    await c.leave();
    await until("a sees c leave", () => a.memberIds.join() === "a,b");
    assert.ok(Date.now() - leftAt < 1500, "a graceful leave is seen at once, not after the TTL");
    assert.ok(!c.isFresh());
    const left = events.filter((e) => e.type === "members" && e.left.length).map((e) =>
      e.type === "members" && ids(e.left)
    );
    assert.deepEqual(left, [["cc"]]);
  } finally {
    await a.leave();
    await b.leave();
    await etcd.close();
  }
});

Deno.test({ name: "membership: a member that stops keeping its lease alive expires", ignore }, async () => {
  const etcd = await startEtcd();
  const a = await join(etcd.endpoint, "a");
  const b = await join(etcd.endpoint, "b");
  try {
    await until("a sees b", () => a.memberIds.join() === "a,b");
    const closedAt = Date.now();
    await b.close(); // as if it crashed: no revoke
    await until("b's lease expires", () => a.memberIds.join() === "a", 15_000);
    const took = Date.now() - closedAt;
    assert.ok(took > 500 && took < 12_000, `expired after ${took} ms with a 2 s TTL`);
    await new Promise((r) => setTimeout(r, 1500));
    assert.ok(a.isFresh(), "a's own keep-alive continues");
    assert.deepEqual(a.memberIds, ["a"]);
  } finally {
    await a.leave();
    await etcd.close();
  }
});

Deno.test({
  name: "membership: stale while etcd is down; the member list recovers after it restarts",
  ignore,
}, async () => {
  const etcd = await startEtcd();
  const a = await join(etcd.endpoint, "a");
  const b = await join(etcd.endpoint, "b");
  try {
    const errors: string[] = [];
    a.onChange((e) => e.type === "error" && errors.push(e.error.message));
    await until("a sees b", () => a.memberIds.join() === "a,b");
    await etcd.stop();
    // Down longer than the TTL: the members cannot confirm their leases and know their view is stale.
    await until("a knows it is stale", () => !a.isFresh(), 10_000);
    const errorsWhileDown = errors.length;
    await new Promise((r) => setTimeout(r, 1000));
    assert.ok(errors.length - errorsWhileDown <= 6, "retries are paced, not a hot loop");
    await etcd.start();
    assert.ok(errors.length > 0, "the outage was noticed");
    // A member joining after the restart is seen through the rebuilt watch.
    const c = await join(etcd.endpoint, "c");
    await until("a sees c after the restart", () => a.memberIds.join() === "a,b,c");
    await until("b sees c after the restart", () => b.memberIds.join() === "a,b,c");
    await c.leave();
    await until("a sees c leave", () => a.memberIds.join() === "a,b");
    await until("a is fresh again", () => a.isFresh());
  } finally {
    await a.leave();
    await b.leave();
    await etcd.close();
  }
});

Deno.test(
  { name: "membership: a member paused past its TTL knows it is stale and re-registers", ignore },
  async () => {
    const etcd = await startEtcd();
    const observer = await join(etcd.endpoint, "observer");
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-all",
        `${ROOT}tests/cluster/member_child.ts`,
        etcd.endpoint,
        "test",
        "paused",
        "2",
      ],
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const lines: Record<string, unknown>[] = [];
    const reading = (async () => {
      let buffer = "";
      for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
        buffer += chunk;
        let nl;
        while ((nl = buffer.indexOf("\n")) >= 0) {
          lines.push(JSON.parse(buffer.slice(0, nl)));
          buffer = buffer.slice(nl + 1);
        }
      }
    })();
    try {
      await until("the child joins", () => lines.some((l) => l.event === "joined"), 15_000);
      const firstLease = lines.find((l) => l.event === "joined")!.lease;
      await until("observer sees the child", () => observer.memberIds.includes("paused"));
      child.kill("SIGSTOP");
      await until("the child's lease expires", () => !observer.memberIds.includes("paused"), 15_000);
      await new Promise((r) => setTimeout(r, 500));
      const before = lines.length;
      child.kill("SIGCONT");
      await until("observer sees the child again", () => observer.memberIds.includes("paused"), 15_000);
      await until("the child re-registered", () => lines.slice(before).some((l) => l.event === "registered"));
      const after = lines.slice(before);
      const stale = after.findIndex((l) => l.event === "stale");
      const registered = after.findIndex((l) => l.event === "registered");
      assert.ok(
        stale >= 0 && stale < registered,
        `stale noticed before re-registering: ${JSON.stringify(after)}`,
      );
      assert.equal(after[stale].fresh, false);
      assert.equal(after[registered].fresh, true);
      assert.notEqual(after[registered].lease, firstLease, "a new lease");
    } finally {
      // A stopped process cannot act on SIGTERM: continue it first, and SIGKILL if it does not exit.
      child.kill("SIGCONT");
      child.kill("SIGTERM");
      const killer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await child.status;
      clearTimeout(killer);
      await reading;
      await observer.leave();
      await etcd.close();
    }
  },
);

Deno.test("membership: joining with etcd unreachable fails at once, naming the endpoint", async () => {
  const endpoint = `http://127.0.0.1:${freePort()}`;
  const started = Date.now();
  const err = await rejectsWith(() => join(endpoint, "lonely"), EtcdUnavailableError);
  assert.ok(err.message.includes(endpoint) && err.message.includes("etcd unreachable"), err.message);
  assert.ok(Date.now() - started < 3000);
});
