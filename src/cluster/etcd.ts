/**
 * A small etcd v3 client over etcd's JSON gateway (grpc-gateway) and `fetch`.
 *
 * Why the JSON gateway and not gRPC:
 * - A gRPC client on Deno means grpc-js on Deno's `node:http2` client, which Deno can abort on a GOAWAY
 *   (the nghttp2 bug the server already works around). The project's own HTTP/2 client role would avoid
 *   that, but it is built for Flight calls, not for etcd's long-lived bidirectional watch stream.
 * - The gateway needs nothing but `fetch`: unary calls are POSTs of JSON, and `/v3/watch` is a POST whose
 *   response body streams one JSON object per event batch, which `fetch` reads as a stream.
 * - The cost is JSON + base64 instead of protobuf, which does not matter at membership rates (a keep-alive
 *   every TTL/3 and a few events per membership change).
 *
 * Wire details (etcd 3.4 gateway under `/v3/`): keys and values are base64; int64 fields (revisions, lease
 * ids, TTLs) are JSON strings and omitted when zero. Lease ids exceed 2^53, so they stay strings here;
 * revisions fit in a double for the life of any cluster, so they are numbers.
 *
 * Failover: the client keeps the endpoint that last answered and, on a connection failure, a timeout or an
 * UNAVAILABLE reply, tries the next one. Errors are typed: {@link EtcdUnavailableError} (no endpoint
 * answered: retry later) and {@link EtcdRejectedError} (etcd answered with an error: retrying the same
 * request will not help).
 *
 * @module
 */

/** Any error from this client. */
export class EtcdError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "EtcdError";
  }
}

/** No endpoint answered (refused, reset, timed out, or etcd said UNAVAILABLE). Retryable. */
export class EtcdUnavailableError extends EtcdError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "EtcdUnavailableError";
  }
}

/** etcd answered and refused the request (gRPC `code` from the gateway's error body). */
export class EtcdRejectedError extends EtcdError {
  /** gRPC status code etcd returned (e.g. 5 NOT_FOUND for an unknown lease). */
  readonly code: number;
  constructor(code: number, message: string) {
    super(message);
    this.name = "EtcdRejectedError";
    this.code = code;
  }
}

/** The watch start revision was compacted away: re-list, then watch from the new revision. */
export class EtcdCompactedError extends EtcdError {
  /** The oldest revision still available. */
  readonly compactRevision: number;
  constructor(compactRevision: number) {
    super(`etcd watch revision was compacted (oldest available ${compactRevision})`);
    this.name = "EtcdCompactedError";
    this.compactRevision = compactRevision;
  }
}

/** One key-value pair as stored in etcd. */
export interface KeyValue {
  key: string;
  value: Uint8Array;
  createRevision: number;
  modRevision: number;
  version: number;
  /** Lease id ("" when none). */
  lease: string;
}

/** One watch event. On `delete`, `kv.value` is empty. */
export interface WatchEvent {
  type: "put" | "delete";
  kv: KeyValue;
}

/** A batch of events at one revision (or a progress notification with no events). */
export interface WatchBatch {
  revision: number;
  events: WatchEvent[];
}

/** Options for {@link EtcdClient}. */
export interface EtcdClientOptions {
  /** Client URLs, e.g. `["http://127.0.0.1:2379"]`. At least one. */
  endpoints: string[];
  /** Per-request timeout in ms (default 3000). Watches are not timed out. */
  timeoutMs?: number;
}

interface RawKv {
  key?: string;
  value?: string;
  create_revision?: string;
  mod_revision?: string;
  version?: string;
  lease?: string;
}

interface RawHeader {
  revision?: string;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function b64(bytes: Uint8Array | string): string {
  const data = typeof bytes === "string" ? encoder.encode(bytes) : bytes;
  let text = "";
  for (let i = 0; i < data.length; i += 0x8000) text += String.fromCharCode(...data.subarray(i, i + 0x8000));
  return btoa(text);
}

function unb64(text: string | undefined): Uint8Array {
  if (!text) return new Uint8Array(0);
  const raw = atob(text);
  const out = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
  return out;
}

function toKv(raw: RawKv): KeyValue {
  return {
    key: decoder.decode(unb64(raw.key)),
    value: unb64(raw.value),
    createRevision: Number(raw.create_revision ?? 0),
    modRevision: Number(raw.mod_revision ?? 0),
    version: Number(raw.version ?? 0),
    lease: raw.lease ?? "",
  };
}

/** The end of the key range that holds every key starting with `prefix` (etcd's `range_end`). */
export function prefixRangeEnd(prefix: string): Uint8Array {
  const bytes = encoder.encode(prefix);
  for (let i = bytes.length - 1; i >= 0; i--) {
    if (bytes[i] < 0xff) {
      const end = bytes.slice(0, i + 1);
      end[i]++;
      return end;
    }
  }
  return new Uint8Array([0]); // every key
}

/** gRPC codes that mean "this member cannot serve now": try another endpoint. */
const RETRY_CODES = new Set([4, /* DEADLINE_EXCEEDED */ 14 /* UNAVAILABLE */]);

/** An etcd v3 client over the JSON gateway. Stateless apart from the preferred endpoint. */
export class EtcdClient {
  readonly endpoints: readonly string[];
  readonly timeoutMs: number;
  #current = 0;

  constructor(options: EtcdClientOptions) {
    if (options.endpoints.length === 0) throw new EtcdError("etcd: no endpoints configured");
    this.endpoints = options.endpoints.map((e) => e.replace(/\/+$/, ""));
    this.timeoutMs = options.timeoutMs ?? 3000;
  }

  /** POST `body` to `/v3/{path}` on the first endpoint that answers; returns the parsed JSON reply. */
  async call<T>(path: string, body: unknown, signal?: AbortSignal): Promise<T> {
    const failures: string[] = [];
    for (let attempt = 0; attempt < this.endpoints.length; attempt++) {
      const index = (this.#current + attempt) % this.endpoints.length;
      const endpoint = this.endpoints[index];
      const timeout = AbortSignal.timeout(this.timeoutMs);
      let response: Response;
      let text: string;
      try {
        response = await fetch(`${endpoint}/v3/${path}`, {
          method: "POST",
          body: JSON.stringify(body),
          headers: { "content-type": "application/json" },
          signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
        });
        text = await response.text();
      } catch (err) {
        if (signal?.aborted) throw signal.reason;
        failures.push(
          `${endpoint}: ${timeout.aborted ? `timed out after ${this.timeoutMs} ms` : errText(err)}`,
        );
        continue;
      }
      let json: Record<string, unknown>;
      try {
        json = JSON.parse(text);
      } catch {
        failures.push(`${endpoint}: HTTP ${response.status} with a non-JSON body`);
        continue;
      }
      if (!response.ok || typeof json.code === "number" && json.code !== 0) {
        const code = typeof json.code === "number" ? json.code : 2;
        const message = String(json.message ?? json.error ?? `HTTP ${response.status}`);
        if (RETRY_CODES.has(code) || response.status >= 502) {
          failures.push(`${endpoint}: ${message}`);
          continue;
        }
        this.#current = index;
        throw new EtcdRejectedError(code, `etcd ${path}: ${message}`);
      }
      this.#current = index;
      return json as T;
    }
    throw new EtcdUnavailableError(`etcd unreachable (${failures.join("; ")})`);
  }

  /** The value of one key, or undefined. */
  async get(key: string): Promise<KeyValue | undefined> {
    const reply = await this.call<{ kvs?: RawKv[] }>("kv/range", { key: b64(key) });
    return reply.kvs?.length ? toKv(reply.kvs[0]) : undefined;
  }

  /** Every key under `prefix` and the store revision the list was read at. */
  async list(prefix: string): Promise<{ kvs: KeyValue[]; revision: number }> {
    const reply = await this.call<{ kvs?: RawKv[]; header?: RawHeader }>("kv/range", {
      key: b64(prefix),
      range_end: b64(prefixRangeEnd(prefix)),
    });
    return { kvs: (reply.kvs ?? []).map(toKv), revision: Number(reply.header?.revision ?? 0) };
  }

  /** Put `value` at `key`, attached to `lease` when given. Returns the new store revision. */
  async put(key: string, value: Uint8Array | string, options: { lease?: string } = {}): Promise<number> {
    const body: Record<string, string> = { key: b64(key), value: b64(value) };
    if (options.lease) body.lease = options.lease;
    const reply = await this.call<{ header?: RawHeader }>("kv/put", body);
    return Number(reply.header?.revision ?? 0);
  }

  /** Delete one key. Returns how many keys were deleted (0 or 1). */
  async delete(key: string): Promise<number> {
    const reply = await this.call<{ deleted?: string }>("kv/deleterange", { key: b64(key) });
    return Number(reply.deleted ?? 0);
  }

  /** Delete every key under `prefix`. Returns how many were deleted. */
  async deletePrefix(prefix: string): Promise<number> {
    const reply = await this.call<{ deleted?: string }>("kv/deleterange", {
      key: b64(prefix),
      range_end: b64(prefixRangeEnd(prefix)),
    });
    return Number(reply.deleted ?? 0);
  }

  /** Grant a lease of `ttlSeconds`. Returns its id and the TTL etcd granted. */
  async grantLease(ttlSeconds: number): Promise<{ id: string; ttl: number }> {
    const reply = await this.call<{ ID?: string; TTL?: string; error?: string }>("lease/grant", {
      TTL: String(ttlSeconds),
    });
    if (!reply.ID) throw new EtcdRejectedError(2, `etcd lease/grant: ${reply.error ?? "no lease id"}`);
    return { id: reply.ID, ttl: Number(reply.TTL ?? ttlSeconds) };
  }

  /**
   * Renew a lease once. Returns the remaining TTL in seconds; 0 means the lease no longer exists
   * (expired or revoked), so whatever was attached to it is gone.
   */
  async keepAlive(id: string): Promise<number> {
    const reply = await this.call<{ result?: { TTL?: string } }>("lease/keepalive", { ID: id });
    return Number(reply.result?.TTL ?? 0);
  }

  /** Revoke a lease, deleting every key attached to it. An unknown lease is not an error. */
  async revokeLease(id: string): Promise<void> {
    try {
      await this.call("lease/revoke", { ID: id });
    } catch (err) {
      if (err instanceof EtcdRejectedError && err.code === 5) return; // already gone
      throw err;
    }
  }

  /** The store revision and leader of the answering member (a cheap liveness probe). */
  async status(): Promise<{ revision: number; leader: string }> {
    const reply = await this.call<{ header?: RawHeader; leader?: string }>("maintenance/status", {});
    return { revision: Number(reply.header?.revision ?? 0), leader: reply.leader ?? "" };
  }

  /**
   * Watch every key under `prefix` from `startRevision` (inclusive). Yields batches until `signal` aborts
   * (then returns quietly). Throws {@link EtcdUnavailableError} when no endpoint accepts the watch or the
   * stream breaks, and {@link EtcdCompactedError} when `startRevision` is no longer available; the caller
   * re-lists and watches again. Progress notifications arrive as batches with no events.
   */
  async *watchPrefix(prefix: string, startRevision: number, signal: AbortSignal): AsyncGenerator<WatchBatch> {
    const body = JSON.stringify({
      create_request: {
        key: b64(prefix),
        range_end: b64(prefixRangeEnd(prefix)),
        start_revision: String(startRevision),
        progress_notify: true,
      },
    });
    let response: Response | undefined;
    let detach = () => {};
    const failures: string[] = [];
    for (let attempt = 0; attempt < this.endpoints.length && !response; attempt++) {
      const index = (this.#current + attempt) % this.endpoints.length;
      try {
        // Only the connection is timed out; the stream itself lives until `signal` aborts.
        const controller = new AbortController();
        const onAbort = () => controller.abort(signal.reason);
        signal.addEventListener("abort", onAbort, { once: true });
        detach = () => signal.removeEventListener("abort", onAbort);
        const timer = setTimeout(
          () => controller.abort(new DOMException("watch connect timed out", "TimeoutError")),
          this.timeoutMs,
        );
        try {
          const r = await fetch(`${this.endpoints[index]}/v3/watch`, {
            method: "POST",
            body,
            headers: { "content-type": "application/json" },
            signal: controller.signal,
          });
          if (!r.ok) {
            await r.body?.cancel();
            failures.push(`${this.endpoints[index]}: HTTP ${r.status}`);
            continue;
          }
          response = r;
          this.#current = index;
        } finally {
          clearTimeout(timer);
          if (!response) detach();
        }
      } catch (err) {
        if (signal.aborted) return;
        failures.push(`${this.endpoints[index]}: ${errText(err)}`);
      }
    }
    if (!response?.body) throw new EtcdUnavailableError(`etcd watch failed (${failures.join("; ")})`);
    let buffer = "";
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    try {
      while (true) {
        let chunk: ReadableStreamReadResult<string>;
        try {
          chunk = await reader.read();
        } catch (err) {
          if (signal.aborted) return;
          throw new EtcdUnavailableError(`etcd watch stream broke: ${errText(err)}`, { cause: err });
        }
        if (chunk.done) break;
        buffer += chunk.value;
        let newline: number;
        while ((newline = buffer.indexOf("\n")) >= 0) {
          const line = buffer.slice(0, newline).trim();
          buffer = buffer.slice(newline + 1);
          if (line) {
            const batch = parseWatchLine(line);
            if (batch) yield batch;
          }
        }
      }
      if (signal.aborted) return;
      throw new EtcdUnavailableError("etcd watch stream ended");
    } finally {
      detach();
      reader.cancel().catch(() => {});
    }
  }
}

function parseWatchLine(line: string): WatchBatch | undefined {
  const json = JSON.parse(line) as {
    result?: {
      header?: RawHeader;
      created?: boolean;
      canceled?: boolean;
      compact_revision?: string;
      cancel_reason?: string;
      events?: { type?: string; kv?: RawKv }[];
    };
    error?: { message?: string; grpc_code?: number; http_code?: number };
  };
  if (json.error) throw new EtcdUnavailableError(`etcd watch error: ${json.error.message ?? "unknown"}`);
  const result = json.result;
  if (!result) return undefined;
  if (result.compact_revision && Number(result.compact_revision) > 0) {
    throw new EtcdCompactedError(Number(result.compact_revision));
  }
  if (result.canceled) {
    throw new EtcdUnavailableError(`etcd watch canceled: ${result.cancel_reason ?? "no reason"}`);
  }
  if (result.created) return undefined;
  return {
    revision: Number(result.header?.revision ?? 0),
    events: (result.events ?? []).map((e) => ({
      type: e.type === "DELETE" ? "delete" : "put",
      kv: toKv(e.kv ?? {}),
    })),
  };
}

function errText(err: unknown): string {
  if (err instanceof Error) {
    const cause = err.cause instanceof Error ? `: ${err.cause.message}` : "";
    return `${err.message}${cause}`;
  }
  return String(err);
}
