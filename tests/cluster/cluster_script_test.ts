/**
 * scripts/cluster.sh (issue 13's contract): `up` starts etcd, SeaweedFS, HAProxy and replicas on loopback and
 * writes cluster.env; objects go through the balancer with the project's TS client; `add` and `remove` change the
 * balancer's members; `start-replica --wipe` and `restart-service` bring killed or restarted parts back; `down`
 * leaves no process running. Needs etcd, haproxy and .tools/weed (`scripts/tools.sh all`).
 */
import assert from "node:assert/strict";
import { FlameCacheClient } from "../../src/client/mod.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const SCRIPT = `${ROOT}scripts/cluster.sh`;

/** Run a cluster.sh subcommand with a time bound; returns stdout, or throws with its stderr. */
async function cluster(args: string[], timeoutMs: number): Promise<string> {
  const out = await new Deno.Command("bash", {
    args: [SCRIPT, ...args],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(timeoutMs),
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  if (out.code !== 0) throw new Error(`cluster.sh ${args.join(" ")} exited with ${out.code}:\n${stderr}`);
  return new TextDecoder().decode(out.stdout);
}

function readEnv(path: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of Deno.readTextFileSync(path).split("\n")) {
    const eq = line.indexOf("=");
    if (eq > 0) env[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return env;
}

const alive = (pid: number): boolean => {
  try {
    // A zombie (exited, not yet reaped) has an empty command line.
    return Deno.readTextFileSync(`/proc/${pid}/cmdline`) !== "";
  } catch {
    return false;
  }
};

const isFile = (path: string): boolean => {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
};

/** Every pid cluster.env names: replicas, etcd, SeaweedFS, HAProxy. */
function allPids(env: Record<string, string>): number[] {
  return [
    ...env.FLAME_CACHE_REPLICA_PIDS.split(","),
    env.CLUSTER_ETCD_PID,
    env.CLUSTER_S3_PID,
    env.CLUSTER_HAPROXY_PID,
  ].map(Number);
}

/** HAProxy's backend servers that are UP, from its stats CSV. */
async function balancerMembers(env: Record<string, string>): Promise<string[]> {
  const csv = await (await fetch(`${env.CLUSTER_HAPROXY_STATS};csv`)).text();
  return csv.split("\n").map((l) => l.split(",")).filter((f) => f[0] === "replicas" && f[1] !== "BACKEND")
    .filter((f) => f[17] === "UP").map((f) => f[1]).sort();
}

async function putGet(endpoint: string, key: string, size: number): Promise<void> {
  const data = crypto.getRandomValues(new Uint8Array(Math.min(size, 65536)));
  const payload = new Uint8Array(size);
  for (let i = 0; i < size; i += data.length) {
    payload.set(data.subarray(0, Math.min(data.length, size - i)), i);
  }
  const client = await FlameCacheClient.connect(endpoint);
  try {
    const ref = await client.putObject(key, payload);
    const obj = await client.getObject(ref);
    assert.equal(obj.kind, "opaque");
    assert.deepEqual((obj as { base: Uint8Array }).base, payload);
  } finally {
    await client.close();
  }
}

Deno.test({
  name:
    "cluster.sh: up 2 replicas, put+get through the balancer, add, remove, restarts, down leaves nothing running",
  async fn() {
    // The paths scripts/tools.sh installs to: without them `up` would start a 5-minute build or an apt install.
    for (const path of ["/usr/bin/etcd", "/usr/sbin/haproxy", `${ROOT}.tools/weed`]) {
      assert.ok(isFile(path), `${path} is missing: run scripts/tools.sh all first`);
    }
    const dir = await Deno.makeTempDir({ prefix: "flame-cluster-test-" });
    let env: Record<string, string> | undefined;
    let down = false;
    try {
      const started = performance.now();
      const out = await cluster(["up", "--replicas", "2", "--dir", dir], 180_000);
      console.log(`cluster up (2 replicas) in ${Math.round(performance.now() - started)} ms`);
      assert.equal(out.trim(), `${dir}/cluster.env`);
      env = readEnv(`${dir}/cluster.env`);
      assert.match(env.FLAME_CACHE_ENDPOINT, /^grpc:\/\/127\.0\.0\.1:\d+$/);
      const replicas = env.FLAME_CACHE_REPLICAS.split(",");
      assert.equal(replicas.length, 2);
      assert.equal(env.FLAME_CACHE_REPLICA_PIDS.split(",").length, 2);
      for (const r of replicas) assert.match(r, /^grpc:\/\/127\.0\.0\.1:\d+$/);
      assert.equal(new Set([env.FLAME_CACHE_ENDPOINT, ...replicas]).size, 3, "distinct ports");
      for (const pid of allPids(env)) assert.ok(alive(pid), `pid ${pid} is running`);
      assert.deepEqual(await balancerMembers(env), ["replica-0", "replica-1"]);
      assert.equal(
        Deno.statSync(`${dir}/cluster.env`).mode! & 0o077,
        0,
        "cluster.env holds a secret: mode 600",
      );

      // Through the balancer (one channel: one replica, until cluster mode is wired), then each replica directly.
      await putGet(env.FLAME_CACHE_ENDPOINT, "cluster-script/balancer", 300_000);
      for (const [i, r] of replicas.entries()) await putGet(r, `cluster-script/direct-${i}`, 1000);
      const log = Deno.readTextFileSync(`${dir}/replica-0.log`);
      assert.ok(log.includes('"id":"replica-0"'), "the replica got its cluster settings");
      assert.ok(!log.includes(env.AWS_SECRET_ACCESS_KEY), "no credentials in the log");

      // add: a third replica, in the balancer; remove replica-0 gracefully: out of the balancer, process gone.
      await cluster(["add", "--dir", dir], 120_000);
      const added = readEnv(`${dir}/cluster.env`);
      assert.equal(added.FLAME_CACHE_REPLICA_IDS, "replica-0,replica-1,replica-2");
      assert.deepEqual(await balancerMembers(added), ["replica-0", "replica-1", "replica-2"]);
      const pid0 = Number(added.FLAME_CACHE_REPLICA_PIDS.split(",")[0]);
      await cluster(["remove", "--dir", dir, "--index", "0"], 60_000);
      env = readEnv(`${dir}/cluster.env`);
      assert.equal(env.FLAME_CACHE_REPLICA_IDS, "replica-1,replica-2");
      assert.deepEqual(await balancerMembers(env), ["replica-1", "replica-2"]);
      assert.ok(!alive(pid0), "the removed replica stopped");
      assert.match(Deno.readTextFileSync(`${dir}/replica-0.log`), /"msg":"stopped"/, "it stopped gracefully");
      await putGet(env.FLAME_CACHE_ENDPOINT, "cluster-script/after-remove", 1000);

      // Fault helpers: a SIGKILLed replica comes back on its port with an empty disk; etcd and S3 restart.
      const pid1 = Number(env.FLAME_CACHE_REPLICA_PIDS.split(",")[0]);
      Deno.writeTextFileSync(`${dir}/replica-1/wipe-marker`, "x");
      Deno.kill(pid1, "SIGKILL");
      await cluster(["start-replica", "--dir", dir, "--index", "1", "--wipe"], 120_000);
      env = readEnv(`${dir}/cluster.env`);
      assert.notEqual(Number(env.FLAME_CACHE_REPLICA_PIDS.split(",")[0]), pid1);
      assert.equal(isFile(`${dir}/replica-1/wipe-marker`), false, "--wipe emptied its storage");
      assert.deepEqual(await balancerMembers(env), ["replica-1", "replica-2"]);
      await putGet(env.FLAME_CACHE_REPLICAS.split(",")[0], "cluster-script/restarted", 1000);
      for (const service of ["etcd", "s3"]) {
        const before = readEnv(`${dir}/cluster.env`);
        await cluster(["restart-service", service, "--dir", dir], 120_000);
        env = readEnv(`${dir}/cluster.env`);
        const key = service === "etcd" ? "CLUSTER_ETCD_PID" : "CLUSTER_S3_PID";
        assert.ok(!alive(Number(before[key])) && alive(Number(env[key])), `${service} has a new process`);
      }
      assert.match(await (await fetch(`${env.CLUSTER_ETCD_ENDPOINT}/health`)).text(), /"health":"true"/);
      const s3 = await fetch(`${env.CLUSTER_S3_ENDPOINT}/${env.CLUSTER_S3_BUCKET}`);
      await s3.body?.cancel();
      assert.equal(s3.status, 403, "S3 is up and refuses unsigned requests");

      const pids = [...allPids(env), pid0];
      await cluster(["down", "--dir", dir], 90_000);
      down = true;
      for (const pid of pids) assert.ok(!alive(pid), `pid ${pid} is gone after down`);
    } finally {
      if (env && !down) await cluster(["down", "--dir", dir], 90_000).catch((e) => console.error(String(e)));
      await Deno.remove(dir, { recursive: true });
    }
  },
});
