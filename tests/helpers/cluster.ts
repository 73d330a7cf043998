/**
 * A local flame-cache cluster for tests, driven through `scripts/cluster.sh` (etcd, SeaweedFS, HAProxy and N
 * replicas on loopback): `up`, the fault subcommands, signals to replica pids, and `down`. The cluster's
 * addresses come from the `cluster.env` the script writes, re-read after every subcommand.
 *
 * {@link haveClusterTools} says whether the tools are there: when one is missing the tests are skipped
 * with a printed reason, unless `CI` is set (then it throws, so CI fails instead of skipping).
 *
 * @module
 */
import { ETCD_BIN, WEED_BIN } from "./services.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const SCRIPT = `${ROOT}scripts/cluster.sh`;

function exists(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

function onPath(name: string): boolean {
  return (Deno.env.get("PATH") ?? "").split(":").some((dir) => dir && exists(`${dir}/${name}`));
}

/**
 * True when scripts/cluster.sh, etcd, SeaweedFS and HAProxy are all present. Otherwise: in CI throws;
 * elsewhere prints why the cluster tests are skipped and returns false (use as `ignore: !have`).
 */
export function haveClusterTools(): boolean {
  const missing: string[] = [];
  if (!exists(SCRIPT)) missing.push("scripts/cluster.sh");
  if (!ETCD_BIN) missing.push("etcd (Debian etcd-server, or ETCD_BIN)");
  if (!WEED_BIN) missing.push("SeaweedFS (.tools/weed: scripts/tools.sh weed, or WEED_BIN)");
  if (!exists("/usr/sbin/haproxy") && !onPath("haproxy")) missing.push("haproxy (Debian haproxy)");
  if (missing.length === 0) return true;
  const why = `missing ${missing.join(", ")}`;
  if (Deno.env.get("CI")) throw new Error(`cluster tests cannot run: ${why}; CI needs them`);
  console.log(`skipping cluster tests: ${why}`);
  return false;
}

/** What `cluster.env` says about the running cluster. */
export interface ClusterEnv {
  /** The balancer, `grpc://127.0.0.1:PORT`: what clients and ObjectRefs use. */
  endpoint: string;
  /** Replicas by member id (`replica-I`): direct endpoint, pid, HTTP side port. */
  replicas: { id: string; index: number; endpoint: string; pid: number; http: string }[];
  etcdEndpoint: string;
  s3Endpoint: string;
  haproxyStats: string;
  /** Every KEY=VALUE line, as written. */
  raw: Record<string, string>;
}

/** Parse the `KEY=VALUE` lines of a cluster.env file. */
export function parseClusterEnv(text: string): ClusterEnv {
  const raw: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const eq = line.indexOf("=");
    if (eq > 0) raw[line.slice(0, eq)] = line.slice(eq + 1);
  }
  const list = (name: string) => (raw[name] ?? "").split(",").filter((s) => s !== "");
  const endpoints = list("FLAME_CACHE_REPLICAS");
  const pids = list("FLAME_CACHE_REPLICA_PIDS");
  const https = list("FLAME_CACHE_REPLICA_HTTP");
  const replicas = list("FLAME_CACHE_REPLICA_IDS").map((id, i) => ({
    id,
    index: Number(id.replace(/^replica-/, "")),
    endpoint: endpoints[i],
    pid: Number(pids[i]),
    http: https[i],
  }));
  return {
    endpoint: raw.FLAME_CACHE_ENDPOINT,
    replicas,
    etcdEndpoint: raw.CLUSTER_ETCD_ENDPOINT,
    s3Endpoint: raw.CLUSTER_S3_ENDPOINT,
    haproxyStats: raw.CLUSTER_HAPROXY_STATS,
    raw,
  };
}

/** A cluster started by scripts/cluster.sh in its own temporary folder. */
export class LocalCluster {
  #env: ClusterEnv;

  private constructor(
    readonly dir: string,
    env: ClusterEnv,
    private readonly extraEnv: Record<string, string>,
  ) {
    this.#env = env;
  }

  /**
   * `cluster.sh up --replicas N` in a new temporary folder. `env` is passed to the script and so to every
   * replica it starts (e.g. `FLAME_CACHE_CLUSTER_LEASE_TTL`).
   */
  static async up(replicas: number, env: Record<string, string> = {}): Promise<LocalCluster> {
    const dir = await Deno.makeTempDir({ prefix: "flame-cluster-" });
    try {
      await runScript(["up", "--replicas", String(replicas), "--dir", dir], env);
    } catch (err) {
      await runScript(["down", "--dir", dir], env).catch(() => {});
      throw err;
    }
    return new LocalCluster(dir, await readEnv(dir), env);
  }

  /** The cluster as of the last subcommand. */
  get env(): ClusterEnv {
    return this.#env;
  }

  /** The replica with this index (throws when there is none). */
  replica(index: number): ClusterEnv["replicas"][number] {
    const r = this.#env.replicas.find((r) => r.index === index);
    if (!r) throw new Error(`no replica-${index} in the cluster`);
    return r;
  }

  /** Run a cluster.sh subcommand on this cluster (e.g. `["add"]`), then re-read cluster.env. */
  async run(...args: string[]): Promise<string> {
    const out = await runScript([...args, "--dir", this.dir], this.extraEnv);
    this.#env = await readEnv(this.dir);
    return out;
  }

  /** Send a signal to replica-I's process. */
  signal(index: number, signal: Deno.Signal): void {
    Deno.kill(this.replica(index).pid, signal);
  }

  /** SIGKILL replica-I and wait until its process is gone. */
  async kill(index: number): Promise<void> {
    const pid = this.replica(index).pid;
    Deno.kill(pid, "SIGKILL");
    const deadline = Date.now() + 10_000;
    while (exists(`/proc/${pid}/cmdline`) && !isZombie(pid)) {
      if (Date.now() > deadline) throw new Error(`replica-${index} (pid ${pid}) still runs after SIGKILL`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** The member ids registered in etcd under the cluster prefix (flame-cache's default cluster name). */
  async etcdMembers(prefix = "/flame-cache/flame/members/"): Promise<string[]> {
    const b64 = (s: string) => btoa(s);
    const end = prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
    const res = await fetch(`${this.#env.etcdEndpoint}/v3/kv/range`, {
      method: "POST",
      body: JSON.stringify({ key: b64(prefix), range_end: b64(end), keys_only: true }),
      signal: AbortSignal.timeout(2000),
    });
    const body = await res.json() as { kvs?: { key: string }[] };
    return (body.kvs ?? []).map((kv) => atob(kv.key).slice(prefix.length)).sort();
  }

  /** HAProxy's view of the backend: `replica-I` -> status (`UP`, `DOWN`, ...). */
  async balancerServers(): Promise<Record<string, string>> {
    const res = await fetch(`${this.#env.haproxyStats};csv`, { signal: AbortSignal.timeout(2000) });
    const out: Record<string, string> = {};
    for (const line of (await res.text()).split("\n")) {
      const f = line.split(",");
      if (f[0] === "replicas" && f[1] && f[1] !== "BACKEND") out[f[1]] = f[17];
    }
    return out;
  }

  /** `cluster.sh down`, then remove the folder unless `keep` (logs stay for a failed run). */
  async down(keep = false): Promise<void> {
    await runScript(["down", "--dir", this.dir], this.extraEnv);
    if (!keep) await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}

function isZombie(pid: number): boolean {
  try {
    return / Z /.test(Deno.readTextFileSync(`/proc/${pid}/stat`).replace(/^.*\)/, ""));
  } catch {
    return true;
  }
}

async function readEnv(dir: string): Promise<ClusterEnv> {
  return parseClusterEnv(await Deno.readTextFile(`${dir}/cluster.env`));
}

async function runScript(args: string[], env: Record<string, string>): Promise<string> {
  const out = await new Deno.Command("bash", {
    args: [SCRIPT, ...args],
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  const err = new TextDecoder().decode(out.stderr);
  if (!out.success) throw new Error(`cluster.sh ${args[0]} failed (exit ${out.code}):\n${err.slice(-4000)}`);
  return text + err;
}
