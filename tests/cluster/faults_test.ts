/**
 * Cluster faults under load (issue 13, "Faults"): one cluster from scripts/cluster.sh (etcd, SeaweedFS,
 * HAProxy, 3 replicas with a 3 s lease), a bounded self-checking load through the balancer (./_load.ts),
 * and one fault per step: SIGKILL a replica; SIGKILL one and restart it with an empty disk; add a fourth;
 * remove one gracefully; restart SeaweedFS; restart etcd; SIGSTOP a replica for longer than its lease and
 * than a call's deadline, then SIGCONT.
 *
 * After each fault, with the load paused: every key's latest acknowledged state is read back through the
 * balancer, and the step requires 0 acknowledged writes lost, 0 wrong bytes, 0 versions handed out twice,
 * every ref naming the balancer, and no failure other than UNAVAILABLE (DEADLINE_EXCEEDED included: a call
 * stuck on a stopped replica is a failure). The cluster must also be whole again: HAProxy lists exactly the
 * running replicas, all UP, etcd holds exactly their registrations, and a put and a get through the balancer
 * succeed. Per-fault counts are printed.
 *
 * Needs HAProxy to cut a replica's connections when its health check marks it down (`on-marked-down
 * shutdown-sessions` in scripts/cluster.sh): otherwise calls pinned to the frozen replica run into their
 * deadline. Takes about 2.5 minutes on 2 busy cores.
 */
import assert from "node:assert/strict";
import { FlameCacheClient } from "../../src/client/mod.ts";
import { haveClusterTools, LocalCluster } from "../helpers/cluster.ts";
import { CALL_DEADLINE_MS, LoadGenerator, type PhaseStats } from "./_load.ts";

const ignore = !haveClusterTools();
const LEASE_TTL_S = 3;
const STEADY = "steady (no fault)";
/** Longer than the lease, and than a call's deadline: a call stuck on the frozen replica would time out. */
const STOP_MS = CALL_DEADLINE_MS + 5000;
/** Load before the fault, and after the cluster is whole again. */
const LOAD_BEFORE_MS = 1500;
const LOAD_AFTER_MS = 2000;

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch (err) {
      last = err;
    }
    await delay(200);
  }
  throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${last})` : ""}`);
}

/**
 * Wait until exactly the `running` replicas (default: all in cluster.env) are UP in HAProxy and registered
 * in etcd: a dead or stopped one is out of both (its lease ran out), a started one is in both.
 */
async function whole(cluster: LocalCluster, running = cluster.env.replicas.map((r) => r.id)): Promise<void> {
  const want = [...running].sort().join();
  await until(`HAProxy (UP) and etcd to list exactly ${want}`, async () => {
    const servers = await cluster.balancerServers();
    const up = Object.keys(servers).filter((id) => servers[id] === "UP").sort().join();
    const members = (await cluster.etcdMembers()).join();
    return up === want && members === want;
  });
  // And it serves writes again: after a restart SeaweedFS accepts requests but holds writes for a while.
  const probe = await FlameCacheClient.connect(cluster.env.endpoint, { cache: false, lazy: true });
  try {
    const bytes = new TextEncoder().encode(`probe ${Date.now()}`);
    await until("a put and a get through the balancer", async () => {
      const ref = await probe.putObject("faults-probe/probe/p", bytes, { timeoutMs: 30_000 });
      const got = await probe.getObject(ref, { timeoutMs: 30_000 });
      return got.kind === "opaque" && got.base.length === bytes.length;
    }, 60_000);
  } finally {
    await probe.close();
  }
}

/** The checks every fault must pass. */
function assertClean(stats: PhaseStats, keys: number): void {
  const problems = [
    ["acknowledged writes lost", stats.lostWrites],
    ["wrong bytes", stats.wrongBytes],
    ["versions not previous + 1 (handed out twice?)", stats.badVersions],
    ["refs not naming the balancer", stats.badRefs],
    ["DEADLINE_EXCEEDED failures", stats.deadlineExceeded],
    ["failures other than UNAVAILABLE", stats.otherFailures],
  ].filter(([, n]) => n !== 0);
  assert.deepEqual(problems, [], `${stats.name}: ${JSON.stringify(problems)}\n${stats.examples.join("\n")}`);
  assert.ok(stats.ackedWrites > 0, `${stats.name}: the load acknowledged no write`);
  if (stats.name === STEADY) {
    assert.equal(
      stats.unavailable,
      0,
      `without a fault nothing is UNAVAILABLE:\n${stats.unavailableExamples.join("\n")}`,
    );
  }
  assert.equal(stats.verifiedKeys, keys, `${stats.name}: not every key was read back`);
}

function report(stats: PhaseStats): string {
  const n = (v: number, width: number) => String(v).padStart(width);
  return [
    stats.name.padEnd(44),
    `ops ${n(stats.ops, 5)}`,
    `ok ${n(stats.succeeded, 5)}`,
    `acked writes ${n(stats.ackedWrites, 4)}`,
    `gets ${n(stats.gets, 4)}`,
    `UNAVAILABLE ${n(stats.unavailable, 3)}`,
    `deadline ${stats.deadlineExceeded}`,
    `other ${stats.otherFailures}`,
    `verified keys ${stats.verifiedKeys}`,
  ].join("  ");
}

Deno.test({ name: "cluster: faults under load lose no acknowledged write", ignore }, async (t) => {
  const cluster = await LocalCluster.up(3, { FLAME_CACHE_CLUSTER_LEASE_TTL: String(LEASE_TTL_S) });
  const load = new LoadGenerator({ endpoint: cluster.env.endpoint, app: "faults" });
  console.log(`cluster in ${cluster.dir}, load seed ${load.seed}`);
  let failed = false;

  /** One fault: load, the fault, the cluster whole again, more load, then pause and read everything back. */
  const fault = (name: string, act: () => Promise<void>, options: { via?: () => string } = {}) =>
    t.step(name, async () => {
      const stats = load.phase(name);
      const started = Date.now();
      try {
        await load.start();
        await delay(LOAD_BEFORE_MS);
        await act();
        await whole(cluster);
        await delay(LOAD_AFTER_MS);
        await load.pause();
        await load.verifyAll();
        if (options.via) await load.verifyAll({ via: options.via() });
      } catch (err) {
        failed = true;
        await load.pause();
        throw err;
      } finally {
        console.log(`${report(stats)}  (${((Date.now() - started) / 1000).toFixed(1)} s)`);
        for (const e of stats.examples) console.log(`    ${e}`);
        for (const e of stats.unavailableExamples) console.log(`    UNAVAILABLE: ${e}`);
      }
      try {
        assertClean(stats, options.via ? 2 * load.keyCount : load.keyCount);
      } catch (err) {
        failed = true;
        throw err;
      }
    });

  try {
    await fault(STEADY, async () => {});

    await fault("SIGKILL replica-1", async () => {
      await cluster.kill(1);
      // The others carry on; its lease runs out, and HAProxy takes it out.
      await whole(cluster, ["replica-0", "replica-2"]);
      await delay(LOAD_AFTER_MS);
      await cluster.run("start-replica", "--index", "1");
    });

    await fault("SIGKILL replica-2, restart it wiped", async () => {
      await cluster.kill(2);
      await cluster.run("start-replica", "--index", "2", "--wipe");
    }, { via: () => cluster.replica(2).endpoint }); // the wiped replica serves every key from the tier

    await fault("add replica-3", async () => {
      await cluster.run("add");
    }, { via: () => cluster.replica(3).endpoint });

    await fault("remove replica-0 gracefully", async () => {
      await cluster.run("remove", "--index", "0");
    });

    await fault("restart SeaweedFS", async () => {
      await cluster.run("restart-service", "s3");
    });

    await fault("restart etcd", async () => {
      await cluster.run("restart-service", "etcd");
    });

    await fault(`SIGSTOP replica-1 ${STOP_MS / 1000} s (lease ${LEASE_TTL_S} s), SIGCONT`, async () => {
      cluster.signal(1, "SIGSTOP");
      try {
        const stopped = Date.now();
        // Its lease expires: etcd drops it, HAProxy's health check takes it out, and the rest serve.
        await whole(cluster, ["replica-2", "replica-3"]);
        await delay(Math.max(0, STOP_MS - (Date.now() - stopped)));
      } finally {
        cluster.signal(1, "SIGCONT");
      }
    });
  } finally {
    await load.close();
    console.log(`\nfaults under load (seed ${load.seed}, ${load.keyCount} keys):`);
    for (const stats of load.phases) console.log(report(stats));
    await cluster.down(failed);
    if (failed) console.log(`cluster logs kept in ${cluster.dir}`);
  }
});
