/**
 * Diagnostic: how much resident memory a large upload to the tier costs, by itself, in a fresh process.
 *
 * ```
 * deno run -A bench/tier_upload_memory.ts --cluster-env DIR/cluster.env --how fetch|node|raw [--mib 256]
 *   [--part-concurrency 2]
 * ```
 * - `fetch` (the name is historical): what a replica does, `S3Bucket.put` of the file as a byte stream
 *   (`fileRangeStream`, read straight into the part buffers): multipart, 8 MiB parts. Parts went out with `fetch` until 2026-12-06 (+155-163 MiB for
 *   256 MiB); they go out with `node:http` now (src/tier/_node_request.ts).
 * - `node`: the same upload through `node:http` by hand, each part written from ONE reused 1 MiB buffer
 *   filled from the file (what showed `node:http` keeps no copies: +14-16 MiB, every byte checked).
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
import { fileRangeStream } from "../src/cluster/file_stream.ts";
import { readEnvFile } from "./lib/env_file.ts";

const MiB = 1024 * 1024;
const PART = 8 * MiB;

/** The replica's way: S3Bucket.put of the staged file as a byte stream (src/cluster/file_stream.ts). */
async function viaFetch(bucket: S3Bucket, key: string, path: string): Promise<void> {
  const size = (await Deno.stat(path)).size;
  await bucket.put(key, await fileRangeStream(path, 0, size));
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

/** A reply of a hand-driven request: status, ETag header, body text. */
interface Reply {
  status: number;
  etag: string;
  body: string;
}

/**
 * Send one signed request whose body (`length` bytes) the callback writes with `write` (each call resolves
 * once the bytes are handed over, so the buffer may be refilled).
 */
type Send = (
  method: string,
  target: string,
  length: number,
  body?: (write: (bytes: Uint8Array) => Promise<void>) => Promise<void>,
) => Promise<Reply>;

/** The multipart upload of `path` to `objectUrl`, each part written from ONE reused 1 MiB buffer. */
async function multipartFromFile(send: Send, objectUrl: string, path: string): Promise<void> {
  const ok = async (what: string, reply: Promise<Reply>) => {
    const r = await reply;
    if (r.status !== 200) throw new Error(`${what}: HTTP ${r.status} ${r.body.slice(0, 200)}`);
    return r;
  };
  const created = await ok("create", send("POST", `${objectUrl}?uploads=`, 0));
  const uploadId = String(new XMLParser().parse(created.body)?.InitiateMultipartUploadResult?.UploadId);
  const file = await Deno.open(path);
  const size = (await file.stat()).size;
  const buf = new Uint8Array(MiB);
  const etags: string[] = [];
  for (let part = 1, offset = 0; offset < size; part++, offset += PART) {
    const length = Math.min(PART, size - offset);
    const target = `${objectUrl}?partNumber=${part}&uploadId=${encodeURIComponent(uploadId)}`;
    const r = await ok(
      `part ${part}`,
      send("PUT", target, length, async (write) => {
        for (let left = length; left > 0;) {
          const n = (await file.read(buf.subarray(0, Math.min(buf.length, left))))!;
          await write(buf.subarray(0, n));
          left -= n;
        }
      }),
    );
    etags.push(r.etag);
  }
  file.close();
  const xml = new TextEncoder().encode(
    `<CompleteMultipartUpload>${
      etags.map((e, i) => `<Part><PartNumber>${i + 1}</PartNumber><ETag>${e}</ETag></Part>`).join("")
    }</CompleteMultipartUpload>`,
  );
  await ok(
    "complete",
    send("POST", `${objectUrl}?uploadId=${encodeURIComponent(uploadId)}`, xml.length, (w) => w(xml)),
  );
}

/** Multipart upload with each part written over a kept-alive plain HTTP/1.1 connection (`Deno.connect`). */
async function viaRaw(aws: AwsClient, endpoint: string, key: string, path: string): Promise<void> {
  const url = new URL(endpoint);
  const conn = await Deno.connect({ hostname: url.hostname, port: Number(url.port || 80) });
  const enc = new TextEncoder();
  const send: Send = async (method, target, length, body) => {
    const signed = await aws.sign(target, { method, headers: { "content-length": String(length) } });
    const u = new URL(signed.url);
    let head = `${method} ${u.pathname}${u.search} HTTP/1.1\r\nhost: ${u.host}\r\n`;
    signed.headers.forEach((v, k) => {
      if (k !== "host") head += `${k}: ${v}\r\n`;
    });
    await writeAll(conn, enc.encode(`${head}\r\n`));
    if (body) await body((bytes) => writeAll(conn, bytes));
    const r = await readResponse(conn);
    return { status: r.status, etag: /etag:\s*(\S+)/i.exec(r.headers)?.[1] ?? "", body: r.body };
  };
  try {
    await multipartFromFile(send, `${endpoint}/${key}`, path);
  } finally {
    conn.close();
  }
}

/** The same multipart upload through `node:http` (Deno's Node-compatible client), `req.write` per piece. */
async function viaNodeHttp(aws: AwsClient, endpoint: string, key: string, path: string): Promise<void> {
  const http = await import("node:http");
  const send: Send = async (method, target, length, body) => {
    const signed = await aws.sign(target, { method, headers: { "content-length": String(length) } });
    const u = new URL(signed.url);
    const headers: Record<string, string> = {};
    signed.headers.forEach((v, k) => (headers[k] = v));
    return await new Promise<Reply>((resolve, reject) => {
      const req = http.request({
        method,
        hostname: u.hostname,
        port: u.port,
        path: u.pathname + u.search,
        headers,
      });
      req.on("error", reject);
      req.on("response", (res: import("node:http").IncomingMessage) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (text += c));
        res.on(
          "end",
          () => resolve({ status: res.statusCode ?? 0, etag: String(res.headers.etag ?? ""), body: text }),
        );
        res.on("error", reject);
      });
      const write = (bytes: Uint8Array) =>
        new Promise<void>((res, rej) => req.write(bytes, (e: unknown) => e ? rej(e) : res()));
      (body ? body(write) : Promise.resolve()).then(() => req.end(), reject);
    });
  };
  await multipartFromFile(send, `${endpoint}/${key}`, path);
}

/** True when the stream holds exactly the file's bytes. */
async function sameBytes(got: { body: ReadableStream<Uint8Array> }, path: string): Promise<boolean> {
  const file = await Deno.readFile(path);
  let off = 0;
  let same = true;
  for await (const chunk of got.body) {
    if (off + chunk.length > file.length) same = false;
    else {
      for (let i = 0; i < chunk.length && same; i++) if (chunk[i] !== file[off + i]) same = false;
    }
    off += chunk.length;
  }
  return same && off === file.length;
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
    // random everywhere: a client that sends a reused buffer too early would store bytes that differ
    const chunk = new Uint8Array(MiB);
    for (let o = 0; o < size; o += MiB) {
      for (let p = 0; p < MiB; p += 65536) crypto.getRandomValues(chunk.subarray(p, p + 65536));
      await writeAll(file, chunk);
    }
    file.close();
    const key = `bench-upload-memory/${crypto.randomUUID()}`;
    const before = Deno.memoryUsage();
    let peak = { rss: before.rss, external: before.external };
    const timer = setInterval(() => {
      const m = Deno.memoryUsage();
      if (m.rss > peak.rss) peak = { rss: m.rss, external: m.external };
    }, 20);
    const t0 = performance.now();
    if (values.how === "node") {
      await viaNodeHttp(
        new AwsClient({ ...credentials, service: "s3", region: env.get("AWS_REGION") ?? "us-east-1" }),
        `${endpoint}/${bucketName}`.replace(/\/$/, ""),
        key,
        path,
      );
    } else if (values.how === "raw") {
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
    // every byte as written (a client that reused a buffer before the bytes left would store wrong ones)
    const same = await sameBytes(await bucket.getStream(key), path);
    await bucket.delete(key);
    console.log(JSON.stringify({
      how: values.how,
      mib: size / MiB,
      part_concurrency: values.how === "raw" ? 1 : Number(values["part-concurrency"]),
      stored_bytes: stored?.size,
      stored_bytes_match: same,
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
