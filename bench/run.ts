/**
 * `deno task bench` / `deno task bench:short`: flame-cache against the TCP loopback limit and a
 * pyarrow (Arrow C++) Flight peer, in one run, on this machine.
 *
 * ```
 * deno run -A bench/run.ts [--short] [--only tcp,large,small,getcpu,startup,scale,cluster] [--out DIR]
 * ```
 * Writes DIR/latest.json, DIR/latest.md and DIR/latest.png (DIR defaults to bench/results).
 * See bench/README.md for what is measured and how.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { clusterCases } from "./cluster.ts";
import { scaleCases } from "./scale.ts";
import { cpuSeconds, forEachLine, memStatus, RssSampler } from "./lib/proc.ts";
import { evaluate, renderMarkdown } from "./lib/report.ts";

const BENCH = new URL(".", import.meta.url).pathname.replace(/\/$/, "");
const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const VENV = `${BENCH}/.venv`;
const PY = `${VENV}/bin/python`;
const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
/** The Rust Flight peer's crate (arrow-flight + tonic), built by {@link ensureRustPeer}. */
const RUST_PEER_DIR = `${BENCH}/peers/rust`;
const RUST_PEER_BIN = `${RUST_PEER_DIR}/target/release/flight-peer`;

const { values: opts } = parseArgs({
  args: Deno.args,
  options: {
    short: { type: "boolean", default: false },
    only: { type: "string" },
    out: { type: "string", default: `${BENCH}/results` },
    "keep-tmp": { type: "boolean", default: false },
    "wait-idle": { type: "string", default: "0" },
    render: { type: "boolean", default: false },
  },
});
const SHORT = opts.short!;
const ONLY = new Set(
  (opts.only ?? "tcp,large,small,getcpu,startup,scale,cluster").split(",").map((s) => s.trim()),
);
const OUT = opts.out!;
const TMP = `${OUT}/tmp`;
/** Before each case, wait up to this many seconds for other processes to leave the cores idle. */
const WAIT_IDLE_S = Number(opts["wait-idle"]);
/** "Idle" = other processes keep less than this share of all cores busy (1 s sample). */
const IDLE_BUSY = 0.25;

// deno-lint-ignore no-explicit-any
type Json = any;

function say(msg: string): void {
  console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}`);
}

// ---------------------------------------------------------------------------------------------
// processes

async function run(
  cmd: string,
  args: string[],
  options: { timeoutMs?: number; env?: Record<string, string>; cwd?: string } = {},
) {
  const child = new Deno.Command(cmd, {
    args,
    cwd: options.cwd ?? ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: options.env,
  }).spawn();
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
  }, options.timeoutMs ?? 600_000);
  const out = await child.output();
  clearTimeout(timer);
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Run a driver that prints one JSON object on its last stdout line. Errors become `{error}`. */
async function runJson(cmd: string, args: string[], timeoutMs = 600_000): Promise<Json> {
  const t0 = performance.now();
  const r = await run(cmd, args, { timeoutMs });
  const lines = r.stdout.trim().split("\n").filter((l) => l.startsWith("{"));
  if (r.code !== 0 || lines.length === 0) {
    const tail = (r.stderr || r.stdout).trim().split("\n").slice(-6).join(" | ");
    say(`  driver failed (exit ${r.code}): ${tail.slice(0, 400)}`);
    return { error: `exit ${r.code}: ${tail.slice(0, 1000)}`, wall_s: (performance.now() - t0) / 1000 };
  }
  return JSON.parse(lines[lines.length - 1]);
}

const py = (script: string, args: (string | number)[], timeoutMs?: number) =>
  runJson(PY, [`${BENCH}/py/${script}`, ...args.map(String)], timeoutMs);
const tsClient = (args: (string | number)[], timeoutMs?: number) =>
  // tests/deno.json: the TS client may fall back to the test helper, whose grpc-js is a test-only package.
  runJson(
    Deno.execPath(),
    ["run", "-A", "--config", `${ROOT}/tests/deno.json`, `${BENCH}/ts_client.ts`, ...args.map(String)],
    timeoutMs,
  );

/** What a benchmark server is: flame-cache, the pyarrow (Arrow C++) peer or the Rust peer. */
type ServerKind = "flame" | "peer" | "rust";

/** A server process started for one case. */
interface Server {
  kind: ServerKind;
  label: string;
  pid: number;
  port: number;
  address: string;
  /** ms from spawn until the start-up line was read on stderr. */
  readyMs: number;
  /** The parsed start-up log line. */
  started: Json;
  /** VmRSS right after start. */
  rssStart?: number;
  sampler: RssSampler;
  logs(): string;
  stop(): Promise<{ maxRss: number; cpuS: number; code: number | null }>;
}

/** Servers currently running, killed if the benchmark itself is interrupted. */
const LIVE = new Set<Deno.ChildProcess>();
/** Other things to stop if the benchmark is interrupted (a cluster started by scripts/cluster.sh). */
const CLEANUPS = new Set<() => Promise<void>>();

function onInterrupt(signal: Deno.Signal): void {
  Deno.addSignalListener(signal, async () => {
    say(`${signal}: stopping ${LIVE.size} server(s)`);
    for (const c of LIVE) {
      try {
        c.kill("SIGKILL");
      } catch { /* gone */ }
    }
    const bounded = Promise.all([...CLEANUPS].map((f) => f().catch(() => {})));
    await Promise.race([bounded, new Promise((r) => setTimeout(r, 60_000))]);
    Deno.exit(130);
  });
}

async function spawnServer(
  kind: ServerKind,
  opts: {
    storage?: string;
    extraArgs?: string[];
    env?: Record<string, string>;
    label?: string;
    timeoutMs?: number;
  },
): Promise<Server> {
  const args = kind === "flame"
    ? [
      "run",
      "--allow-all",
      `${ROOT}/main.ts`,
      "serve",
      "--listen",
      "127.0.0.1:0",
      "--storage",
      opts.storage ?? "none",
      "--max-memory",
      "4G",
      ...(opts.extraArgs ?? []),
    ]
    : kind === "rust"
    ? []
    : [`${BENCH}/peers/pyarrow_server.py`];
  const cmd = kind === "flame" ? Deno.execPath() : kind === "rust" ? RUST_PEER_BIN : PY;
  const marker = kind === "flame"
    ? "flame-cache started"
    : kind === "rust"
    ? "rust peer started"
    : "pyarrow peer started";
  const t0 = performance.now();
  const child = new Deno.Command(cmd, {
    args,
    cwd: ROOT,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
    env: { FLAME_LOG: "info", ...(opts.env ?? {}) },
  }).spawn();
  let text = "";
  let readyMs = 0;
  let resolveLine: (j: Json) => void;
  const started = new Promise<Json>((r) => (resolveLine = r));
  const pump = forEachLine(child.stderr, (line) => {
    if (!line.includes(marker)) return;
    readyMs ||= performance.now() - t0;
    try {
      resolveLine!(JSON.parse(line));
    } catch { /* not JSON */ }
  }, (s) => (text = (text + s).slice(-65536)));
  LIVE.add(child);
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    LIVE.delete(child);
    return s;
  });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = opts.timeoutMs ?? 120_000;
  let info: Json;
  try {
    info = await Promise.race([
      started,
      status.then((s) => {
        throw new Error(`${kind} exited with ${s.code} before starting: ${text.slice(-2000)}`);
      }),
      new Promise<never>((_, rej) => {
        timer = setTimeout(
          () => rej(new Error(`${kind} did not start in ${timeout} ms: ${text.slice(-2000)}`)),
          timeout,
        );
      }),
    ]);
  } catch (err) {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
    await status;
    throw err;
  } finally {
    clearTimeout(timer);
  }
  const listen = String(info.listen);
  const port = Number(listen.slice(listen.lastIndexOf(":") + 1));
  const pid = child.pid;
  const sampler = new RssSampler(pid, 50);
  return {
    kind,
    label: opts.label ?? kind,
    pid,
    port,
    address: `127.0.0.1:${port}`,
    readyMs,
    started: info,
    rssStart: memStatus(pid).rss,
    sampler,
    logs: () => text,
    async stop() {
      const maxRss = sampler.stop();
      const cpuS = cpuSeconds(pid);
      if (!exited) {
        try {
          child.kill("SIGTERM");
        } catch { /* gone */ }
      }
      const kill = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch { /* gone */ }
      }, 5000);
      const s = await status;
      clearTimeout(kill);
      await pump.catch(() => {});
      return { maxRss, cpuS, code: s.code };
    },
  };
}

/** True when a TCP connection to the port is accepted. */
async function accepts(port: number): Promise<boolean> {
  try {
    const c = await Deno.connect({ hostname: "127.0.0.1", port });
    c.close();
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// machine

function loadavg(): number[] {
  try {
    return Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).map(Number);
  } catch {
    return [];
  }
}

/** Busy and total CPU jiffies of the whole machine (to tell how busy other processes kept it). */
function machineCpu(): { busy: number; total: number } {
  const line = Deno.readTextFileSync("/proc/stat").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
  const total = line.slice(0, 8).reduce((a, b) => a + b, 0);
  const idle = line[3] + line[4];
  return { busy: (total - idle) / 100, total: total / 100 };
}

/**
 * Share of all cores kept busy by other processes over half a second, measured before a case starts
 * (nothing of ours runs then). With --wait-idle S, waits up to S seconds for it to drop below
 * IDLE_BUSY. Returns the last sample and the time waited.
 */
async function idleGate(): Promise<{ others_busy: number; waited_s: number }> {
  const t0 = performance.now();
  for (;;) {
    const a = machineCpu();
    await new Promise((r) => setTimeout(r, 500));
    const b = machineCpu();
    const busy = b.total > a.total ? (b.busy - a.busy) / (b.total - a.total) : 0;
    const waited = (performance.now() - t0) / 1000;
    if (busy < IDLE_BUSY || waited >= WAIT_IDLE_S) {
      if (waited > 1.5) {
        say(`  waited ${waited.toFixed(0)} s for idle cores (others busy ${(busy * 100).toFixed(0)}%)`);
      }
      return { others_busy: busy, waited_s: waited };
    }
  }
}

async function machineFacts(): Promise<Json> {
  const cpuinfo = Deno.readTextFileSync("/proc/cpuinfo");
  const meminfo = Deno.readTextFileSync("/proc/meminfo");
  const pyv = await run(PY, [
    "-c",
    "import pyarrow, sys, bson, numpy; print(pyarrow.__version__, sys.version.split()[0], numpy.__version__)",
  ]);
  const [pyarrowV, pythonV, numpyV] = pyv.stdout.trim().split(" ");
  const git = await run("git", ["rev-parse", "--short", "HEAD"]);
  const dirty = await run("git", ["status", "--porcelain"]);
  const fs = await run("findmnt", ["-no", "FSTYPE,SOURCE", "-T", TMP]);
  return {
    date: new Date().toISOString(),
    cpu: /model name\s*:\s*(.*)/.exec(cpuinfo)?.[1] ?? "unknown",
    cores: navigator.hardwareConcurrency,
    memory_gib: Math.round(Number(/MemTotal:\s+(\d+)/.exec(meminfo)?.[1] ?? 0) / 1024 / 1024 * 10) / 10,
    kernel: Deno.osRelease(),
    os: (() => {
      try {
        return /PRETTY_NAME="([^"]*)"/.exec(Deno.readTextFileSync("/etc/os-release"))?.[1];
      } catch {
        return undefined;
      }
    })(),
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    pyarrow: pyarrowV,
    python: pythonV,
    numpy: numpyV,
    git_commit: git.stdout.trim(),
    git_dirty_files: dirty.stdout.trim() ? dirty.stdout.trim().split("\n").length : 0,
    storage_fs: fs.stdout.trim(),
    loadavg_start: loadavg(),
  };
}

/**
 * Build the Rust peer (`cargo build --release --locked`): cargo rebuilds only when its sources or
 * Cargo.lock changed, so later runs cost a second. Returns why it is unavailable, if it is.
 */
async function ensureRustPeer(): Promise<string | undefined> {
  say("Rust peer: cargo build --release --locked (bench/peers/rust; first build takes minutes)");
  const t0 = performance.now();
  let r;
  try {
    r = await run("cargo", ["build", "--release", "--locked", "--quiet"], {
      timeoutMs: 1_800_000,
      cwd: RUST_PEER_DIR,
    });
  } catch (err) {
    return `cargo not runnable: ${String(err).slice(0, 200)}`;
  }
  if (r.code !== 0) return `cargo build failed: ${r.stderr.trim().split("\n").slice(-8).join(" | ")}`;
  say(`  built in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return undefined;
}

async function ensureVenv(): Promise<void> {
  const check = async () => {
    try {
      const r = await run(PY, ["-c", "import pyarrow.flight, bson, matplotlib, numpy"]);
      return r.code === 0;
    } catch {
      return false;
    }
  };
  if (await check()) return;
  say(`creating ${VENV} (pip install -r bench/requirements.txt)`);
  let r = await run("python3", ["-m", "venv", VENV]);
  if (r.code !== 0) throw new Error(`python3 -m venv failed: ${r.stderr}`);
  r = await run(`${VENV}/bin/pip`, ["install", "-q", "-r", `${BENCH}/requirements.txt`], {
    timeoutMs: 900_000,
  });
  if (r.code !== 0) throw new Error(`pip install failed: ${r.stderr}`);
  if (!(await check())) throw new Error("bench/.venv is unusable after pip install");
}

// ---------------------------------------------------------------------------------------------
// fsync off

interface FsyncOff {
  mode: "server-option" | "ld-preload-shim" | "unavailable";
  note: string;
  args?: string[];
  env?: Record<string, string>;
}

async function fsyncOffMode(): Promise<FsyncOff> {
  const help = await run(Deno.execPath(), ["run", "--allow-all", `${ROOT}/main.ts`, "--help"]);
  const text = help.stdout + help.stderr;
  const m = /--(no-fsync|fsync|sync|durable|durability)\b[^\n]*/i.exec(text);
  if (m) {
    const flag = m[1].toLowerCase();
    const args = flag === "no-fsync" ? ["--no-fsync"] : flag === "durability"
      ? ["--durability", "relaxed"] // acknowledged once in the OS, flushed within 1 s
      : [`--${flag}`, flag.startsWith("dur") ? "none" : "off"];
    return {
      mode: "server-option",
      note: `server option \`${args.join(" ")}\` (from --help: "${m[0].trim()}")`,
      args,
    };
  }
  const so = `${TMP}/nosync.so`;
  const cc = await run("cc", ["-shared", "-fPIC", "-O2", "-o", so, `${BENCH}/fsync_off/nosync.c`]).catch(
    () => ({
      code: 1,
      stderr: "no cc",
      stdout: "",
    }),
  );
  if (cc.code === 0) {
    return {
      mode: "ld-preload-shim",
      note:
        "the server has no fsync option (`--help` lists none), so the official fsync-off case is skipped; " +
        "as a diagnostic, fsync/fdatasync are turned into no-ops with an LD_PRELOAD shim (bench/fsync_off/nosync.c)",
      env: { LD_PRELOAD: so },
    };
  }
  return {
    mode: "unavailable",
    note: "the server has no fsync option and no C compiler is available for the LD_PRELOAD shim: skipped",
  };
}

// ---------------------------------------------------------------------------------------------
// cases

const results: Json = { mode: SHORT ? "short" : "full", cases: {} };

function save(): void {
  Deno.mkdirSync(OUT, { recursive: true });
  Deno.writeTextFileSync(`${OUT}/latest.json`, JSON.stringify(results, null, 2) + "\n");
}

async function tcpLimit(tag: string): Promise<Json> {
  say(`TCP loopback limit (${tag}): 1 GiB x 3`);
  const gate = await idleGate();
  const r = await py("tcp_limit.py", ["--bytes", GiB, "--runs", 3], 300_000);
  r.others_busy_before = gate.others_busy;
  if (!r.error) say(`  ${r.mib_s.map((x: number) => x.toFixed(0)).join(", ")} MiB/s`);
  return r;
}

interface ServerSpec {
  id: string;
  kind: ServerKind;
  storage: "fs" | "none" | "fs-nosync" | "-";
  label: string;
}

async function startFor(
  spec: ServerSpec,
  fsyncOff: FsyncOff,
): Promise<{ server: Server; storageUsed: string }> {
  if (spec.kind !== "flame") {
    return { server: await spawnServer(spec.kind, { label: spec.label }), storageUsed: "memory" };
  }
  if (spec.storage === "none") {
    return {
      server: await spawnServer("flame", { storage: "none", label: spec.label }),
      storageUsed: "none",
    };
  }
  const dir = Deno.makeTempDirSync({ dir: TMP, prefix: "store-" });
  try {
    const server = await spawnServer("flame", {
      storage: dir,
      label: spec.label,
      extraArgs: spec.storage === "fs-nosync" ? fsyncOff.args : undefined,
      env: spec.storage === "fs-nosync" ? fsyncOff.env : undefined,
    });
    const stop = server.stop.bind(server);
    server.stop = async () => {
      const r = await stop();
      Deno.removeSync(dir, { recursive: true });
      return r;
    };
    return { server, storageUsed: `fs (${dir.slice(ROOT.length + 1)})` };
  } catch (err) {
    Deno.removeSync(dir, { recursive: true });
    if (spec.storage !== "fs") throw err;
    say(`  --storage ${dir} failed (${String(err).slice(0, 200)}); falling back to --storage none`);
    return {
      server: await spawnServer("flame", { storage: "none", label: spec.label }),
      storageUsed: "none (fs failed)",
    };
  }
}

async function withServer<T>(
  spec: ServerSpec,
  fsyncOff: FsyncOff,
  body: (s: Server) => Promise<T>,
): Promise<Json> {
  const gate = await idleGate();
  const la = loadavg();
  const m0 = machineCpu();
  let started;
  try {
    started = await startFor(spec, fsyncOff);
  } catch (err) {
    say(`  ${spec.label}: server did not start: ${String(err).slice(0, 300)}`);
    return { error: `server did not start: ${String(err).slice(0, 1000)}` };
  }
  const { server, storageUsed } = started;
  let out: Json;
  try {
    out = await body(server);
  } catch (err) {
    out = { error: String(err) };
  }
  const st = await server.stop();
  const m1 = machineCpu();
  const wall = m1.total - m0.total;
  return {
    ...out,
    storage_used: storageUsed,
    server_label: server.label,
    server_rss_start: server.rssStart,
    server_rss_max_sampled: st.maxRss,
    server_cpu_total_s: st.cpuS,
    server_exit: st.code,
    loadavg_before: la,
    others_busy_before: gate.others_busy,
    waited_idle_s: gate.waited_s,
    machine_busy_frac: wall > 0 ? (m1.busy - m0.busy) / wall : undefined,
  };
}

const SERVERS: Record<string, ServerSpec> = {
  flame: { id: "flame", kind: "flame", storage: "fs", label: "flame-cache (fs, durable)" },
  flameNosync: {
    id: "flameNosync",
    kind: "flame",
    storage: "fs-nosync",
    label: "flame-cache (fs, relaxed / fsync off)",
  },
  flameNone: { id: "flameNone", kind: "flame", storage: "none", label: "flame-cache (storage none)" },
  peer: { id: "peer", kind: "peer", storage: "-", label: "pyarrow peer (in memory)" },
  rustPeer: {
    id: "rustPeer",
    kind: "rust",
    storage: "-",
    label: "Rust peer (arrow-flight + tonic, in memory)",
  },
};

async function largeCases(fsyncOff: FsyncOff): Promise<Json[]> {
  const sizes = SHORT
    ? [{ size: MiB, reps: 20, warmup: 3 }, { size: 64 * MiB, reps: 3, warmup: 1 }]
    : [{ size: MiB, reps: 30, warmup: 3 }, { size: 64 * MiB, reps: 5, warmup: 1 }, {
      size: GiB,
      reps: 3,
      warmup: 0,
    }];
  const rows: Json[] = [];
  for (const { size, reps, warmup } of sizes) {
    const combos: [ServerSpec, "pyarrow" | "ts"][] = [
      [SERVERS.flame, "pyarrow"],
      [SERVERS.peer, "pyarrow"],
      [SERVERS.flame, "ts"],
    ];
    if (size >= 64 * MiB && fsyncOff.mode !== "unavailable") combos.push([SERVERS.flameNosync, "pyarrow"]);
    if (size === 64 * MiB) combos.push([SERVERS.flameNone, "pyarrow"]);
    for (const [spec, client] of combos) {
      // TS client through grpc-js at 1 GiB is slow and memory-hungry: fewer reps.
      const r = client === "ts" && size >= GiB ? Math.min(reps, 2) : reps;
      say(`large ${size / MiB} MiB: ${spec.label}, ${client} client, ${warmup}+${r} reps`);
      const res = await withServer(spec, fsyncOff, async (s) => {
        const common = [
          "--address",
          s.address,
          "--size",
          size,
          "--reps",
          r,
          "--warmup",
          warmup,
          "--server-pid",
          s.pid,
        ];
        return client === "pyarrow"
          ? await py("flight_bench.py", ["large", ...common], 900_000)
          : await tsClient(["large", ...common], 900_000);
      });
      const { client: clientLabel, ...rest } = res;
      const row = {
        ...rest,
        server: spec.id,
        server_label: spec.label,
        client,
        client_label: clientLabel,
        size,
      };
      if (!res.error) {
        const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
        row.put_mib_s = size / MiB / med(res.put_s);
        row.get_mib_s = size / MiB / med(res.get_s);
        say(`  PUT ${row.put_mib_s.toFixed(0)} MiB/s, GET ${row.get_mib_s.toFixed(0)} MiB/s`);
      }
      rows.push(row);
      results.cases.large = rows;
      save();
    }
  }
  return rows;
}

/**
 * Durable vs fsync-off PUTs of 64 MiB, alternating between two servers started side by side (the
 * difference is small next to the run-to-run noise of separate rows on a shared machine).
 */
async function durabilityCase(fsyncOff: FsyncOff): Promise<Json> {
  if (fsyncOff.mode === "unavailable") return { skipped: fsyncOff.note };
  const reps = SHORT ? 6 : 12;
  say(`durability: 64 MiB PUTs alternating between durable and fsync-off servers, 1+${reps} each`);
  await idleGate();
  let a: { server: Server } | undefined, b: { server: Server } | undefined;
  try {
    a = await startFor(SERVERS.flame, fsyncOff);
    b = await startFor(SERVERS.flameNosync, fsyncOff);
    const r = await py("flight_bench.py", [
      "paired",
      "--address",
      a.server.address,
      "--address2",
      b.server.address,
      "--size",
      64 * MiB,
      "--reps",
      reps,
      "--warmup",
      1,
    ], 600_000);
    if (r.error) return r;
    const med = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
    const durable = 64 / med(r.a_put_s), nosync = 64 / med(r.b_put_s);
    say(`  durable ${durable.toFixed(0)} MiB/s, fsync off ${nosync.toFixed(0)} MiB/s`);
    return {
      ...r,
      durable_mib_s: durable,
      nosync_mib_s: nosync,
      cost: 1 - durable / nosync,
      mode: fsyncOff.mode,
    };
  } catch (err) {
    return { error: String(err).slice(0, 1000) };
  } finally {
    await a?.server.stop();
    await b?.server.stop();
  }
}

/** Set by main(): why the Rust peer could not be built (undefined when it was). */
let rustPeerMissing: string | undefined = "not built";

/** The servers of the small-object section, each driven through pyarrow. */
function smallServers(): ServerSpec[] {
  const specs = [SERVERS.flame, SERVERS.peer, SERVERS.flameNone];
  // The compiled peer (issue 15): the small-object targets are ratios against it.
  if (!rustPeerMissing) specs.push(SERVERS.rustPeer);
  return specs;
}

/**
 * Server CPU per MiB of 256 MiB GETs from the durable store, against both peers' (issue 15: <= 1.5x
 * the Arrow C++ peer's). One PUT, then 1+4 GETs of the same object, so the GETs read an object that is
 * written and unchanged (steady state, not the first read after a write).
 */
async function getCpuCases(fsyncOff: FsyncOff): Promise<Json[]> {
  const size = 256 * MiB, reps = SHORT ? 2 : 4;
  const specs = [SERVERS.flame, SERVERS.peer, ...(rustPeerMissing ? [] : [SERVERS.rustPeer])];
  const rows: Json[] = [];
  for (const spec of specs) {
    say(`GET CPU 256 MiB: ${spec.label}, 1 PUT then 1+${reps} GETs`);
    const res = await withServer(spec, fsyncOff, async (s) => {
      const common = ["--address", s.address, "--size", size, "--server-pid", s.pid];
      const put = await py("flight_bench.py", [
        "large",
        ...common,
        "--ops",
        "put",
        "--reps",
        1,
        "--warmup",
        0,
      ]);
      if (put.error) return put;
      return await py("flight_bench.py", ["large", ...common, "--ops", "get", "--reps", reps, "--warmup", 1]);
    });
    const row: Json = { ...res, server: spec.id, server_label: spec.label, size };
    if (!res.error) {
      row.get_cpu_ms_per_mib = (res.server_cpu_s.get * 1000) / ((size / MiB) * res.reps);
      row.get_mib_s = size / MiB / [...res.get_s].sort((a, b) => a - b)[Math.floor(res.get_s.length / 2)];
      say(`  GET ${row.get_mib_s.toFixed(0)} MiB/s, server CPU ${row.get_cpu_ms_per_mib.toFixed(2)} ms/MiB`);
    }
    rows.push(row);
    results.cases.get_cpu = rows;
    save();
  }
  return rows;
}

async function smallCases(fsyncOff: FsyncOff): Promise<Json[]> {
  const seconds = SHORT ? 2.5 : 6;
  const phases: { c: number; mode: string }[] = [
    { c: 1, mode: "put" },
    { c: 1, mode: "get" },
    { c: 32, mode: "put" },
    { c: 32, mode: "get" },
    { c: 32, mode: "mixed" },
    // issue 15's throughput target: the 50/50 mix at c=16
    { c: 16, mode: "mixed" },
  ];
  const combos: [ServerSpec, "pyarrow" | "ts"][] = smallServers().map((s) => [s, "pyarrow"]);
  // Both durability modes (issue 15): `--durability relaxed` when the server has it.
  if (fsyncOff.mode === "server-option") combos.splice(1, 0, [SERVERS.flameNosync, "pyarrow"]);
  // the TypeScript client's small-object block only in the full run (keeps the short run under ~3 min)
  if (!SHORT) combos.push([SERVERS.flame, "ts"]);
  // Every server runs through the whole section and each phase visits them in turn: a phase's ratios
  // compare runs seconds apart, not blocks minutes apart (the machine is shared; its load changes by the
  // minute). Idle servers cost nothing meanwhile.
  interface Block {
    spec: ServerSpec;
    client: "pyarrow" | "ts";
    server?: Server;
    storageUsed?: string;
    error?: string;
    othersBusy?: number;
    phases: Json[];
    stopped?: { maxRss: number; cpuS: number; code: number | null };
  }
  const blocks: Block[] = [];
  const rowsOf = () =>
    blocks.map((b) =>
      b.error ? { error: b.error, server: b.spec.id, server_label: b.spec.label, client: b.client } : {
        phases: b.phases,
        storage_used: b.storageUsed,
        server: b.spec.id,
        server_label: b.spec.label,
        client: b.client,
        server_rss_start: b.server?.rssStart,
        server_rss_max_sampled: b.stopped?.maxRss,
        server_cpu_total_s: b.stopped?.cpuS,
        server_exit: b.stopped?.code,
        others_busy_before: b.othersBusy,
        interleaved: true,
      }
    );
  for (const [spec, client] of combos) {
    const gate = await idleGate();
    try {
      const { server, storageUsed } = await startFor(spec, fsyncOff);
      blocks.push({ spec, client, server, storageUsed, othersBusy: gate.others_busy, phases: [] });
    } catch (err) {
      say(`  ${spec.label}: server did not start: ${String(err).slice(0, 300)}`);
      blocks.push({ spec, client, error: `server did not start: ${String(err).slice(0, 1000)}`, phases: [] });
    }
  }
  try {
    for (const ph of phases) {
      for (const b of blocks) {
        const s = b.server;
        if (!s) continue;
        const args = [
          "small",
          "--address",
          s.address,
          "--size",
          1024,
          "--concurrency",
          ph.c,
          "--seconds",
          seconds,
          "--mode",
          ph.mode,
          "--server-pid",
          s.pid,
        ];
        const gate = await idleGate();
        const r = b.client === "pyarrow"
          ? await py("flight_bench.py", [...args, "--procs", ph.c > 1 ? 2 : 1], 300_000)
          : await tsClient(args, 300_000);
        const rss = memStatus(s.pid);
        const { client: clientLabel, ...rest } = r;
        b.phases.push({
          ...rest,
          client_label: clientLabel,
          phase: `c=${ph.c} ${ph.mode}`,
          server_rss_after: rss.rss,
          others_busy_before: gate.others_busy,
        });
        if (!r.error) {
          say(
            `small c=${ph.c} ${ph.mode}, ${b.spec.label} (${b.client}): ${r.ops_s.toFixed(0)} ops/s` +
              (r.get ? `, get p50 ${r.get.p50_ms.toFixed(2)} ms p99 ${r.get.p99_ms.toFixed(2)} ms` : "") +
              (r.put ? `, put p50 ${r.put.p50_ms.toFixed(2)} ms p99 ${r.put.p99_ms.toFixed(2)} ms` : "") +
              (r.errors ? `, ${r.errors} errors` : ""),
          );
        }
      }
      results.cases.small = rowsOf();
      save();
    }
  } finally {
    for (const b of blocks) if (b.server) b.stopped = await b.server.stop();
  }
  results.cases.small = rowsOf();
  save();
  return results.cases.small;
}

async function startupCase(): Promise<Json> {
  const n = 100_000;
  const root = Deno.makeTempDirSync({ dir: TMP, prefix: "startup-" });
  const out: Json = { objects: n };
  try {
    say(`start-up: writing ${n} objects in Flame's layout with pyarrow`);
    out.generate = await py("make_store.py", [`${root}/store`, "--objects", n], 600_000);
    if (out.generate.error) return out;
    const runs: Json[] = [];
    const cases: [string, string][] = [["empty store", `${root}/empty`], [`${n} objects`, `${root}/store`]];
    Deno.mkdirSync(`${root}/empty`);
    for (const [name, dir] of cases) {
      const reps = name === "empty store" ? 1 : SHORT ? 1 : 3;
      for (let i = 0; i < reps; i++) {
        const gate = await idleGate();
        let s: Server;
        try {
          s = await spawnServer("flame", {
            storage: dir,
            label: `flame-cache (${name})`,
            timeoutMs: 300_000,
          });
        } catch (err) {
          runs.push({ name, error: String(err).slice(0, 1000) });
          continue;
        }
        const t = performance.now();
        const ok = await accepts(s.port);
        const acceptMs = s.readyMs + (performance.now() - t);
        const rss = memStatus(s.pid).rss;
        let check: Json = undefined;
        if (name !== "empty store" && i === 0) {
          check = await py("flight_bench.py", [
            "check",
            "--address",
            s.address,
            "--key",
            out.generate.sample_key,
            "--size",
            1024,
          ]);
        }
        const st = await s.stop();
        const r = {
          name,
          ready_ms: s.readyMs,
          accept_ms: ok ? acceptMs : null,
          startup_ms_logged: s.started.startupMs,
          index: s.started.index,
          rss_after_start: rss,
          server_cpu_s: st.cpuS,
          check,
          others_busy_before: gate.others_busy,
        };
        say(
          `  ${name}: ready after ${
            s.readyMs.toFixed(0)
          } ms (server's startupMs ${s.started.startupMs}), RSS ${((rss ?? 0) / MiB).toFixed(0)} MiB`,
        );
        runs.push(r);
      }
    }
    out.runs = runs;
    return out;
  } finally {
    if (!opts["keep-tmp"]) Deno.removeSync(root, { recursive: true });
  }
}

/** The cluster section (bench/cluster.ts) with this orchestrator's helpers. */
function clusterSection(fsyncOff: FsyncOff): Promise<Json> {
  return clusterCases({
    short: SHORT,
    tmp: TMP,
    root: ROOT,
    keepTmp: opts["keep-tmp"]!,
    say,
    py,
    deno: (script, args, timeoutMs) =>
      runJson(Deno.execPath(), ["run", "-A", `${BENCH}/${script}`, ...args.map(String)], timeoutMs),
    idleGate,
    async startSingle(storage) {
      const { server, storageUsed } = await startFor(
        storage === "fs" ? SERVERS.flame : SERVERS.flameNone,
        fsyncOff,
      );
      return {
        pid: server.pid,
        address: server.address,
        label: server.label,
        storageUsed,
        stop: () => server.stop(),
      };
    },
    onInterrupt(cleanup) {
      CLEANUPS.add(cleanup);
      return () => CLEANUPS.delete(cleanup);
    },
    save(partial) {
      results.cases.cluster = partial;
      save();
    },
  });
}

// ---------------------------------------------------------------------------------------------

/** latest.md (formatted like the repository's Markdown) and latest.png from `results`. */
async function writeReport(): Promise<void> {
  const md = renderMarkdown(results);
  Deno.writeTextFileSync(`${OUT}/latest.md`, md);
  // keep `deno fmt --check` of the repository green (it aligns Markdown tables)
  await run(Deno.execPath(), ["fmt", "--quiet", `${OUT}/latest.md`, `${OUT}/latest.json`]);
  // the chart shows the large and small sections (a cluster-only run has none of them)
  if (!results.cases.large?.length && !results.cases.small?.length) return;
  const plot = await run(PY, [`${BENCH}/py/plot.py`, `${OUT}/latest.json`, `${OUT}/latest.png`]);
  if (plot.code !== 0) say(`plot failed: ${plot.stderr.slice(-500)}`);
}

async function main(): Promise<void> {
  const t0 = performance.now();
  onInterrupt("SIGINT");
  onInterrupt("SIGTERM");
  Deno.mkdirSync(TMP, { recursive: true });
  await ensureVenv();
  results.machine = await machineFacts();
  say(
    `machine: ${results.machine.cpu}, ${results.machine.cores} cores, load ${
      results.machine.loadavg_start.join(" ")
    }`,
  );
  results.ts_client = (await tsClient(["which"])).client;
  const fsyncOff = await fsyncOffMode();
  results.fsync_off = fsyncOff;
  say(`TS client: ${results.ts_client}; fsync off: ${fsyncOff.mode}`);
  save();

  if (ONLY.has("tcp")) {
    results.cases.tcp_start = await tcpLimit("start");
    say("storage device limit: 256 MiB write + fdatasync x 3, 300 crash-safe 1 KiB writes");
    await idleGate();
    results.cases.disk = await py("disk_limit.py", [`${TMP}/disk`, "--bytes", 256 * MiB], 300_000);
    if (!results.cases.disk.error) {
      const d = results.cases.disk;
      say(
        `  ${d.large.median_mib_s.toFixed(0)} MiB/s durable; 1 KiB crash-safe write p50 ${
          d.small.p50_ms.toFixed(2)
        } ms`,
      );
    }
  }
  save();
  if (ONLY.has("large")) {
    await largeCases(fsyncOff);
    results.cases.durability = await durabilityCase(fsyncOff);
    save();
  }
  if (ONLY.has("small") || ONLY.has("getcpu")) {
    rustPeerMissing = await ensureRustPeer();
    results.rust_peer = rustPeerMissing ? { missing: rustPeerMissing } : { bin: RUST_PEER_BIN };
    if (rustPeerMissing) say(`  Rust peer unavailable: ${rustPeerMissing}`);
  }
  if (ONLY.has("small")) await smallCases(fsyncOff);
  if (ONLY.has("getcpu")) await getCpuCases(fsyncOff);
  if (ONLY.has("startup")) results.cases.startup = await startupCase();
  save();
  if (ONLY.has("scale")) {
    // Issue 14: 10k, 100k and 1M objects in the full run; the short run stops at 100k.
    results.cases.scale = await scaleCases({
      sizes: SHORT ? [10_000, 100_000] : [10_000, 100_000, 1_000_000],
      tmp: TMP,
      mainTs: `${ROOT}/main.ts`,
      keepTmp: opts["keep-tmp"]!,
      say,
      py,
      idleGate,
      save(partial) {
        results.cases.scale = partial;
        save();
      },
    });
    save();
  }
  if (ONLY.has("cluster")) results.cases.cluster = await clusterSection(fsyncOff);
  save();
  if (ONLY.has("tcp")) results.cases.tcp_end = await tcpLimit("end");
  results.machine.loadavg_end = loadavg();
  results.total_s = (performance.now() - t0) / 1000;
  results.targets = evaluate(results);
  save();

  await writeReport();
  try {
    Deno.removeSync(TMP, { recursive: true });
  } catch { /* in use or gone */ }
  say(`done in ${results.total_s.toFixed(0)} s: ${OUT}/latest.{json,md,png}`);
  console.log(Deno.readTextFileSync(`${OUT}/latest.md`));
}

if (import.meta.main) {
  if (opts.render) {
    // re-render latest.md and latest.png from an existing latest.json (after changing the report)
    Object.assign(results, JSON.parse(Deno.readTextFileSync(`${OUT}/latest.json`)));
    results.targets = evaluate(results);
    save();
    await writeReport();
    console.log(Deno.readTextFileSync(`${OUT}/latest.md`));
  } else {
    await main();
  }
}
