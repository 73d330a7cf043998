/**
 * The benchmark's `scale` section (issue 14): start-up, memory and listing with many objects, at 10k,
 * 100k and 1M objects in one run (short mode: 10k and 100k).
 *
 * For each size a store is written with `py/make_store.py` (1 KiB opaque objects, 1,000 per session, in
 * Flame's layout, as flamepy's local-storage put writes them), then the server is started three times:
 *
 * - `first`: the first start on the folder (no index snapshot: every file's footer is read);
 * - `clean`: after a clean shutdown (SIGTERM; the server wrote its index snapshot);
 * - `killed`: after a SIGKILL that followed 100 puts into 10 sessions (the snapshot of the clean
 *   shutdown is still there; the folders changed since are scanned again).
 *
 * Each start measures, from spawn: the first successful GET of a stored key (polled every 20 ms; its own
 * latency is the "first get"), the `index loaded` log line (older servers: the started line, which they
 * print once the index is loaded), VmRSS once the index is loaded, the GET latency of keys not read yet
 * (their files are in the page cache: the "warm get"), ListFlights with pyarrow (`py/list_bench.py`) of
 * one session (1,000 hits, median of 7 after 3 untimed, and the server's CPU per listing) and of everything (time, and the
 * server's peak RSS above its RSS before it). After the `killed`
 * start, every object put before the kill is read back (correctness, not timing).
 *
 * ```
 * deno run -A bench/scale.ts [--sizes 10000,100000,1000000] [--main PATH/main.ts] [--tmp DIR]
 * ```
 * (standalone: prints one JSON object; `--main` measures another checkout, e.g. the baseline).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { FlameCacheClient } from "../src/client/mod.ts";
import { cpuSeconds, forEachLine, memStatus, resetPeak } from "./lib/proc.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

const MiB = 1024 * 1024;

/** What the scale section needs from the orchestrator (bench/run.ts). */
export interface ScaleBenchContext {
  sizes: number[];
  /** Scratch folder (stores go under it). */
  tmp: string;
  /** The server's entry point (`main.ts`). */
  mainTs: string;
  keepTmp: boolean;
  say(msg: string): void;
  /** Run a pyarrow driver of bench/py; resolves with its JSON (or `{error}`). */
  py(script: string, args: (string | number)[], timeoutMs?: number): Promise<Json>;
  idleGate(): Promise<{ others_busy: number; waited_s: number }>;
  save(partial: Json): void;
}

interface Spawned {
  child: Deno.ChildProcess;
  t0: number;
  port: Promise<number>;
  /** ms from spawn to the index being complete. */
  indexed: Promise<{ ms: number; summary: string }>;
  servingLogMs: Promise<number>;
  logs(): string;
}

function spawn(mainTs: string, storage: string): Spawned {
  const t0 = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      mainTs,
      "serve",
      "--listen",
      "127.0.0.1:0",
      "--storage",
      storage,
      "--max-memory",
      "4G",
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
    env: { FLAME_LOG: "info" },
  }).spawn();
  let text = "";
  let port!: (p: number) => void;
  let indexed!: (v: { ms: number; summary: string }) => void;
  let serving!: (ms: number) => void;
  const portP = new Promise<number>((r) => (port = r));
  const indexedP = new Promise<{ ms: number; summary: string }>((r) => (indexed = r));
  const servingP = new Promise<number>((r) => (serving = r));
  forEachLine(child.stderr, (line) => {
    let j: Json;
    try {
      j = JSON.parse(line);
    } catch {
      return;
    }
    const ms = performance.now() - t0;
    if (typeof j.listen === "string" && /listening/.test(j.msg)) port(Number(j.listen.split(":").pop()));
    if (j.msg === "flame-cache started") {
      port(Number(String(j.listen).split(":").pop()));
      serving(ms);
      // Servers that load the whole index before they start say so in this line.
      if (!/background/.test(String(j.index))) indexed({ ms, summary: String(j.index) });
    }
    if (j.msg === "index loaded") indexed({ ms, summary: String(j.index) });
  }, (s) => (text = (text + s).slice(-65536))).catch(() => {});
  return { child, t0, port: portP, indexed: indexedP, servingLogMs: servingP, logs: () => text };
}

async function stop(s: Spawned, signal: "SIGTERM" | "SIGKILL"): Promise<number> {
  const t = performance.now();
  try {
    s.child.kill(signal);
  } catch { /* gone */ }
  const timer = setTimeout(() => {
    try {
      s.child.kill("SIGKILL");
    } catch { /* gone */ }
  }, 60_000);
  await s.child.status;
  clearTimeout(timer);
  return performance.now() - t;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function keyOf(i: number): string {
  return `bench/s${String(Math.floor(i / 1000)).padStart(4, "0")}/o${String(i).padStart(6, "0")}`;
}

/** One start of the server on `storage`, measured (see the module comment). */
async function measureStart(
  ctx: ScaleBenchContext,
  storage: string,
  n: number,
  label: string,
  afterStart?: (client: FlameCacheClient) => Promise<void>,
): Promise<{ row: Json; server: Spawned; client: FlameCacheClient }> {
  const gate = await ctx.idleGate();
  const s = spawn(ctx.mainTs, storage);
  const row: Json = { start: label, objects: n, others_busy_before: gate.others_busy };
  const port = await Promise.race([
    s.port,
    new Promise<never>((_, rej) =>
      setTimeout(() => rej(new Error(`no port: ${s.logs().slice(-500)}`)), 120_000)
    ),
  ]);
  const sample = keyOf(n >> 1);
  let client: FlameCacheClient | undefined;
  // Poll until a get of a stored key succeeds.
  for (let tries = 0;; tries++) {
    if (tries > 30_000) throw new Error(`never served a get: ${s.logs().slice(-500)}`);
    try {
      client ??= await FlameCacheClient.connect(`grpc://127.0.0.1:${port}`, { cache: false });
      const t = performance.now();
      await client.getObject(sample);
      const now = performance.now();
      row.first_get_ms = now - t;
      row.serving_ms = now - s.t0;
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  row.started_line_ms = await s.servingLogMs;
  // Gets of keys not read yet while the index may still load.
  const during: number[] = [];
  for (let k = 1; k <= 5; k++) {
    const t = performance.now();
    await client.getObject(keyOf((n >> 1) + k * 7 + 1));
    during.push(performance.now() - t);
  }
  row.get_during_load_ms = median(during);
  const idx = await s.indexed;
  row.index_ms = idx.ms;
  row.index_summary = idx.summary;
  await new Promise((r) => setTimeout(r, 500));
  row.rss_after_index = memStatus(s.child.pid).rss;
  row.rss_per_object = row.rss_after_index / n;
  // Warm gets: files in the page cache, not in the server's memory.
  const warm: number[] = [];
  for (let k = 0; k < 21; k++) {
    const t = performance.now();
    await client.getObject(keyOf((k * 4093 + 17) % n));
    warm.push(performance.now() - t);
  }
  row.warm_get_ms = median(warm);
  row.first_get_vs_warm = row.first_get_ms / row.warm_get_ms;
  // One session (1,000 hits) with pyarrow's client (what Flame's workers use): median of 5, and the
  // server's CPU per listing.
  const address = `127.0.0.1:${port}`;
  const cpu0 = cpuSeconds(s.child.pid);
  const session = await ctx.py("list_bench.py", [
    "--address",
    address,
    "--prefix",
    "bench/s0001/",
    "--reps",
    7,
    "--warmup",
    3,
  ]);
  row.list_session_server_cpu_ms = (cpuSeconds(s.child.pid) - cpu0) * 1000 / 10;
  row.list_session_ms = session.median_ms;
  row.list_session_hits = session.hits;
  row.list_session_client_cpu_ms = session.client_cpu_ms;
  // Everything, with the server's peak RSS during it.
  const before = memStatus(s.child.pid).rss ?? 0;
  resetPeak(s.child.pid);
  const all = await ctx.py("list_bench.py", ["--address", address, "--reps", 1, "--warmup", 0], 600_000);
  row.list_all_count = all.hits;
  row.list_all_ms = all.median_ms;
  row.list_all_rss_growth = (memStatus(s.child.pid).hwm ?? 0) - before;
  if (afterStart) await afterStart(client);
  ctx.say(
    `  ${n} ${label}: get served after ${(row.serving_ms / 1000).toFixed(2)} s (first get ${
      row.first_get_ms.toFixed(1)
    } ms, warm ${row.warm_get_ms.toFixed(2)} ms), index after ${(row.index_ms / 1000).toFixed(2)} s, RSS ${
      (row.rss_after_index / MiB).toFixed(0)
    } MiB, list session ${row.list_session_ms.toFixed(1)} ms, all ${
      (row.list_all_ms / 1000).toFixed(1)
    } s (+${(row.list_all_rss_growth / MiB).toFixed(0)} MiB)`,
  );
  return { row, server: s, client };
}

/** The scale section: every size, three starts each. */
export async function scaleCases(ctx: ScaleBenchContext): Promise<Json> {
  const out: Json = { sizes: ctx.sizes, rows: [], main: ctx.mainTs };
  for (const n of ctx.sizes) {
    const root = Deno.makeTempDirSync({ dir: ctx.tmp, prefix: `scale-${n}-` });
    try {
      ctx.say(`scale: writing ${n} objects with pyarrow`);
      const gen = await ctx.py("make_store.py", [`${root}/store`, "--objects", n], 1_800_000);
      if (gen.error) {
        out.rows.push({ objects: n, error: gen.error });
        continue;
      }
      const storage = `${root}/store`;
      for (const label of ["first", "clean", "killed"]) {
        try {
          if (label === "killed") {
            // Writes after a clean start, then SIGKILL: the next start must rescan what changed.
            const { server, client } = await measureStart(ctx, storage, n, "before kill");
            for (let i = 0; i < 100; i++) {
              await client.putObject(
                `bench/s${String(i % 10).padStart(4, "0")}/new${i}`,
                new Uint8Array(64).fill(i),
              );
            }
            await client.close();
            await stop(server, "SIGKILL");
            const again = await measureStart(ctx, storage, n, "killed");
            let missing = 0;
            for (let i = 0; i < 100; i++) {
              try {
                const obj = await again.client.getObject(`bench/s${String(i % 10).padStart(4, "0")}/new${i}`);
                if (obj.kind !== "opaque" || obj.base[0] !== i) missing++;
              } catch {
                missing++;
              }
            }
            again.row.puts_before_kill = 100;
            again.row.puts_missing_after_kill = missing;
            again.row.list_all_expected = n + 100;
            await again.client.close();
            again.row.stop_ms = await stop(again.server, "SIGTERM");
            out.rows.push(again.row);
          } else {
            const { row, server, client } = await measureStart(ctx, storage, n, label);
            await client.close();
            row.stop_ms = await stop(server, "SIGTERM");
            out.rows.push(row);
          }
        } catch (err) {
          out.rows.push({ objects: n, start: label, error: String(err).slice(0, 1000) });
          ctx.say(`  ${n} ${label}: ${String(err).slice(0, 300)}`);
        }
        ctx.save(out);
      }
    } finally {
      if (!ctx.keepTmp) Deno.removeSync(root, { recursive: true });
    }
  }
  return out;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      sizes: { type: "string", default: "10000,100000,1000000" },
      main: { type: "string" },
      tmp: { type: "string", default: "/tmp" },
      py: { type: "string", default: new URL("./.venv/bin/python", import.meta.url).pathname },
      "keep-tmp": { type: "boolean", default: false },
    },
  });
  const bench = new URL(".", import.meta.url).pathname;
  const say = (m: string) => console.error(`[scale ${new Date().toISOString().slice(11, 19)}] ${m}`);
  const result = await scaleCases({
    sizes: values.sizes!.split(",").map(Number),
    tmp: values.tmp!,
    mainTs: values.main ?? new URL("../main.ts", import.meta.url).pathname,
    keepTmp: values["keep-tmp"]!,
    say,
    async py(script, args, timeoutMs = 600_000) {
      const child = new Deno.Command(values.py!, {
        args: [`${bench}py/${script}`, ...args.map(String)],
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
      const o = await child.output();
      clearTimeout(timer);
      const text = new TextDecoder().decode(o.stdout).trim().split("\n").pop() ?? "";
      return o.code === 0 ? JSON.parse(text) : { error: new TextDecoder().decode(o.stderr).slice(-500) };
    },
    idleGate: () => Promise.resolve({ others_busy: 0, waited_s: 0 }),
    save: () => {},
  });
  console.log(JSON.stringify(result));
}
