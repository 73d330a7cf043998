/**
 * Where does the server's time go? Runs one benchmark workload against a fresh flame-cache started
 * with `--v8-flags=--perf-basic-prof` and records it with Linux `perf` (all threads: the network
 * thread "deno", the store worker "worker-N", V8's GC/compiler threads "V8 DefaultWorke", tokio).
 *
 * ```
 * deno run -A bench/profile.ts WORKLOAD [--seconds 6] [--storage fs|none] [--out bench/results/profiles]
 *   WORKLOAD: put-large | get-large | put-small | get-small | mixed-small | startup
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

function serverArgs(storage: string): string[] {
  return [
    "run",
    "--v8-flags=--perf-basic-prof",
    "--allow-all",
    `${ROOT}/main.ts`,
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
      mode === "put" ? "1" : "32",
      "--procs",
      mode === "put" ? "1" : "2",
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
    summary =
      `${workload}: ${d.ops} ops in ${d.seconds.toFixed(1)} s = ${
        d.ops_s.toFixed(0)
      } ops/s at c=${d.concurrency}; ` +
      `server CPU ${(cpu / d.ops * 1e6).toFixed(0)} µs/op; client CPU ${
        (d.client_cpu_s / d.ops * 1e6).toFixed(0)
      } µs/op\n`;
  }
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
Deno.writeTextFileSync(`${OUT}/${workload}.txt`, body);
Deno.removeSync(tmp, { recursive: true });
console.log(body);
