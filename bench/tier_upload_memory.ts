/**
 * Diagnostic: how much resident memory a large upload to the tier costs, by itself, in a fresh process.
 *
 * ```
 * deno run -A bench/tier_upload_memory.ts --cluster-env DIR/cluster.env --how fetch|raw [--mib 256]
 *   [--part-concurrency 2]
 * ```
 * - `fetch`: what a replica does (`S3Bucket.put` of a stream read from a file in 8 MiB pieces: multipart,
 *   8 MiB parts, each sent with `fetch`).
 * - `raw`: the same multipart upload, each 8 MiB part written to a plain HTTP/1.1 connection
 *   (`Deno.connect`) from ONE reused 1 MiB buffer filled from the file (`Conn.write` resolves once the
 *   kernel holds the bytes, so the buffer can be refilled). Requests are signed by aws4fetch. A baseline
 *   for what the upload needs when no per-request buffer is allocated.
 *
 * The payload is a temporary file of `--mib` MiB. Prints one JSON line: RSS before, peak RSS (sampled every
 * 20 ms), V8 external memory at the peak, seconds. Credentials come from the cluster.env file.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { AwsClient } from "aws4fetch";
import { XMLParser } from "fast-xml-parser";
import { S3Bucket } from "../src/tier/s3.ts";
import { readEnvFile } from "./lib/env_file.ts";

const MiB = 1024 * 1024;
const PART = 8 * MiB;

/** The replica's way: S3Bucket.put of a file stream (fresh 8 MiB buffers, as TierStore reads staged files). */
async function viaFetch(bucket: S3Bucket, key: string, path: string): Promise<void> {
  const file = await Deno.open(path);
  let left = (await file.stat()).size;
  const stream = new ReadableStream<Uint8Array>({
    async pull(c) {
      if (left === 0) {
        file.close();
        c.close();
        return;
      }
      const buf = new Uint8Array(Math.min(left, PART));
      const n = (await file.read(buf))!;
      left -= n;
      c.enqueue(buf.subarray(0, n));
    },
  });
  await bucket.put(key, stream);
}

/** Read one HTTP/1.1 response (status line, headers, a Content-Length body) from `conn`. */
async function readResponse(conn: Deno.Conn): Promise<{ status: number; headers: string; body: string }> {
  const dec = new TextDecoder();
  let text = "";
  const buf = new Uint8Array(16384);
  for (;;) {
    const end = text.indexOf("\r\n\r\n");
    if (end >= 0) {
      const headers = text.slice(0, end);
      const length = Number(/content-length:\s*(\d+)/i.exec(headers)?.[1] ?? 0);
      while (text.length - end - 4 < length) {
        const n = await conn.read(buf);
        if (n === null) throw new Error("connection closed in a response body");
        text += dec.decode(buf.subarray(0, n));
      }
      return { status: Number(headers.split(" ")[1]), headers, body: text.slice(end + 4, end + 4 + length) };
    }
    const n = await conn.read(buf);
    if (n === null) throw new Error("connection closed before a response");
    text += dec.decode(buf.subarray(0, n));
  }
}

/** Multipart upload with each part written from one reused buffer over a kept-alive HTTP/1.1 connection. */
async function viaRaw(aws: AwsClient, endpoint: string, key: string, path: string): Promise<void> {
  const url = new URL(endpoint);
  const conn = await Deno.connect({ hostname: url.hostname, port: Number(url.port || 80) });
  const enc = new TextEncoder();
  const request = async (method: string, target: string, length: number, body?: () => Promise<void>) => {
    const signed = await aws.sign(target, {
      method,
      headers: { "content-length": String(length) },
    });
    const u = new URL(signed.url);
    let head = `${method} ${u.pathname}${u.search} HTTP/1.1\r\nhost: ${u.host}\r\n`;
    signed.headers.forEach((v, k) => {
      if (k !== "host") head += `${k}: ${v}\r\n`;
    });
    await writeAll(conn, enc.encode(`${head}\r\n`));
    if (body) await body();
    const r = await readResponse(conn);
    if (r.status !== 200) throw new Error(`${method} ${target}: HTTP ${r.status} ${r.body.slice(0, 200)}`);
    return r;
  };
  const objectUrl = `${endpoint}/${key}`;
  const created = await request("POST", `${objectUrl}?uploads=`, 0);
  const uploadId = String(new XMLParser().parse(created.body)?.InitiateMultipartUploadResult?.UploadId);
  const file = await Deno.open(path);
  const size = (await file.stat()).size;
  const buf = new Uint8Array(MiB);
  const etags: string[] = [];
  for (let part = 1, offset = 0; offset < size; part++, offset += PART) {
    const length = Math.min(PART, size - offset);
    const r = await request(
      "PUT",
      `${objectUrl}?partNumber=${part}&uploadId=${encodeURIComponent(uploadId)}`,
      length,
      async () => {
        let left = length;
        while (left > 0) {
          const n = (await file.read(buf.subarray(0, Math.min(buf.length, left))))!;
          await writeAll(conn, buf.subarray(0, n));
          left -= n;
        }
      },
    );
    etags.push(/etag:\s*(\S+)/i.exec(r.headers)?.[1] ?? "");
  }
  file.close();
  const xml = `<CompleteMultipartUpload>${
    etags.map((e, i) => `<Part><PartNumber>${i + 1}</PartNumber><ETag>${e}</ETag></Part>`).join("")
  }</CompleteMultipartUpload>`;
  const bytes = enc.encode(xml);
  await request(
    "POST",
    `${objectUrl}?uploadId=${encodeURIComponent(uploadId)}`,
    bytes.length,
    () => writeAll(conn, bytes),
  );
  conn.close();
}

async function writeAll(to: { write(p: Uint8Array): Promise<number> }, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await to.write(bytes.subarray(off));
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      "cluster-env": { type: "string" },
      how: { type: "string", default: "fetch" },
      mib: { type: "string", default: "256" },
      "part-concurrency": { type: "string", default: "2" },
    },
  });
  const env = readEnvFile(values["cluster-env"]!);
  const endpoint = env.get("CLUSTER_S3_ENDPOINT")!, bucketName = env.get("CLUSTER_S3_BUCKET")!;
  const credentials = {
    accessKeyId: env.get("AWS_ACCESS_KEY_ID")!,
    secretAccessKey: env.get("AWS_SECRET_ACCESS_KEY")!,
  };
  const size = Number(values.mib) * MiB;
  const path = await Deno.makeTempFile({ prefix: "tier-upload-memory-" });
  try {
    // the payload file, written in 1 MiB pieces (the buffer is garbage before the measurement starts)
    const file = await Deno.open(path, { write: true });
    const piece = crypto.getRandomValues(new Uint8Array(65536));
    const chunk = new Uint8Array(MiB);
    for (let o = 0; o < MiB; o += piece.length) chunk.set(piece, o);
    for (let o = 0; o < size; o += MiB) await writeAll(file, chunk);
    file.close();
    const key = `bench-upload-memory/${crypto.randomUUID()}`;
    const before = Deno.memoryUsage();
    let peak = { rss: before.rss, external: before.external };
    const timer = setInterval(() => {
      const m = Deno.memoryUsage();
      if (m.rss > peak.rss) peak = { rss: m.rss, external: m.external };
    }, 20);
    const t0 = performance.now();
    if (values.how === "raw") {
      await viaRaw(
        new AwsClient({ ...credentials, service: "s3", region: env.get("AWS_REGION") ?? "us-east-1" }),
        `${endpoint}/${bucketName}`.replace(/\/$/, ""),
        key,
        path,
      );
    } else {
      const bucket = new S3Bucket({
        endpoint,
        bucket: bucketName,
        region: env.get("AWS_REGION") ?? "us-east-1",
        pathStyle: true,
        credentials,
        partConcurrency: Number(values["part-concurrency"]),
      });
      await viaFetch(bucket, key, path);
    }
    const seconds = (performance.now() - t0) / 1000;
    clearInterval(timer);
    // check what was stored, then remove it
    const bucket = new S3Bucket({ endpoint, bucket: bucketName, pathStyle: true, credentials });
    const stored = await bucket.head(key);
    await bucket.delete(key);
    console.log(JSON.stringify({
      how: values.how,
      mib: size / MiB,
      part_concurrency: values.how === "raw" ? 1 : Number(values["part-concurrency"]),
      stored_bytes: stored?.size,
      seconds,
      rss_before_mib: before.rss / MiB,
      peak_rss_mib: peak.rss / MiB,
      added_mib: (peak.rss - before.rss) / MiB,
      v8_external_at_peak_mib: peak.external / MiB,
    }));
  } finally {
    await Deno.remove(path).catch(() => {});
  }
  Deno.exit(0);
}
