/**
 * Where does the server's time go? Runs one benchmark workload against a fresh flame-cache started
 * with `--v8-flags=--perf-basic-prof` and records it with Linux `perf` (all threads: the network
 * thread "deno", the store worker "worker-N", V8's GC/compiler threads "V8 DefaultWorke", tokio).
 *
 * ```
 * deno run -A bench/profile.ts WORKLOAD [--seconds 6] [--storage fs|none] [--concurrency N] [--tag T]
 *   [--server-root DIR] (the server of another checkout, for before/after)
 *   [--out bench/results/profiles]
 *   WORKLOAD: put-large | get-large | put-small | get-small | mixed-small | startup
 * ```
 * Small workloads run at c=1 (put) or c=32 (get, mixed) unless --concurrency says otherwise; the
 * report is OUT/WORKLOAD[-TAG].txt.
 * ```
 * ```
 * Writes OUT/WORKLOAD.txt: server CPU per op, CPU share per thread, top self symbols per thread and
 * the heaviest inclusive JavaScript frames (JS:^name file:line). Needs `perf` (Debian: linux-perf).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { cpuSeconds } from "./lib/proc.ts";

const BENCH = new URL(".", import.meta.url).pathname.replace(/\/$/, "");
const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const PY = `${BENCH}/.venv/bin/python`;

const { values, positionals } = parseArgs({
  args: Deno.args,
  allowPositionals: true,
  options: {
    seconds: { type: "string", default: "6" },
    storage: { type: "string", default: "fs" },
    out: { type: "string", default: `${BENCH}/results/profiles` },
    concurrency: { type: "string" },
    // profile the server of another checkout (e.g. a worktree of main, for before/after tables)
    "server-root": { type: "string" },
    tag: { type: "string" },
  },
});
const workload = positionals[0];
const WORKLOADS = ["put-large", "get-large", "put-small", "get-small", "mixed-small", "startup"];
if (!WORKLOADS.includes(workload)) {
  console.error(
    `usage: deno run -A bench/profile.ts ${WORKLOADS.join("|")} [--seconds N] [--storage fs|none]`,
  );
  Deno.exit(2);
}
const seconds = Number(values.seconds);
const OUT = values.out!;
Deno.mkdirSync(OUT, { recursive: true });
const tmp = Deno.makeTempDirSync({ prefix: "flame-profile-" });

async function sh(cmd: string, args: string[]): Promise<string> {
  const o = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped", cwd: ROOT }).output();
  return new TextDecoder().decode(o.stdout) + (o.success ? "" : new TextDecoder().decode(o.stderr));
}

const SERVER_ROOT = values["server-root"] ?? ROOT;

function serverArgs(storage: string): string[] {
  return [
    "run",
    "--v8-flags=--perf-basic-prof",
    "--allow-all",
    `${SERVER_ROOT}/main.ts`,
    "serve",
    "--listen",
    "127.0.0.1:0",
    "--storage",
    storage,
    "--max-memory",
    "4G",
  ];
}

/** Resolves with the port once the started line is seen; keeps draining stderr afterwards. */
function waitStarted(stderr: ReadableStream<Uint8Array>): Promise<{ port: number; line: string }> {
  return new Promise((resolve, reject) => {
    const dec = new TextDecoder();
    let text = "";
    let found = false;
    (async () => {
      for await (const chunk of stderr) {
        if (found) continue; // keep the pipe open and drained
        text += dec.decode(chunk, { stream: true });
        const line = text.split("\n").find((l) => l.includes("flame-cache started"));
        if (line) {
          found = true;
          const m = /"listen":"[^"]*:(\d+)"/.exec(line)!;
          resolve({ port: Number(m[1]), line });
        }
      }
      if (!found) reject(new Error(`server exited: ${text}`));
    })();
  });
}

let perfData = `${tmp}/perf.data`;
let summary = "";
/** Ops of a small workload and the server's CPU seconds over it (for the per-component table). */
let opsDone = 0, cpuTotal = 0;
const storage = values.storage === "none" ? "none" : `${tmp}/store`;

if (workload === "startup") {
  const store = `${tmp}/startup`;
  console.error("writing 100,000 objects ...");
  await sh(PY, [`${BENCH}/py/make_store.py`, store, "--objects", "100000"]);
  const child = new Deno.Command("perf", {
    args: ["record", "-F", "999", "-g", "-o", perfData, "--", Deno.execPath(), ...serverArgs(store)],
    stdout: "null",
    stderr: "piped",
    cwd: ROOT,
  }).spawn();
  const t0 = performance.now();
  const { line } = await waitStarted(child.stderr);
  summary = `start-up of 100,000 objects: started line after ${
    (performance.now() - t0).toFixed(0)
  } ms (under perf)\n${line}\n`;
  // perf forwards SIGTERM to the workload and exits with it
  const pids = (await sh("pgrep", ["-P", String(child.pid)])).trim().split("\n").filter(Boolean);
  for (const p of pids) Deno.kill(Number(p), "SIGTERM");
  await child.status;
} else {
  const server = new Deno.Command(Deno.execPath(), {
    args: serverArgs(storage),
    stdout: "null",
    stderr: "piped",
    cwd: ROOT,
  }).spawn();
  const { port } = await waitStarted(server.stderr);
  const pid = server.pid;
  const address = `127.0.0.1:${port}`;
  const large = workload.endsWith("large");
  const size = large ? 64 * 1024 * 1024 : 1024;
  const mode = workload.split("-")[0];
  const concurrency = values.concurrency ? Number(values.concurrency) : mode === "put" ? 1 : 32;
  // populate first, so a get profile holds only gets
  if (large && mode === "get") {
    await sh(PY, [
      `${BENCH}/py/flight_bench.py`,
      "large",
      "--address",
      address,
      "--size",
      String(size),
      "--reps",
      "1",
      "--warmup",
      "0",
    ]);
  }
  perfData = `${tmp}/perf.data`;
  const perf = new Deno.Command("perf", {
    args: ["record", "-F", "999", "-g", "-p", String(pid), "-o", perfData],
    stdout: "null",
    stderr: "null",
  }).spawn();
  await new Promise((r) => setTimeout(r, 500));
  const cpu0 = cpuSeconds(pid);
  let driverOut: string;
  if (large) {
    // large: repeated PUTs (or GETs) of the same 64 MiB key
    const reps = Math.max(2, Math.round(seconds * 2));
    driverOut = await sh(PY, [
      `${BENCH}/py/flight_bench.py`,
      "large",
      "--address",
      address,
      "--size",
      String(size),
      "--reps",
      String(reps),
      "--warmup",
      "0",
      "--server-pid",
      String(pid),
      "--ops",
      mode,
    ]);
  } else {
    driverOut = await sh(PY, [
      `${BENCH}/py/flight_bench.py`,
      "small",
      "--address",
      address,
      "--size",
      "1024",
      "--concurrency",
      String(concurrency),
      "--procs",
      concurrency > 1 ? "2" : "1",
      "--seconds",
      String(seconds),
      "--mode",
      mode,
      "--server-pid",
      String(pid),
    ]);
  }
  const cpu = cpuSeconds(pid) - cpu0;
  Deno.kill(perf.pid, "SIGINT");
  await perf.status;
  server.kill("SIGTERM");
  await server.status;
  const d = JSON.parse(driverOut.trim().split("\n").pop()!);
  if (large) {
    const mib = (size / 2 ** 20) * d.reps;
    const times: number[] = d[`${mode}_s`];
    summary = `${workload}: 64 MiB x ${d.reps} ${mode.toUpperCase()}, server CPU ${
      (d.server_cpu_s[mode] * 1000 / mib).toFixed(2)
    } ms/MiB (all server CPU during the profile ${cpu.toFixed(2)} s), client CPU ${
      (d.client_cpu_s[mode] * 1000 / mib).toFixed(2)
    } ms/MiB\nseconds per op: ${times.map((x) => x.toFixed(3)).join(" ")} (median ${
      (64 / [...times].sort((a, b) => a - b)[Math.floor(times.length / 2)]).toFixed(0)
    } MiB/s)\n`;
  } else {
    opsDone = d.ops;
    cpuTotal = cpu;
    summary =
      `${workload}: ${d.ops} ops in ${d.seconds.toFixed(1)} s = ${
        d.ops_s.toFixed(0)
      } ops/s at c=${d.concurrency}; ` +
      `server CPU ${(cpu / d.ops * 1e6).toFixed(0)} µs/op; client CPU ${
        (d.client_cpu_s / d.ops * 1e6).toFixed(0)
      } µs/op\n`;
  }
}

/** The kernel's share of a main-thread sample (leaf frames in the kernel), by what it was doing. */
function kernelPart(frames: string[]): string | undefined {
  if (frames.length === 0 || !frames[0].includes("kernel.kallsyms")) return undefined;
  const sys = frames.find((f) => /__x64_sys_|__do_sys_/.test(f));
  if (sys) {
    if (/sendto|sendmsg|sys_write/.test(sys)) return "kernel: socket writes (TCP loopback send)";
    if (/recvfrom|recvmsg|sys_read/.test(sys)) return "kernel: socket reads";
    if (/futex|epoll/.test(sys)) return "kernel: thread wake-ups and waits (futex, epoll)";
    return "kernel: other system calls";
  }
  return "kernel: interrupts, softirq (TCP receive), page faults, scheduling";
}

/**
 * Where each sample of the server went, by component: the innermost frame of ours (or of a known
 * library) on its stack names it; samples of the store worker and of V8's helper threads are their
 * own rows; main-thread samples with none of our frames are the runtime's (event loop, ops, kernel
 * work done for them). Scaled to µs per op with the server's measured CPU time.
 */
async function components(data: string, ops: number, cpuS: number): Promise<string> {
  const text = await sh("perf", ["script", "-i", data]);
  const rules: [RegExp, string][] = [
    [/src\/h2\/(hpack|huffman|header_block|request_headers)\.ts/, "HTTP/2 headers (HPACK)"],
    [/src\/h2\/(writer|channel)\.ts/, "HTTP/2 writing (frames out, socket writes)"],
    [/src\/h2\//, "HTTP/2 reading and stream state"],
    [/src\/grpc\//, "gRPC call (framing, deadlines, call set-up)"],
    [/bson|src\/flight\/object_ref/, "ObjectRef BSON"],
    [/src\/flight\/|src\/arrow\//, "Flight/Arrow decode and encode"],
    [/src\/server\/|src\/auth\//, "Flight handlers (service, upload, replies)"],
    [/src\/ops\/|src\/log\.ts/, "logging and metrics"],
    [/src\/store\//, "store (network-thread side: hot cache, worker hop)"],
    [/deno_node\/.*timers|ext:deno_web\/02_timers/, "timers (setTimeout / setImmediate)"],
  ];
  const counts = new Map<string, number>();
  let total = 0;
  const flush = (comm: string, frames: string[]) => {
    if (!comm) return;
    let name: string;
    const kernel = kernelPart(frames);
    if (comm.startsWith("worker-")) name = "store worker thread (all of it)";
    else if (comm.startsWith("V8 ")) name = "V8 helper threads (GC, compiler)";
    else if (comm.startsWith("tokio")) name = "Deno's blocking-I/O threads (file reads and writes)";
    else if (kernel) name = kernel;
    else {
      name = "Deno runtime (event loop, promise jobs, op dispatch)";
      for (const f of frames) {
        const hit = rules.find(([re]) => re.test(f));
        if (hit) {
          name = hit[1];
          break;
        }
      }
    }
    counts.set(name, (counts.get(name) ?? 0) + 1);
    total++;
  };
  let comm = "";
  let frames: string[] = [];
  for (const line of text.split("\n")) {
    if (line.length === 0) continue;
    if (!line.startsWith("\t")) {
      // a sample's header: "comm pid time: period event:" (comm may hold spaces)
      flush(comm, frames);
      comm = /^\s*(.+?)\s+\d+\s+[\d.]+:/.exec(line)?.[1] ?? "";
      frames = [];
    } else frames.push(line.trim());
  }
  flush(comm, frames);
  const rows = [...counts].sort((a, b) => b[1] - a[1]);
  const us = (n: number) => (n / total) * cpuS / ops * 1e6;
  return rows.map(([k, n]) =>
    `${us(n).toFixed(0).padStart(6)} µs  ${(n / total * 100).toFixed(1).padStart(5)}%  ${k}`
  )
    .join("\n") + `\n${us(total).toFixed(0).padStart(6)} µs  total (${total} samples)\n`;
}

const report = async (args: string[]) => await sh("perf", ["report", "-i", perfData, "--stdio", ...args]);
const pct = (text: string, n: number) =>
  text.split("\n").filter((l) => /^\s+\d+\.\d+%/.test(l)).slice(0, n).join("\n");
const threads = pct(await report(["--no-children", "--sort", "comm", "-g", "none"]), 12);
let body = `${summary}\nload average: ${
  Deno.readTextFileSync("/proc/loadavg").trim()
}\n\n== CPU share per thread ==\n${threads}\n`;
for (const comm of ["deno", "worker-1", "V8 DefaultWorke"]) {
  const self = pct(await report(["--no-children", "--comm", comm, "--sort", "dso,sym", "-g", "none"]), 25);
  body += `\n== ${comm}: top self symbols ==\n${self}\n`;
  const incl = (await report(["--children", "--comm", comm, "--sort", "sym", "-g", "none"]))
    .split("\n").filter((l) =>
      /^\s+\d+\.\d+%/.test(l) && (l.includes("JS:") || l.includes("[k] ")) && !l.includes("0x0000")
    )
    .slice(0, 45).join("\n");
  body += `\n== ${comm}: heaviest inclusive frames (JS and kernel) ==\n${incl}\n`;
}
if (opsDone > 0) {
  body += `\n== server CPU per op by component ==\n${await components(perfData, opsDone, cpuTotal)}`;
}
Deno.writeTextFileSync(`${OUT}/${workload}${values.tag ? `-${values.tag}` : ""}.txt`, body);
Deno.removeSync(tmp, { recursive: true });
console.log(body);
