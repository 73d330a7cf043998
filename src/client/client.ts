/**
 * `FlameCacheClient`: the TypeScript SDK of the flame-cache object cache,
 * speaking exactly the Flight protocol of Flame's Python and Rust SDKs
 * (flamepy 0.6.0): PATH / `PATCH:` DoPut, `key:<version>` DoGet, DELETE action,
 * plus ListFlights / GetFlightInfo for listings, and Handshake for auth.
 *
 * @module
 */
import { type Table, tableFromIPC } from "apache-arrow";
import { type Endpoint, parseEndpoint } from "../grpc/endpoint.ts";
import { type CallOptions, Channel, type ClientCall } from "../grpc/mod.ts";
import { CacheClientError, InvalidArgumentError, NotFoundError, Status } from "./errors.ts";
import {
  decodeFlightDataReply,
  decodeFlightInfo,
  decodeHandshakeResponse,
  decodePutResult,
  decodeResult,
  encodeAction,
  encodeBasicHandshake,
  encodeCriteria,
  encodeDescriptorMessage,
  encodeTicket,
  FLIGHT_SERVICE,
  type FlightDescriptor,
  type ObjectRef,
  patchDescriptor,
  pathDescriptor,
} from "./flight.ts";
import { type CachedObject, type CacheStats, ClientObjectCache } from "./cache.ts";
import { type GetReply, nativeIpcStream, type Patch, ReplyReader } from "./reply.ts";
import { nativeUpload, opaqueUpload } from "./upload.ts";
import { downloadFileOver, type DownloadResult, type TransferOptions, uploadFileOver } from "./files.ts";
import { type ObjectInfo, objectInfo } from "./info.ts";
import { type ByteSink, STREAM_ABOVE, type StreamedObject, streamReply } from "./stream_reply.ts";

import type {
  CacheObject,
  ClientOptions,
  NativeObject,
  OpaqueObject,
  PutData,
  RequestOptions,
} from "./types.ts";
export type { CacheObject, ClientOptions, NativeObject, OpaqueObject, PutData, RequestOptions };
export type { ByteSink, DownloadResult, ObjectInfo, ObjectRef, Patch, StreamedObject, TransferOptions };

const utf8 = new TextDecoder();

function keyOf(target: string | ObjectRef): string {
  return typeof target === "string" ? target : target.key;
}

function checkKey(key: string, what: string): void {
  if (typeof key !== "string" || key === "") throw new InvalidArgumentError(`${what}: empty key`);
}

/** A DoGet ticket is `<key>:<version>` split at the first ':', so such keys cannot be read. */
function checkReadableKey(key: string): void {
  checkKey(key, "get");
  if (key.includes(":")) {
    throw new InvalidArgumentError(
      `key '${key}' contains ':' and cannot be read (tickets are '<key>:<version>')`,
    );
  }
}

/** A client of one flame-cache server. Create with {@link FlameCacheClient.connect}. */
export class FlameCacheClient {
  /** The normalised endpoint URI (`grpc://host:port` or `grpc+tls://host:port`). */
  readonly endpoint: string;
  /** Bearer token sent on every call (set by the `token` option or {@link FlameCacheClient.handshake}). */
  token: string | undefined;
  private readonly channel: Channel;
  private readonly cache: ClientObjectCache | undefined;
  private readonly timeoutMs: number | undefined;

  private constructor(ep: Endpoint, options: ClientOptions) {
    this.endpoint = ep.uri;
    this.token = options.token;
    this.timeoutMs = options.timeoutMs;
    this.channel = new Channel(ep, {
      tls: options.tls,
      connectTimeoutMs: options.connectTimeoutMs,
      streamWindowBytes: options.streamWindowBytes,
      connectionWindowBytes: options.connectionWindowBytes,
    });
    const c = options.cache ?? true;
    this.cache = c instanceof ClientObjectCache
      ? c
      : c === false
      ? undefined
      : new ClientObjectCache(typeof c === "number" ? c : undefined);
  }

  /**
   * Connect to `endpoint` (`grpc://host:port`, `grpc+tls://host:port`,
   * `grpcs://host:port` or `host:port`). Unless `lazy`, the connection is opened
   * now, so an unreachable server fails here with UNAVAILABLE.
   */
  static async connect(endpoint: string, options: ClientOptions = {}): Promise<FlameCacheClient> {
    const client = new FlameCacheClient(parseEndpoint(endpoint), options);
    if (!options.lazy) {
      try {
        await client.channel.connectNow();
      } catch (err) {
        await client.close();
        throw err;
      }
    }
    return client;
  }

  /** Headers (token), deadline and signal of a call. */
  private callOptions(opts: RequestOptions = {}, extra: Partial<CallOptions> = {}): CallOptions {
    const headers: Record<string, string> = {};
    if (this.token) headers["authorization"] = `Bearer ${this.token}`;
    return { headers, timeoutMs: opts.timeoutMs ?? this.timeoutMs, signal: opts.signal, ...extra };
  }

  /** Start a call and send its request messages (ending the request stream unless `keepOpen`). */
  private async start(
    method: string,
    requests: Uint8Array[][],
    opts: RequestOptions = {},
    extra: Partial<CallOptions> = {},
    keepOpen = false,
  ): Promise<ClientCall> {
    const call = await this.channel.call(FLIGHT_SERVICE + method, this.callOptions(opts, extra));
    try {
      for (const r of requests) await call.write(r);
      if (!keepOpen) call.end();
    } catch (err) {
      call.cancel();
      throw err;
    }
    return call;
  }

  /** Feed every reply message of `call` to `each`; on any error the call is cancelled. */
  private async consume(call: ClientCall, each: (m: Uint8Array) => void): Promise<void> {
    try {
      for await (const m of call.messages()) each(m);
    } catch (err) {
      call.cancel();
      throw err;
    }
  }

  /** Run a call and collect every reply message. */
  private async collect(method: string, request: Uint8Array, opts?: RequestOptions): Promise<Uint8Array[]> {
    const call = await this.start(method, [[request]], opts);
    const out: Uint8Array[] = [];
    await this.consume(call, (m) => out.push(m));
    return out;
  }

  /**
   * Flight Handshake with Basic credentials (HandshakeRequest payload = BasicAuth).
   * Stores and returns the bearer token the server issues; returns "" (and keeps
   * no token) when the server has authentication turned off.
   */
  async handshake(username: string, password: string, opts?: RequestOptions): Promise<string> {
    const call = await this.channel.call(`${FLIGHT_SERVICE}Handshake`, {
      timeoutMs: opts?.timeoutMs ?? this.timeoutMs,
      signal: opts?.signal,
    });
    let token = "";
    try {
      await call.write([encodeBasicHandshake(username, password)]);
      call.end();
      for await (const m of call.messages()) {
        const payload = decodeHandshakeResponse(m);
        if (payload.length > 0) token = utf8.decode(payload);
      }
    } catch (err) {
      call.cancel();
      throw err;
    }
    const status = await call.result();
    const header = status.headers["authorization"] ?? status.trailers["authorization"];
    const m = typeof header === "string" ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    if (m) token = m[1];
    if (token !== "") this.token = token;
    return token;
  }

  /** Run a DoPut of `messages`; resolves with the ObjectRef. */
  private async put(messages: Uint8Array[][], opts?: RequestOptions): Promise<ObjectRef> {
    const call = await this.start("DoPut", messages, opts);
    let ref: ObjectRef | undefined;
    await this.consume(call, (m) => (ref ??= decodePutResult(m)));
    if (!ref) throw new CacheClientError(Status.INTERNAL, "the server sent no PutResult");
    return ref;
  }

  /** The DoPut messages for bytes (opaque) or a Table (native). */
  private uploadMessages(descriptor: FlightDescriptor, data: PutData): Uint8Array[][] {
    if (data instanceof Uint8Array) return opaqueUpload(descriptor, data);
    if (data && typeof data === "object" && "schema" in data && "batches" in data) {
      return nativeUpload(descriptor, data as Table);
    }
    throw new InvalidArgumentError("data must be a Uint8Array or an apache-arrow Table");
  }

  /**
   * Store `data` as a new object. `prefixOrKey` is `app/session` (the server
   * picks a UUID) or a full key `app/session/object` (create or replace).
   * Bytes become an opaque object; an apache-arrow Table a native table.
   */
  async putObject(prefixOrKey: string, data: PutData, opts?: RequestOptions): Promise<ObjectRef> {
    checkKey(prefixOrKey, "put");
    const d = pathDescriptor(prefixOrKey);
    const ref = await this.put(this.uploadMessages(d, data), opts);
    this.cache?.invalidate(this.endpoint, ref.key);
    return ref;
  }

  /** Replace an object's data (a new base; its patches are dropped). Invalidates the local cache. */
  async updateObject(target: string | ObjectRef, data: PutData, opts?: RequestOptions): Promise<ObjectRef> {
    const key = keyOf(target);
    checkKey(key, "update");
    this.cache?.invalidate(this.endpoint, key);
    const d = pathDescriptor(key);
    const ref = await this.put(this.uploadMessages(d, data), opts);
    this.cache?.invalidate(this.endpoint, key);
    return ref;
  }

  /** Append a patch (opaque bytes) to an object. Invalidates the local cache. */
  async patchObject(target: string | ObjectRef, data: Uint8Array, opts?: RequestOptions): Promise<ObjectRef> {
    const key = keyOf(target);
    checkKey(key, "patch");
    if (!(data instanceof Uint8Array)) throw new InvalidArgumentError("patch data must be a Uint8Array");
    this.cache?.invalidate(this.endpoint, key);
    const d = patchDescriptor(key);
    const ref = await this.put(opaqueUpload(d, data), opts);
    this.cache?.invalidate(this.endpoint, key);
    return ref;
  }

  /**
   * Delete `app/session/object`, every object of `app/session`, or of a whole
   * application with `app/*`. Succeeds when nothing matched.
   */
  async deleteObjects(keyOrPrefix: string, opts?: RequestOptions): Promise<void> {
    checkKey(keyOrPrefix, "delete");
    this.cache?.invalidateSelector(this.endpoint, keyOrPrefix);
    const results = await this.collect(
      "DoAction",
      encodeAction("DELETE", new TextEncoder().encode(keyOrPrefix)),
      opts,
    );
    if (results.length === 0) throw new CacheClientError(Status.INTERNAL, "the server sent no DELETE result");
    decodeResult(results[0]);
    this.cache?.invalidateSelector(this.endpoint, keyOrPrefix);
  }

  /**
   * Any Flight DoAction: sends `type` with `body` and returns the body of every result. (The cache's own
   * actions have methods; this reaches the others, e.g. the cluster's `FORGET`.)
   */
  async doAction(type: string, body: Uint8Array | string, opts?: RequestOptions): Promise<Uint8Array[]> {
    const bytes = typeof body === "string" ? new TextEncoder().encode(body) : body;
    const results = await this.collect("DoAction", encodeAction(type, bytes), opts);
    return results.map(decodeResult);
  }

  /** One DoGet `key:<from>`; returns the decoded reply. */
  private async fetch(key: string, from: number, opts?: RequestOptions): Promise<GetReply> {
    const call = await this.start("DoGet", [[encodeTicket(`${key}:${from}`)]], opts);
    const reader = new ReplyReader();
    await this.consume(call, (m) => reader.push(decodeFlightDataReply(m)));
    return reader.finish();
  }

  /**
   * Read an object. With the local cache on, asks the server for changes since
   * the cached version (`key:<version>`): "not modified" returns the cached
   * object, patch-only replies are appended to it, full replies replace it. A
   * ref with version 0 forces a full read. The returned bytes may be shared with
   * the cache: do not modify them.
   */
  async getObject(target: string | ObjectRef, opts?: RequestOptions): Promise<CacheObject> {
    const key = keyOf(target);
    checkReadableKey(key);
    const cache = this.cache;
    const forceFull = typeof target !== "string" && target.version === 0;
    let from = forceFull ? 0 : cache?.get(this.endpoint, key)?.version ?? 0;
    for (let attempt = 0; attempt < 3; attempt++) {
      const reply = await this.fetch(key, from, opts);
      switch (reply.kind) {
        case "not-modified": {
          const e = from !== 0 ? cache?.get(this.endpoint, key) : undefined;
          if (e && e.version === from) {
            cache!.noteNotModified();
            return this.result(key, e);
          }
          if (from === 0) {
            throw new CacheClientError(Status.INTERNAL, "the server sent no data for a full read");
          }
          from = 0; // the entry went away meanwhile: read everything
          continue;
        }
        case "patches": {
          if (from === 0) {
            throw new CacheClientError(Status.INTERNAL, "the server sent only patches for a full read");
          }
          const e = cache?.appendPatches(this.endpoint, key, from, reply.patches, reply.version);
          if (e) return this.result(key, e);
          from = 0; // the entry changed meanwhile (flamepy refetches too)
          continue;
        }
        case "full": {
          const e: CachedObject = {
            kind: "opaque",
            version: reply.version,
            base: reply.base,
            patches: reply.patches,
          };
          cache?.set(this.endpoint, key, e);
          return this.result(key, e);
        }
        case "native": {
          const table = tableFromIPC(nativeIpcStream(reply));
          const e: CachedObject = { kind: "native", version: reply.version, table };
          cache?.set(this.endpoint, key, e);
          return this.result(key, e);
        }
      }
    }
    throw new CacheClientError(Status.ABORTED, `object ${key} kept changing while being read`);
  }

  /** The caller's view of a cache entry. */
  private result(key: string, e: CachedObject): CacheObject {
    return e.kind === "opaque"
      ? { kind: "opaque", key, version: e.version, base: e.base, patches: [...e.patches] }
      : { kind: "native", key, version: e.version, table: e.table };
  }

  /**
   * Upload a file as an opaque object, streaming it in 1 MiB rows (never read
   * whole). `keyOrPrefix`: `app/session` (server-assigned id) or a full key.
   */
  async uploadFile(keyOrPrefix: string, path: string, opts: TransferOptions = {}): Promise<ObjectRef> {
    checkKey(keyOrPrefix, "upload");
    const d = pathDescriptor(keyOrPrefix);
    const ref = await uploadFileOver(() => this.start("DoPut", [], opts, {}, true), d, path, opts);
    this.cache?.invalidate(this.endpoint, ref.key);
    return ref;
  }

  /**
   * Download an object to `path` without holding it in memory: written to a
   * temporary file in the same directory, fsynced, then renamed over `path`.
   * Opaque objects are written as their bytes (objects with patches are refused
   * with FAILED_PRECONDITION, like Flame's SDKs); native tables as an Arrow IPC
   * stream.
   */
  async downloadFile(
    target: string | ObjectRef,
    path: string,
    opts: TransferOptions = {},
  ): Promise<DownloadResult> {
    const key = keyOf(target);
    checkReadableKey(key);
    return await downloadFileOver(
      () => this.start("DoGet", [[encodeTicket(`${key}:0`)]], opts, { streamAbove: STREAM_ABOVE }),
      path,
      opts,
    );
  }

  /**
   * Stream an object into `sink` (e.g. stdout) as it arrives, without holding
   * it: the same bytes {@link FlameCacheClient.downloadFile} writes. The sink's
   * `write` is awaited (backpressure). Bypasses the local cache.
   */
  async streamObject(
    target: string | ObjectRef,
    sink: ByteSink,
    opts: TransferOptions = {},
  ): Promise<StreamedObject> {
    const key = keyOf(target);
    checkReadableKey(key);
    const call = await this.start("DoGet", [[encodeTicket(`${key}:0`)]], opts, { streamAbove: STREAM_ABOVE });
    try {
      return await streamReply(call.events(), sink, {
        onProgress: (bytes, total) => opts.onProgress?.({ bytes, total }),
      });
    } catch (err) {
      call.cancel();
      throw err;
    }
  }

  /** List objects whose key starts with `prefix` (ListFlights). */
  async list(prefix = "", opts?: RequestOptions): Promise<ObjectInfo[]> {
    const replies = await this.collect("ListFlights", encodeCriteria(prefix), opts);
    return replies.map((m) => objectInfo(decodeFlightInfo(m)));
  }

  /**
   * Describe one object (GetFlightInfo). Throws {@link NotFoundError} when the
   * server reports no size for it (this server's answer for a missing key).
   */
  async stat(key: string, opts?: RequestOptions): Promise<ObjectInfo> {
    checkKey(key, "stat");
    const replies = await this.collect("GetFlightInfo", encodeDescriptorMessage(pathDescriptor(key)), opts);
    if (replies.length === 0) throw new CacheClientError(Status.INTERNAL, "the server sent no FlightInfo");
    const info = objectInfo(decodeFlightInfo(replies[0]));
    if (info.key === "") info.key = key;
    if (info.size < 0 && info.records < 0) throw new NotFoundError(`object ${key} not found`);
    return info;
  }

  /** Counters of the local cache (undefined when disabled). */
  cacheStats(): CacheStats | undefined {
    return this.cache?.stats();
  }

  /** Reply bytes received over this client's connection (all calls). */
  get bytesReceived(): number {
    return this.channel.bytesReceived;
  }

  /** Request bytes sent over this client's connection (all calls). */
  get bytesSent(): number {
    return this.channel.bytesSent;
  }

  /** Close the connection. In-flight calls fail with CANCELLED. */
  async close(): Promise<void> {
    await this.channel.close();
  }
}
