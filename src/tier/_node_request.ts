/**
 * One HTTP request with an in-memory body over `node:http` / `node:https`, answered as a fetch
 * {@link Response}, for the parts of multipart uploads.
 *
 * Why not `fetch` for these: `fetch` copies every request body it is given, and V8 frees those copies only
 * when it gets round to it, so an upload's resident memory grows with its size (GC permitting). Measured by
 * `bench/tier_upload_memory.ts` (256 MiB multipart upload, 8 MiB parts, 2 in flight, SeaweedFS): `fetch`
 * +155-163 MiB peak RSS and 98-106 MiB of V8 external memory; `node:http` writing the same part buffers
 * +14-16 MiB, every stored byte checked, in about the same time (3.8-4.8 s vs 4.5-5.1 s). Small requests
 * (records, reads, listings) stay on `fetch`, which is faster per request (see `s3.ts`).
 *
 * @module
 */
import * as http from "node:http";
import * as https from "node:https";

/** What {@link nodeRequest} sends. */
export interface NodeRequestInit {
  method: string;
  /** Signed headers (the `host` header among them must match the URL's). */
  headers: Headers;
  body: Uint8Array;
  /** Fail with a `TimeoutError` when the whole exchange takes longer. */
  timeoutMs: number;
  signal?: AbortSignal;
}

/**
 * Send `init.body` to `url`; resolves with the response (its body read whole: replies to part uploads
 * are empty or a short XML error). Rejects on connection errors, the timeout, or `init.signal`. The body
 * buffer may be reused once this settles.
 */
export function nodeRequest(url: string, init: NodeRequestInit): Promise<Response> {
  const u = new URL(url);
  const headers: Record<string, string> = {};
  init.headers.forEach((value, name) => (headers[name] = value));
  headers["content-length"] = String(init.body.length);
  const send = u.protocol === "https:" ? https.request : http.request;
  return new Promise<Response>((resolve, reject) => {
    let settled = false;
    const finish = (err: unknown, response?: Response) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      init.signal?.removeEventListener("abort", onAbort);
      if (response) resolve(response);
      else reject(err);
    };
    const req = send({
      method: init.method,
      hostname: u.hostname,
      port: u.port || (u.protocol === "https:" ? 443 : 80),
      path: `${u.pathname}${u.search}`,
      headers,
    });
    const timer = setTimeout(() => {
      const err = new DOMException(`no answer in ${init.timeoutMs} ms`, "TimeoutError");
      req.destroy(err);
      finish(err);
    }, init.timeoutMs);
    const onAbort = () => {
      req.destroy(init.signal!.reason);
      finish(init.signal!.reason);
    };
    init.signal?.addEventListener("abort", onAbort, { once: true });
    req.on("error", (err) => finish(err));
    req.on("response", (res) => {
      const chunks: Uint8Array[] = [];
      res.on("data", (chunk: Uint8Array) => chunks.push(chunk));
      res.on("error", (err) => finish(err));
      res.on("end", () => {
        const replyHeaders = new Headers();
        for (const [name, value] of Object.entries(res.headers)) {
          if (value !== undefined) {
            replyHeaders.set(name, Array.isArray(value) ? value.join(", ") : String(value));
          }
        }
        const status = res.statusCode ?? 0;
        // A Response cannot carry a body with these statuses.
        const body = status === 204 || status === 304 ? null : new Blob(chunks as BlobPart[]);
        finish(undefined, new Response(body, { status, headers: replyHeaders }));
      });
    });
    req.end(init.body);
  });
}
