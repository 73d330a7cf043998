/**
 * The shared tier's own costs, measured with the client the replicas use (`src/tier/s3.ts`) against the
 * cluster's S3 service: the latency and S3 CPU of each request a cache operation makes (a get reads the
 * version record; a put uploads a blob, reads the record and writes it conditionally), and the service's
 * large-object throughput (the ceiling of a put through the tier).
 *
 * ```
 * deno run -A bench/s3_probe.ts --cluster-env DIR/cluster.env [--seconds 3] [--large-bytes N] [--large-reps R]
 * ```
 * Credentials come from the cluster.env file (never from the command line). Prints one JSON object.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { S3Bucket } from "../src/tier/s3.ts";
import { cpuSeconds } from "./lib/proc.ts";
import { readEnvFile } from "./lib/env_file.ts";

const MiB = 1024 * 1024;

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.round((p / 100) * (s.length - 1)))];
}

/**
 * Run `op` in a closed loop for `seconds`; latency percentiles, the S3 process's CPU per request and this
 * process's (the client's: signing, fetch, parsing - what a replica spends per S3 request).
 */
async function phase(
  seconds: number,
  s3Pid: number,
  idleRate: number,
  op: () => Promise<void>,
): Promise<Record<string, number>> {
  const lat: number[] = [];
  const c0 = cpuSeconds(s3Pid), self0 = cpuSeconds(Deno.pid);
  const t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000) {
    const t = performance.now();
    await op();
    lat.push(performance.now() - t);
  }
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = Math.max(0, cpuSeconds(s3Pid) - c0 - idleRate * elapsed);
  const self = cpuSeconds(Deno.pid) - self0;
  return {
    requests: lat.length,
    p50_ms: pct(lat, 50),
    p99_ms: pct(lat, 99),
    mean_ms: lat.reduce((a, b) => a + b, 0) / lat.length,
    s3_cpu_us_per_request: (cpu / lat.length) * 1e6,
    client_cpu_us_per_request: (self / lat.length) * 1e6,
  };
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      "cluster-env": { type: "string" },
      seconds: { type: "string", default: "3" },
      "large-bytes": { type: "string", default: String(64 * MiB) },
      "large-reps": { type: "string", default: "3" },
    },
  });
  const env = readEnvFile(values["cluster-env"]!);
  const s3Pid = Number(env.get("CLUSTER_S3_PID"));
  const bucket = new S3Bucket({
    endpoint: env.get("CLUSTER_S3_ENDPOINT")!,
    bucket: env.get("CLUSTER_S3_BUCKET")!,
    region: env.get("AWS_REGION") ?? "us-east-1",
    pathStyle: true,
    credentials: {
      accessKeyId: env.get("AWS_ACCESS_KEY_ID")!,
      secretAccessKey: env.get("AWS_SECRET_ACCESS_KEY")!,
    },
  });
  const seconds = Number(values.seconds);
  const prefix = `bench-probe/${crypto.randomUUID()}`;
  const small = crypto.getRandomValues(new Uint8Array(1024));

  // the S3 process's idle rate, to subtract
  const i0 = cpuSeconds(s3Pid), t0 = performance.now();
  await new Promise((r) => setTimeout(r, 1500));
  const idleRate = (cpuSeconds(s3Pid) - i0) / ((performance.now() - t0) / 1000);

  const out: Record<string, unknown> = { s3_idle_cpu_per_s: idleRate };
  await bucket.put(`${prefix}/record`, small);
  out.get_1k = await phase(seconds, s3Pid, idleRate, async () => {
    await bucket.get(`${prefix}/record`);
  });
  let n = 0;
  out.put_1k = await phase(seconds, s3Pid, idleRate, async () => {
    await bucket.put(`${prefix}/blob-${n++}`, small);
  });
  let etag = (await bucket.put(`${prefix}/cas`, small, { ifNoneMatch: "*" })).etag;
  let v = 0;
  out.cas_put_1k = await phase(seconds, s3Pid, idleRate, async () => {
    // a record write as the tier does it: If-Match the ETag read before, with new content
    const body = new TextEncoder().encode(JSON.stringify({ version: ++v, pad: "x".repeat(200) }));
    etag = (await bucket.put(`${prefix}/cas`, body, { ifMatch: etag })).etag;
  });

  // large: streamed multipart put (8 MiB parts, as the tier uploads) and streamed get
  const size = Number(values["large-bytes"]), reps = Number(values["large-reps"]);
  const block = crypto.getRandomValues(new Uint8Array(65536));
  const source = () => {
    let left = size;
    return new ReadableStream<Uint8Array>({
      pull(c) {
        if (left === 0) return c.close();
        const chunk = new Uint8Array(Math.min(left, MiB));
        for (let off = 0; off < chunk.length; off += block.length) {
          chunk.set(block.subarray(0, chunk.length - off), off);
        }
        left -= chunk.length;
        c.enqueue(chunk);
      },
    });
  };
  const large: { put_s: number[]; get_s: number[]; put_cpu_s: number; get_cpu_s: number } = {
    put_s: [],
    get_s: [],
    put_cpu_s: 0,
    get_cpu_s: 0,
  };
  for (let rep = 0; rep < reps; rep++) {
    let c = cpuSeconds(s3Pid), t = performance.now();
    await bucket.put(`${prefix}/large`, source());
    let dt = (performance.now() - t) / 1000;
    large.put_s.push(dt);
    large.put_cpu_s += Math.max(0, cpuSeconds(s3Pid) - c - idleRate * dt);
    c = cpuSeconds(s3Pid);
    t = performance.now();
    let got = 0;
    for await (const chunk of (await bucket.getStream(`${prefix}/large`)).body) got += chunk.length;
    dt = (performance.now() - t) / 1000;
    if (got !== size) throw new Error(`large get returned ${got} bytes, expected ${size}`);
    large.get_s.push(dt);
    large.get_cpu_s += Math.max(0, cpuSeconds(s3Pid) - c - idleRate * dt);
  }
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  out.large = {
    size,
    reps,
    ...large,
    put_mib_s: size / MiB / med(large.put_s),
    get_mib_s: size / MiB / med(large.get_s),
    s3_cpu_ms_per_mib_put: (large.put_cpu_s * 1000) / (size / MiB * reps),
    s3_cpu_ms_per_mib_get: (large.get_cpu_s * 1000) / (size / MiB * reps),
  };

  // clean up what the probe wrote
  for await (const item of bucket.list(`${prefix}/`)) await bucket.delete(item.key);
  console.log(JSON.stringify(out));
  Deno.exit(0);
}
