/**
 * Real etcd and SeaweedFS (S3) processes on loopback for cluster tests: free ports, a temporary data
 * folder, wait until ready, stop by pid (SIGTERM, then SIGKILL) and clean up. `restart()` stops a service
 * and starts it again on the same ports and data folder, for fault tests.
 *
 * Binaries: etcd from `$ETCD_BIN`, else `/usr/bin/etcd` (Debian's etcd-server), else `etcd` on the PATH;
 * SeaweedFS from `$WEED_BIN`, else `.tools/weed`. When one is missing, tests that need it are skipped with a
 * printed reason, unless `CI` is set: in CI a missing binary fails the run.
 *
 * @module
 */

const ROOT = new URL("../../", import.meta.url).pathname;

/** The S3 identity the SeaweedFS helper configures (test-only credentials). */
export const S3_TEST_CREDENTIALS = {
  accessKeyId: "flametestaccess",
  secretAccessKey: "flame-test-secret-key-0123456789",
} as const;

/** The bucket the SeaweedFS helper creates. */
export const S3_TEST_BUCKET = "flame-cache";

function findBinary(envName: string, candidates: string[]): string | undefined {
  const fromEnv = Deno.env.get(envName);
  if (fromEnv) return fromEnv;
  for (const candidate of candidates) {
    if (candidate.includes("/")) {
      try {
        if (Deno.statSync(candidate).isFile) return candidate;
      } catch { /* not here */ }
      continue;
    }
    for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
      try {
        if (dir && Deno.statSync(`${dir}/${candidate}`).isFile) return `${dir}/${candidate}`;
      } catch { /* not here */ }
    }
  }
  return undefined;
}

/** Path of the etcd binary, or undefined. */
export const ETCD_BIN = findBinary("ETCD_BIN", ["/usr/bin/etcd", "etcd"]);
/** Path of the SeaweedFS binary, or undefined. */
export const WEED_BIN = findBinary("WEED_BIN", [`${ROOT}.tools/weed`, "weed"]);

/**
 * True when the service's binary is present. When it is missing: in CI, throws (the run must fail);
 * otherwise prints why the tests are skipped and returns false (use as `ignore: !have`).
 */
function requireBinary(name: string, bin: string | undefined, hint: string): boolean {
  if (bin) return true;
  if (Deno.env.get("CI")) throw new Error(`${name} binary not found (${hint}); CI needs it`);
  console.log(`skipping ${name} tests: binary not found (${hint})`);
  return false;
}

/** Whether etcd tests can run (see {@link requireBinary}). */
export function haveEtcd(): boolean {
  return requireBinary("etcd", ETCD_BIN, "install Debian's etcd-server or set ETCD_BIN");
}

/** Whether SeaweedFS tests can run (see {@link requireBinary}). */
export function haveWeed(): boolean {
  return requireBinary("SeaweedFS", WEED_BIN, "build .tools/weed as issue 13 describes or set WEED_BIN");
}

/** A free TCP port on 127.0.0.1 (bound then released; a small race is acceptable for tests). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** `count` distinct free ports. */
function freePorts(count: number): number[] {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(freePort());
  return [...ports];
}

/** A started service process with its log. */
class ServiceProcess {
  #child: Deno.ChildProcess | undefined;
  #log = "";
  #pump: Promise<void> | undefined;

  constructor(readonly name: string, readonly bin: string, readonly args: string[]) {}

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** Everything the process wrote (stdout and stderr), across restarts; the last 64 KiB. */
  log(): string {
    return this.#log.slice(-65536);
  }

  start(): void {
    const child = new Deno.Command(this.bin, {
      args: this.args,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#child = child;
    const decoder = new TextDecoder();
    const drain = async (stream: ReadableStream<Uint8Array>) => {
      for await (const chunk of stream) {
        this.#log += decoder.decode(chunk, { stream: true });
        if (this.#log.length > 1 << 20) this.#log = this.#log.slice(-65536);
      }
    };
    this.#pump = Promise.all([drain(child.stdout), drain(child.stderr)]).then(() => {});
  }

  exited(): Promise<Deno.CommandStatus> | undefined {
    return this.#child?.status;
  }

  /** Send `signal` to the process (e.g. SIGSTOP / SIGCONT for fault tests). */
  signal(signal: Deno.Signal): void {
    this.#child?.kill(signal);
  }

  /** SIGTERM, then SIGKILL after `graceMs`; waits for the exit and the end of its output. */
  async stop(graceMs = 5000): Promise<void> {
    const child = this.#child;
    if (!child) return;
    this.#child = undefined;
    try {
      child.kill("SIGCONT"); // a stopped process cannot act on SIGTERM
      child.kill("SIGTERM");
    } catch { /* already gone */ }
    const timer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
    }, graceMs);
    await child.status;
    clearTimeout(timer);
    await this.#pump?.catch(() => {});
  }

  /** SIGKILL now and wait. */
  async kill(): Promise<void> {
    const child = this.#child;
    if (!child) return;
    this.#child = undefined;
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
    await child.status;
    await this.#pump?.catch(() => {});
  }
}

async function waitUntil(
  what: string,
  proc: ServiceProcess,
  ready: () => Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited: Deno.CommandStatus | undefined;
  proc.exited()?.then((status) => (exited = status));
  while (Date.now() < deadline) {
    if (exited) {
      const how = exited.signal ? `signal ${exited.signal}` : `code ${exited.code}`;
      throw new Error(`${what} exited during start-up (${how}):\n${proc.log().slice(-4000)}`);
    }
    try {
      if (await ready()) return;
    } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} not ready after ${timeoutMs} ms:\n${proc.log().slice(-4000)}`);
}

/**
 * Launch a service on fresh free ports, retrying (up to 3 times) when it dies at start-up because a port
 * was taken between choosing it and binding it (other tests or helpers on the machine pick ports too).
 */
async function withPortRetries<T extends { proc: ServiceProcess; start: () => Promise<void> }>(
  launch: () => T,
  reset: () => Promise<void>,
): Promise<T> {
  for (let attempt = 1;; attempt++) {
    const launched = launch();
    try {
      await launched.start();
      return launched;
    } catch (err) {
      await launched.proc.kill();
      if (attempt >= 3 || !/address already in use/i.test(launched.proc.log())) throw err;
      await reset();
    }
  }
}

/** The life cycle both test services share: one process on a data folder that survives restarts. */
export interface TestService {
  dataDir: string;
  pid(): number | undefined;
  log(): string;
  /** Send a signal (e.g. SIGSTOP / SIGCONT to freeze and resume it). */
  signal(signal: Deno.Signal): void;
  /** Stop (SIGTERM) and start again on the same ports and data folder; waits until it serves again. */
  restart(options?: { downMs?: number }): Promise<void>;
  /** Stop without removing the data folder (for a later `start`). */
  stop(): Promise<void>;
  /** Start again after `stop`. */
  start(): Promise<void>;
  /** Stop and remove the data folder. */
  close(): Promise<void>;
}

/** A running etcd on loopback. */
export interface EtcdService extends TestService {
  /** Client URL, e.g. `http://127.0.0.1:PORT`. */
  endpoint: string;
}

/** Start etcd on free loopback ports with a fresh temporary data folder; resolves once it serves. */
export async function startEtcd(options: { timeoutMs?: number } = {}): Promise<EtcdService> {
  if (!ETCD_BIN) throw new Error("etcd binary not found");
  const dir = await Deno.makeTempDir({ prefix: "flame-etcd-" });
  const launch = () => {
    const [clientPort, peerPort] = freePorts(2);
    const endpoint = `http://127.0.0.1:${clientPort}`;
    const peer = `http://127.0.0.1:${peerPort}`;
    const proc = new ServiceProcess("etcd", ETCD_BIN, [
      "--name=test",
      `--data-dir=${dir}/data`,
      `--listen-client-urls=${endpoint}`,
      `--advertise-client-urls=${endpoint}`,
      `--listen-peer-urls=${peer}`,
      `--initial-advertise-peer-urls=${peer}`,
      `--initial-cluster=test=${peer}`,
      "--log-level=warn",
      "--logger=zap",
    ]);
    const start = async () => {
      proc.start();
      await waitUntil("etcd", proc, async () => {
        const r = await fetch(`${endpoint}/v3/maintenance/status`, {
          method: "POST",
          body: "{}",
          signal: AbortSignal.timeout(1000),
        });
        await r.body?.cancel();
        return r.ok;
      }, options.timeoutMs ?? 20_000);
    };
    return { proc, endpoint, start };
  };
  const { proc, endpoint, start } = await withPortRetries(launch, async () => {
    await Deno.remove(`${dir}/data`, { recursive: true }).catch(() => {});
  }).catch(async (err) => {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw err;
  });
  return {
    endpoint,
    dataDir: `${dir}/data`,
    pid: () => proc.pid,
    log: () => proc.log(),
    signal: (signal) => proc.signal(signal),
    async restart({ downMs = 0 } = {}) {
      await proc.stop();
      if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
      await start();
    },
    stop: () => proc.stop(),
    start,
    async close() {
      await proc.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

/** A running SeaweedFS server with its S3 gateway on loopback. */
export interface WeedService extends TestService {
  /** S3 endpoint URL, e.g. `http://127.0.0.1:PORT`. */
  s3Endpoint: string;
  bucket: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
}

/**
 * Start `weed server` with the S3 gateway on free loopback ports, a temporary data folder and an identity
 * file (so every S3 request must be SigV4-signed with {@link S3_TEST_CREDENTIALS}), then create
 * {@link S3_TEST_BUCKET}. `createBucket` signs with aws4fetch (never hand-written signing).
 */
export async function startWeed(options: { timeoutMs?: number } = {}): Promise<WeedService> {
  if (!WEED_BIN) throw new Error("SeaweedFS binary not found");
  const dir = await Deno.makeTempDir({ prefix: "flame-weed-" });
  await Deno.mkdir(`${dir}/data`);
  const config = {
    identities: [{
      name: "flame-test",
      credentials: [{ ...identityCredentials(S3_TEST_CREDENTIALS) }],
      actions: ["Admin", "Read", "Write", "List", "Tagging"],
    }],
  };
  await Deno.writeTextFile(`${dir}/s3.json`, JSON.stringify(config));
  const { AwsClient } = await import("aws4fetch");
  const aws = new AwsClient({ ...S3_TEST_CREDENTIALS, service: "s3", region: "us-east-1" });
  const launch = () => {
    // All eight ports from one call, so they are distinct; gRPC ports are explicit (the default port+10000
    // could collide with another test's SeaweedFS).
    const [master, volume, filer, s3, masterGrpc, volumeGrpc, filerGrpc, s3Grpc] = freePorts(8);
    const s3Endpoint = `http://127.0.0.1:${s3}`;
    const proc = new ServiceProcess("weed", WEED_BIN, [
      "-logtostderr", // no glog files in $TMPDIR: the log is captured from stderr
      "server",
      `-dir=${dir}/data`,
      "-ip=127.0.0.1",
      "-ip.bind=127.0.0.1",
      "-master.telemetry=false",
      `-master.port=${master}`,
      `-master.port.grpc=${masterGrpc}`,
      "-master.volumeSizeLimitMB=256",
      "-master.electionTimeout=1s", // a restarted single master elects itself in ~1 s instead of ~15 s
      `-volume.port=${volume}`,
      `-volume.port.grpc=${volumeGrpc}`,
      "-volume.max=20",
      "-volume.preStopSeconds=0", // stop at once on SIGTERM (the default waits 10 s)
      `-filer.port=${filer}`,
      `-filer.port.grpc=${filerGrpc}`,
      "-s3",
      `-s3.port=${s3}`,
      `-s3.port.grpc=${s3Grpc}`,
      `-s3.config=${dir}/s3.json`,
      `-filer.localSocket=${dir}/filer.sock`,
      `-s3.localSocket=${dir}/s3.sock`,
      "-s3.port.iceberg=0", // optional catalog servers on fixed default ports: off
      "-s3.port.lance=0",
    ]);
    const start = async () => {
      proc.start();
      // Ready when a signed bucket creation (or "already exists") succeeds and a write lands (the volume
      // server may still be registering with the master).
      await waitUntil("SeaweedFS", proc, async () => {
        const r = await aws.fetch(`${s3Endpoint}/${S3_TEST_BUCKET}`, {
          method: "PUT",
          signal: AbortSignal.timeout(2000),
        });
        const body = await r.text();
        if (!(r.ok || body.includes("BucketAlreadyOwnedByYou") || body.includes("BucketAlreadyExists"))) {
          return false;
        }
        const probe = await aws.fetch(`${s3Endpoint}/${S3_TEST_BUCKET}/.ready-probe`, {
          method: "PUT",
          body: "ok",
          signal: AbortSignal.timeout(5000),
        });
        await probe.body?.cancel();
        return probe.ok;
      }, options.timeoutMs ?? 60_000);
    };
    // SeaweedFS also opens gRPC unix sockets at fixed /tmp paths named by port; a killed server leaves them.
    const sockets = [["master", masterGrpc], ["volume", volumeGrpc], ["filer", filerGrpc], ["s3", s3Grpc]]
      .map(([role, port]) => `/tmp/seaweedfs-${role}-grpc-${port}.sock`);
    return { proc, s3Endpoint, start, sockets };
  };
  const { proc, s3Endpoint, start, sockets } = await withPortRetries(launch, async () => {
    await Deno.remove(`${dir}/data`, { recursive: true }).catch(() => {});
    await Deno.mkdir(`${dir}/data`);
  }).catch(async (err) => {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw err;
  });
  return {
    s3Endpoint,
    bucket: S3_TEST_BUCKET,
    credentials: { ...S3_TEST_CREDENTIALS },
    dataDir: `${dir}/data`,
    pid: () => proc.pid,
    log: () => proc.log(),
    signal: (signal) => proc.signal(signal),
    async restart({ downMs = 0 } = {}) {
      await proc.stop();
      if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
      await start();
    },
    stop: () => proc.stop(),
    start,
    async close() {
      await proc.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      for (const socket of sockets) await Deno.remove(socket).catch(() => {});
    },
  };
}

function identityCredentials(c: { accessKeyId: string; secretAccessKey: string }) {
  return { accessKey: c.accessKeyId, secretKey: c.secretAccessKey };
}
