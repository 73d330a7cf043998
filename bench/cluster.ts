/**
 * The benchmark's `cluster` section: 3 replicas (etcd + SeaweedFS + HAProxy, started by
 * `scripts/cluster.sh`) through the balancer, against one node directly, in one run on one machine.
 *
 * Four paths are measured with the pyarrow driver (`py/flight_bench.py`):
 * - `single-fs`: one node, durable fs storage (the reference);
 * - `single-none`: the same node with `--storage none` (no disk at all);
 * - `replica`: replica-0 of the cluster directly (what the tier costs, without the balancer);
 * - `balancer`: the cluster through HAProxy (what a client behind a Kubernetes Service sees).
 *
 * First the memory case, while every process is fresh: a 1 GiB object (256 MiB in short mode) put
 * through replica-0, got through replica-1 (a cold read: fetched from the tier into its local cache while
 * it streams out) and got again through replica-0 (its local file), then put and got on the single node,
 * each process's peak RSS against its RSS before any traffic. Then, for each path: 1 KiB get and put at
 * c=1 (latency, and the CPU time of every process involved: replicas, the S3 service, etcd, HAProxy, net
 * of their idle rates), and 64 MiB put + get throughput.
 *
 * @module
 */
import { owner } from "../src/cluster/rendezvous.ts";
import { childPids, cpuSeconds, memStatus, resetPeak, RssSampler } from "./lib/proc.ts";
import { parseEnvLines } from "./lib/env_file.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** A single node started by the orchestrator. */
export interface SingleNode {
  pid: number;
  address: string;
  label: string;
  storageUsed: string;
  stop(): Promise<unknown>;
}

/** What the cluster section needs from the orchestrator (bench/run.ts). */
export interface ClusterBenchContext {
  short: boolean;
  /** Scratch folder (the cluster's folder goes under it). */
  tmp: string;
  /** Repository root (scripts/cluster.sh lives there). */
  root: string;
  keepTmp: boolean;
  say(msg: string): void;
  /** Run a pyarrow driver; resolves with its JSON (or `{error}`). */
  py(script: string, args: (string | number)[], timeoutMs?: number): Promise<Json>;
  /** Run a Deno script of bench/ (`deno run -A`); resolves with its JSON (or `{error}`). */
  deno(script: string, args: (string | number)[], timeoutMs?: number): Promise<Json>;
  /** Wait (as configured) for other processes to leave the cores idle; how busy they kept them. */
  idleGate(): Promise<{ others_busy: number; waited_s: number }>;
  /** Start one node: durable fs storage, or `--storage none`. */
  startSingle(storage: "fs" | "none"): Promise<SingleNode>;
  /** Register a cleanup for an interrupted run; returns its removal. */
  onInterrupt(cleanup: () => Promise<void>): () => void;
  /** Store the partial result (written to latest.json as it grows). */
  save(partial: Json): void;
}

/** `DIR/cluster.env` of a running cluster. */
export interface ClusterEnv {
  dir: string;
  endpoint: string;
  replicas: string[];
  replicaPids: number[];
  s3Pid: number;
  etcdPid: number;
  haproxyPid: number;
}

/** Parse `cluster.env` (KEY=VALUE lines). Secrets in it are not kept. */
export function parseClusterEnv(text: string): ClusterEnv {
  const env = parseEnvLines(text);
  const need = (k: string) => {
    const v = env.get(k);
    if (!v) throw new Error(`cluster.env has no ${k}`);
    return v;
  };
  const hostPort = (url: string) => url.replace(/^grpc:\/\//, "");
  return {
    dir: need("CLUSTER_DIR"),
    endpoint: hostPort(need("FLAME_CACHE_ENDPOINT")),
    replicas: need("FLAME_CACHE_REPLICAS").split(",").map(hostPort),
    replicaPids: need("FLAME_CACHE_REPLICA_PIDS").split(",").map(Number),
    s3Pid: Number(need("CLUSTER_S3_PID")),
    etcdPid: Number(need("CLUSTER_ETCD_PID")),
    haproxyPid: Number(need("CLUSTER_HAPROXY_PID")),
  };
}

async function sh(ctx: ClusterBenchContext, args: string[], timeoutMs: number) {
  const child = new Deno.Command("bash", {
    args: [`${ctx.root}/scripts/cluster.sh`, ...args],
    cwd: ctx.root,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
  }, timeoutMs);
  const out = await child.output();
  clearTimeout(timer);
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/**
 * `scripts/cluster.sh up`; up to 3 attempts, each in a fresh folder (it picks free ports by
 * probing, and on a shared machine another process can take one before the replica binds it).
 */
async function clusterUp(ctx: ClusterBenchContext, replicas: number): Promise<ClusterEnv> {
  let last = "";
  for (let attempt = 1; attempt <= 3; attempt++) {
    const dir = Deno.makeTempDirSync({ dir: ctx.tmp, prefix: "cluster-" });
    const t0 = performance.now();
    const r = await sh(ctx, ["up", "--replicas", String(replicas), "--dir", dir], 300_000);
    if (r.code === 0) {
      ctx.say(`  cluster up in ${((performance.now() - t0) / 1000).toFixed(0)} s (${dir})`);
      return parseClusterEnv(Deno.readTextFileSync(`${dir}/cluster.env`));
    }
    last = r.stderr.trim().split("\n").slice(-4).join(" | ");
    ctx.say(`  cluster.sh up failed (attempt ${attempt}): ${last.slice(0, 300)}`);
    await sh(ctx, ["down", "--dir", dir], 120_000).catch(() => {});
  }
  throw new Error(`scripts/cluster.sh up failed 3 times: ${last}`);
}

async function clusterDown(ctx: ClusterBenchContext, env: ClusterEnv): Promise<void> {
  const r = await sh(ctx, ["down", "--dir", env.dir], 180_000);
  if (r.code !== 0) ctx.say(`  cluster.sh down failed: ${r.stderr.trim().slice(-300)}`);
  else if (!ctx.keepTmp) Deno.removeSync(env.dir, { recursive: true });
}

/** One way to reach the cache, and the processes whose CPU time counts for it. */
interface Path {
  id: "single-fs" | "single-none" | "replica" | "balancer";
  label: string;
  address: string;
  /** The process whose RSS/CPU the driver samples (0: none, e.g. the balancer). */
  serverPid: number;
  /** Processes whose CPU time is recorded, by role. */
  roles: Record<string, number[]>;
}

/** CPU seconds per second each process uses while nothing is asked of it (lease renewals, heartbeats). */
async function idleRates(pids: number[], seconds: number): Promise<Record<string, number>> {
  const before = Object.fromEntries(pids.map((p) => [p, cpuSeconds(p)]));
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const dt = (performance.now() - t0) / 1000;
  return Object.fromEntries(pids.map((p) => [String(p), (cpuSeconds(p) - before[p]) / dt]));
}

/**
 * CPU seconds per role over a window: the sum over the role's processes of their CPU time, minus
 * what they use when idle (`rates` x the window), never below 0.
 */
export function cpuByRole(
  probed: Record<string, number>,
  roles: Record<string, number[]>,
  rates: Record<string, number>,
  seconds: number,
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [role, pids] of Object.entries(roles)) {
    let sum = 0;
    for (const p of pids) sum += Math.max(0, (probed[String(p)] ?? 0) - (rates[String(p)] ?? 0) * seconds);
    out[role] = sum;
  }
  return out;
}

/**
 * Cost of choosing a session's owner by rendezvous hashing (`src/cluster/rendezvous.ts`) among N members,
 * in µs per call, measured in this process (what a replica would pay per routed call).
 */
export function hashingCost(memberCounts: number[] = [3, 10, 100], calls = 100_000): Record<string, number> {
  const out: Record<string, number> = {};
  for (const n of memberCounts) {
    const members = Array.from({ length: n }, (_, i) => `flame-cache-${i}`);
    const sessions = Array.from({ length: 1000 }, (_, i) => `app${i % 7}/session-${i}`);
    let sink = 0;
    for (let i = 0; i < 10_000; i++) sink += owner(sessions[i % 1000], members)!.length; // warm-up (JIT)
    const t0 = performance.now();
    for (let i = 0; i < calls; i++) sink += owner(sessions[i % 1000], members)!.length;
    out[String(n)] = ((performance.now() - t0) * 1000) / calls;
    if (sink === 0) throw new Error("unreachable: keeps the loop from being optimized away");
  }
  return out;
}

/** The cluster section: returns what goes into `results.cases.cluster`. */
export async function clusterCases(ctx: ClusterBenchContext): Promise<Json> {
  const cfg = ctx.short
    ? { seconds: 2.5, objects: 50, largeReps: 3, memSize: 256 * MiB, idleS: 2 }
    : { seconds: 6, objects: 200, largeReps: 5, memSize: GiB, idleS: 4 };
  const out: Json = { replicas: 3, config: cfg };
  ctx.say("cluster: scripts/cluster.sh up --replicas 3 (etcd, SeaweedFS, HAProxy, 3 replicas)");
  let env: ClusterEnv | undefined;
  const singles: SingleNode[] = [];
  const removeCleanup = ctx.onInterrupt(async () => {
    for (const s of singles) await s.stop().catch(() => {});
    if (env) await clusterDown(ctx, env).catch(() => {});
  });
  try {
    env = await clusterUp(ctx, 3);
    const fs = await ctx.startSingle("fs");
    singles.push(fs);
    const none = await ctx.startSingle("none");
    singles.push(none);
    const haproxyWorkers = childPids(env.haproxyPid);
    const clusterRoles = {
      replicas: env.replicaPids,
      s3: [env.s3Pid],
      etcd: [env.etcdPid],
      haproxy: [env.haproxyPid, ...haproxyWorkers],
    };
    const paths: Path[] = [
      {
        id: "single-fs",
        label: `one node, fs storage (durable)`,
        address: fs.address,
        serverPid: fs.pid,
        roles: { server: [fs.pid] },
      },
      {
        id: "single-none",
        label: "one node, storage none",
        address: none.address,
        serverPid: none.pid,
        roles: { server: [none.pid] },
      },
      {
        id: "replica",
        label: "one replica directly (tier, no balancer)",
        address: env.replicas[0],
        serverPid: env.replicaPids[0],
        roles: clusterRoles,
      },
      {
        id: "balancer",
        label: "3 replicas through HAProxy",
        address: env.endpoint,
        serverPid: 0,
        roles: clusterRoles,
      },
    ];
    out.paths = paths.map(({ id, label, address, serverPid, roles }) => ({
      id,
      label,
      address,
      serverPid,
      roles,
    }));
    out.single_storage = { fs: fs.storageUsed, none: none.storageUsed };
    const allPids = [...new Set(paths.flatMap((p) => Object.values(p.roles).flat()))];
    ctx.say(`  idle CPU of ${allPids.length} processes over ${cfg.idleS} s`);
    await ctx.idleGate();
    out.idle_cpu_rates = await idleRates(allPids, cfg.idleS);
    out.idle_rss = Object.fromEntries(allPids.map((p) => [String(p), memStatus(p).rss]));
    ctx.save(out);

    // first, while the replicas and the single node have served nothing yet (V8 keeps what it grew)
    out.memory = await memoryCase(ctx, env, fs, cfg.memSize, out.idle_rss);
    ctx.save(out);

    out.hashing_us_per_call = hashingCost();
    ctx.say(
      `  rendezvous owner() µs per call: ${
        Object.entries(out.hashing_us_per_call).map(([n, us]) => `${n} members ${(us as number).toFixed(2)}`)
          .join(", ")
      }`,
    );

    // the tier by itself: each S3 request a cache operation makes, and the service's large throughput
    ctx.say("  the tier by itself: 1 KiB GET / PUT / conditional PUT and 64 MiB PUT / GET on S3 directly");
    await ctx.idleGate();
    out.tier = await ctx.deno("s3_probe.ts", [
      "--cluster-env",
      `${env.dir}/cluster.env`,
      "--seconds",
      ctx.short ? 2 : 4,
      "--large-reps",
      cfg.largeReps,
    ], 300_000);
    if (!out.tier.error) {
      const t = out.tier;
      ctx.say(
        `    GET p50 ${t.get_1k.p50_ms.toFixed(2)} ms (S3 CPU ${
          t.get_1k.s3_cpu_us_per_request.toFixed(0)
        } µs), ` +
          `PUT ${t.put_1k.p50_ms.toFixed(2)} ms (${
            t.put_1k.s3_cpu_us_per_request.toFixed(0)
          } µs), conditional PUT ` +
          `${t.cas_put_1k.p50_ms.toFixed(2)} ms (${
            t.cas_put_1k.s3_cpu_us_per_request.toFixed(0)
          } µs); 64 MiB PUT ` +
          `${t.large.put_mib_s.toFixed(0)} MiB/s, GET ${t.large.get_mib_s.toFixed(0)} MiB/s`,
      );
    }
    ctx.save(out);

    // 1 KiB at c=1: get and put on every path
    out.small = [];
    // update: a write to an existing key, which a replica relays to the session's owner (src/cluster/forward.ts)
    for (const mode of ["get", "put", "update"] as const) {
      for (const path of paths) {
        ctx.say(`  1 KiB ${mode}, c=1, ${cfg.seconds} s: ${path.label}`);
        const gate = await ctx.idleGate();
        const pids = [...new Set(Object.values(path.roles).flat())];
        const r = await ctx.py("flight_bench.py", [
          "small",
          "--address",
          path.address,
          "--size",
          1024,
          "--concurrency",
          1,
          "--seconds",
          cfg.seconds,
          "--mode",
          mode,
          // put: the driver's set-up keys are not used, one is enough
          "--objects",
          mode === "put" ? 1 : cfg.objects,
          "--warm",
          "--server-pid",
          path.serverPid,
          "--probe-pids",
          pids.join(","),
        ], 300_000);
        const row: Json = { path: path.id, mode, others_busy_before: gate.others_busy, ...r };
        if (!r.error) {
          row.cpu_s_by_role = cpuByRole(r.probe_cpu_s ?? {}, path.roles, out.idle_cpu_rates, r.seconds);
          const lat = r[mode];
          ctx.say(
            `    p50 ${lat.p50_ms.toFixed(2)} ms, p99 ${lat.p99_ms.toFixed(2)} ms, ${r.ops} ops; CPU µs/op ${
              Object.entries(row.cpu_s_by_role).map(([k, v]) =>
                `${k} ${((v as number) / r.ops * 1e6).toFixed(0)}`
              )
                .join(", ")
            }${r.errors ? `; ${r.errors} errors` : ""}`,
          );
        }
        out.small.push(row);
        ctx.save(out);
      }
    }

    // 64 MiB put + get (one connection: through the balancer, one replica serves both)
    out.large = [];
    const size = 64 * MiB;
    for (const path of paths) {
      if (ctx.short && path.id === "single-none") continue;
      ctx.say(`  64 MiB put + get, 1+${cfg.largeReps} reps: ${path.label}`);
      const gate = await ctx.idleGate();
      const pids = [...new Set(Object.values(path.roles).flat())];
      const r = await ctx.py("flight_bench.py", [
        "large",
        "--address",
        path.address,
        "--size",
        size,
        "--reps",
        cfg.largeReps,
        "--warmup",
        1,
        "--key",
        `bench/large/${path.id}`,
        "--server-pid",
        path.serverPid,
        "--probe-pids",
        pids.join(","),
      ], 900_000);
      const row: Json = { path: path.id, size, others_busy_before: gate.others_busy, ...r };
      if (!r.error) {
        row.put_mib_s = size / MiB / median(r.put_s);
        row.get_mib_s = size / MiB / median(r.get_s);
        const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
        row.cpu_s_by_role = {
          put: cpuByRole(r.probe_cpu_s?.put ?? {}, path.roles, out.idle_cpu_rates, sum(r.put_s)),
          get: cpuByRole(r.probe_cpu_s?.get ?? {}, path.roles, out.idle_cpu_rates, sum(r.get_s)),
        };
        ctx.say(`    PUT ${row.put_mib_s.toFixed(0)} MiB/s, GET ${row.get_mib_s.toFixed(0)} MiB/s`);
      }
      out.large.push(row);
      ctx.save(out);
    }
  } catch (err) {
    out.error = String(err).slice(0, 2000);
    ctx.say(`  cluster section failed: ${out.error.slice(0, 300)}`);
  } finally {
    for (const s of singles) await s.stop().catch(() => {});
    if (env) {
      ctx.say("  cluster down");
      await clusterDown(ctx, env).catch((err) => ctx.say(`  cluster down failed: ${err}`));
    }
    removeCleanup();
  }
  return out;
}

/**
 * A large object put through replica-0, got through replica-1 (cold: it fetches the blob from the tier
 * into its cache folder while streaming it out) and through replica-0 again (its local file); then the
 * same put and get on the single node, for reference (its receive and send paths are the replica's
 * too). Each step: the handling process's idle RSS before, its VmHWM (reset before the step) and its
 * VmRSS sampled every 50 ms (a coarse timeline is kept in the JSON).
 */
async function memoryCase(
  ctx: ClusterBenchContext,
  env: ClusterEnv,
  single: SingleNode,
  size: number,
  idleRss: Record<string, number | undefined>,
): Promise<Json> {
  const key = "bench/rss/big";
  const steps: { step: string; who: string; pid: number; address: string; ops: string }[] = [
    { step: "put through replica-0", who: "replica-0", ops: "put" },
    { step: "get through replica-1 (cold: from the tier)", who: "replica-1", ops: "get" },
    { step: "get through replica-0 (its local copy)", who: "replica-0", ops: "get" },
  ].map((s) => {
    const i = Number(s.who.slice("replica-".length));
    return { ...s, pid: env.replicaPids[i], address: env.replicas[i] };
  });
  steps.push(
    {
      step: "put to one node (fs), reference",
      who: "one node",
      pid: single.pid,
      address: single.address,
      ops: "put",
    },
    {
      step: "get from one node (fs), reference",
      who: "one node",
      pid: single.pid,
      address: single.address,
      ops: "get",
    },
  );
  const rows: Json[] = [];
  for (const s of steps) {
    ctx.say(`  memory, ${size / MiB} MiB: ${s.step}`);
    const gate = await ctx.idleGate();
    const pid = s.pid;
    const before = memStatus(pid).rss;
    const idle = idleRss[String(pid)] ?? before;
    resetPeak(pid);
    const sampler = new RssSampler(pid, 50, true);
    const r = await ctx.py("flight_bench.py", [
      "large",
      "--address",
      s.address,
      "--size",
      size,
      "--reps",
      1,
      "--warmup",
      0,
      "--ops",
      s.ops,
      "--key",
      key,
      "--server-pid",
      pid,
      "--probe-pids",
      [pid, env.s3Pid].join(","),
    ], 900_000);
    const sampled = sampler.stop();
    const hwm = r.first?.[s.ops]?.vm_hwm;
    const peak = Math.max(hwm ?? 0, sampled);
    const seconds = r[`${s.ops}_s`]?.[0];
    const row: Json = {
      ...s,
      size,
      pid,
      idle_rss: idle,
      rss_before: before,
      vm_hwm: hwm,
      sampled_max_rss: sampled,
      samples: sampler.samples,
      // every 5th sample (250 ms): enough to tell the receive phase from the tier upload
      rss_timeline: sampler.timeline.filter((_, i) => i % 5 === 0),
      added: idle !== undefined && peak ? peak - idle : undefined,
      added_in_step: before !== undefined && peak ? peak - before : undefined,
      seconds,
      mib_s: seconds ? size / MiB / seconds : undefined,
      rss_after: r.first?.[s.ops]?.vm_rss_after,
      probe_cpu_s: r.probe_cpu_s?.[s.ops],
      others_busy_before: gate.others_busy,
      error: r.error,
    };
    if (!r.error) {
      ctx.say(
        `    ${row.mib_s.toFixed(0)} MiB/s; RSS idle ${(idle! / MiB).toFixed(0)} MiB, peak +${
          (row.added / MiB).toFixed(0)
        } MiB (VmHWM ${((hwm ?? 0) / MiB).toFixed(0)}, sampled ${(sampled / MiB).toFixed(0)})`,
      );
    }
    rows.push(row);
    if (r.error) break;
  }
  return { size, key, steps: rows };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}
