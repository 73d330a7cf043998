/**
 * TypeScript client driver of the benchmark. Uses the project's client (`src/client/mod.ts`,
 * `FlameCacheClient`) when it exists and loads, otherwise the tests' grpc-js helper
 * (`tests/helpers/flight_client.ts`, with 16 MiB HTTP/2 windows) - the output says which.
 *
 * ```
 * deno run -A bench/ts_client.ts large --address H:P --size BYTES --reps N [--warmup W] [--server-pid PID]
 * deno run -A bench/ts_client.ts small --address H:P --size BYTES --concurrency C --seconds S --mode put|get|mixed
 * deno run -A bench/ts_client.ts which     # prints which client would be used
 * ```
 * Prints one JSON object on stdout (same fields as bench/py/flight_bench.py).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { cpuSeconds, memStatus, resetPeak } from "./lib/proc.ts";

/** The operations the benchmark needs from a client. */
interface BenchClient {
  label: string;
  /** Put `data` under a prefix (2 parts) or key (3 parts); resolves with the key. */
  put(path: string, data: Uint8Array): Promise<string>;
  /** Get the object; resolves with the payload byte count. */
  get(key: string): Promise<number>;
  close(): void | Promise<void>;
}

const ROOT = new URL("../", import.meta.url);

// deno-lint-ignore no-explicit-any
type Any = any;

function payloadLength(v: Any): number {
  if (v instanceof Uint8Array) return v.byteLength;
  if (v && typeof v === "object") {
    if (v.data instanceof Uint8Array) return v.data.byteLength;
    if (Array.isArray(v)) return v.reduce((n: number, x: Any) => n + payloadLength(x), 0);
    if (typeof v.byteLength === "number") return v.byteLength;
    if (v.base !== undefined) return payloadLength(v.base);
  }
  return -1;
}

async function projectClient(address: string): Promise<BenchClient | undefined> {
  const url = new URL("src/client/mod.ts", ROOT);
  try {
    Deno.statSync(url);
  } catch {
    return undefined;
  }
  let mod: Any;
  try {
    mod = await import(url.href);
  } catch (err) {
    console.error(
      `bench: src/client/mod.ts does not load (${(err as Error).message}); using the test helper`,
    );
    return undefined;
  }
  const Cls = mod.FlameCacheClient;
  if (!Cls || typeof Cls.connect !== "function") return undefined;
  // No local object cache: every get is a full read (`key:0`), like the pyarrow client's.
  const client = await Cls.connect(`grpc://${address}`, { cache: false });
  return {
    label: "TypeScript FlameCacheClient (src/client/mod.ts)",
    async put(path, data) {
      const ref = await client.putObject(path, data);
      return String(ref?.key ?? ref);
    },
    async get(key) {
      const v = await client.getObject({ endpoint: `grpc://${address}`, key, version: 0 });
      return payloadLength(v);
    },
    close: () => client.close?.(),
  };
}

async function helperClient(address: string): Promise<BenchClient> {
  const h = await import(new URL("tests/helpers/flight_client.ts", ROOT).href);
  const { deserialize } = await import("bson");
  const window = 16 * 1024 * 1024;
  const client = h.connect(address, {
    "grpc-node.flow_control_window": window,
    "grpc.http2.lookahead_bytes": window,
  });
  return {
    label: "TypeScript test helper (tests/helpers/flight_client.ts: grpc-js + apache-arrow), 16 MiB windows",
    async put(path, data) {
      const msgs = h.opaqueFlightData([data]);
      msgs[0].flight_descriptor = { type: 1, path: [path] };
      const results: Uint8Array[] = await h.doPut(client, msgs);
      return String(deserialize(results[0]).key);
    },
    async get(key) {
      const msgs = await h.doGet(client, `${key}:0`);
      const rows = h.readRows(h.flightDataToTable(msgs));
      return rows.reduce((n: number, r: { data: Uint8Array }) => n + r.data.byteLength, 0);
    },
    close: () => client.close(),
  };
}

async function makeClient(address: string): Promise<BenchClient> {
  return (await projectClient(address)) ?? (await helperClient(address));
}

function payload(size: number): Uint8Array {
  const out = new Uint8Array(size);
  const block = new Uint8Array(Math.min(size, 1 << 20));
  crypto.getRandomValues(block.subarray(0, Math.min(block.length, 65536)));
  for (let i = 65536; i < block.length; i += 65536) block.copyWithin(i, 0, 65536);
  for (let off = 0; off < size; off += block.length) {
    out.set(block.subarray(0, Math.min(block.length, size - off)), off);
  }
  return out;
}

function selfCpu(): number {
  return cpuSeconds(Deno.pid);
}

async function runLarge(a: Record<string, string>): Promise<Record<string, unknown>> {
  const size = Number(a.size), reps = Number(a.reps ?? 3), warmup = Number(a.warmup ?? 1);
  const pid = Number(a["server-pid"] ?? 0);
  const client = await makeClient(a.address);
  const data = payload(size);
  let key = a.key ?? "bench/s/obj";
  const out: Record<string, unknown> = { size, reps, warmup, client: client.label };
  out.rss_baseline = pid ? memStatus(pid).rss : undefined;
  out.peak_reset_supported = pid ? resetPeak(pid) : false;
  const times: Record<string, number[]> = { put: [], get: [] };
  const cpu: Record<string, [number, number]> = { put: [0, 0], get: [0, 0] };
  const first: Record<string, unknown> = {};
  for (let rep = 0; rep < warmup + reps; rep++) {
    for (const op of ["put", "get"] as const) {
      if (pid) resetPeak(pid);
      const s0 = pid ? cpuSeconds(pid) : 0, c0 = selfCpu();
      const t0 = performance.now();
      if (op === "put") key = await client.put(key, data);
      else {
        const n = await client.get(key);
        if (n !== size && n !== -1) throw new Error(`GET returned ${n} bytes, expected ${size}`);
      }
      const dt = (performance.now() - t0) / 1000;
      const s1 = pid ? cpuSeconds(pid) : 0, c1 = selfCpu();
      if (rep === 0) {
        const st = pid ? memStatus(pid) : {};
        first[op] = { s: dt, vm_hwm: st.hwm, vm_rss_after: st.rss };
      }
      if (rep >= warmup) {
        times[op].push(dt);
        cpu[op][0] += s1 - s0;
        cpu[op][1] += c1 - c0;
      }
    }
  }
  out.put_s = times.put;
  out.get_s = times.get;
  out.first = first;
  out.server_cpu_s = { put: cpu.put[0], get: cpu.get[0] };
  out.client_cpu_s = { put: cpu.put[1], get: cpu.get[1] };
  out.rss_end = pid ? memStatus(pid).rss : undefined;
  await client.close();
  return out;
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.round((p / 100) * (s.length - 1)))];
}

async function runSmall(a: Record<string, string>): Promise<Record<string, unknown>> {
  const size = Number(a.size), conc = Number(a.concurrency ?? 1), seconds = Number(a.seconds ?? 5);
  const mode = a.mode ?? "get";
  const pid = Number(a["server-pid"] ?? 0);
  const client = await makeClient(a.address);
  const data = payload(size);
  const keys: string[] = [];
  for (let i = 0; i < Number(a.objects ?? 200); i++) keys.push(await client.put("bench/s", data));
  const lat: Record<string, number[]> = { put: [], get: [] };
  let errors = 0;
  const s0 = pid ? cpuSeconds(pid) : 0, c0 = selfCpu();
  const t0 = performance.now();
  const stopAt = t0 + seconds * 1000;
  const loop = async () => {
    while (performance.now() < stopAt) {
      const op = mode === "mixed" ? (Math.random() < 0.5 ? "put" : "get") : mode;
      const t = performance.now();
      try {
        if (op === "put") await client.put("bench/s", data);
        else await client.get(keys[Math.floor(Math.random() * keys.length)]);
      } catch {
        errors++;
        continue;
      }
      lat[op].push(performance.now() - t);
    }
  };
  await Promise.all(Array.from({ length: conc }, loop));
  const elapsed = (performance.now() - t0) / 1000;
  const out: Record<string, unknown> = {
    size,
    concurrency: conc,
    procs: 1,
    mode,
    seconds: elapsed,
    errors,
    server_cpu_s: pid ? cpuSeconds(pid) - s0 : undefined,
    client_cpu_s: selfCpu() - c0,
    client: client.label,
  };
  let total = 0;
  for (const k of ["put", "get"]) {
    const xs = lat[k];
    total += xs.length;
    if (xs.length) {
      out[k] = {
        ops: xs.length,
        ops_s: xs.length / elapsed,
        p50_ms: pct(xs, 50),
        p99_ms: pct(xs, 99),
        mean_ms: xs.reduce((x, y) => x + y, 0) / xs.length,
      };
    }
  }
  out.ops = total;
  out.ops_s = total / elapsed;
  await client.close();
  return out;
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    allowPositionals: true,
    options: Object.fromEntries(
      ["address", "size", "reps", "warmup", "server-pid", "key", "concurrency", "seconds", "mode", "objects"]
        .map((k) => [k, { type: "string" as const }]),
    ),
  });
  const what = positionals[0];
  const a = values as Record<string, string>;
  if (what === "which") {
    let label = "TypeScript test helper (tests/helpers/flight_client.ts)";
    try {
      const mod = await import(new URL("src/client/mod.ts", ROOT).href);
      if (typeof mod.FlameCacheClient?.connect === "function") {
        label = "TypeScript FlameCacheClient (src/client/mod.ts)";
      }
    } catch { /* not there or does not load */ }
    console.log(JSON.stringify({ client: label }));
    Deno.exit(0);
  }
  const out = what === "large" ? await runLarge(a) : await runSmall(a);
  console.log(JSON.stringify(out));
  Deno.exit(0);
}
