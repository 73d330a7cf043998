/**
 * The SDK's option and result types (re-exported by ./client.ts and ./mod.ts).
 *
 * @module
 */
import type { Table } from "apache-arrow";
import type { ClientObjectCache } from "./cache.ts";
import type { TlsOptions } from "../grpc/mod.ts";
import type { Patch } from "./reply.ts";

/** Options of {@link FlameCacheClient.connect}. */
export interface ClientOptions {
  /** Bearer token sent as `authorization: Bearer <token>` on every call. */
  token?: string;
  /** TLS settings for `grpc+tls://` / `grpcs://` (CA, client cert/key for mutual TLS). */
  tls?: TlsOptions;
  /**
   * Local object cache: `true` (default, 1000 entries), `false` to disable, a
   * number of entries, or an {@link ClientObjectCache} to share between clients.
   */
  cache?: boolean | number | ClientObjectCache;
  /** Default deadline of every call, in ms (default: none). */
  timeoutMs?: number;
  /** Connection timeout (default 30 s). */
  connectTimeoutMs?: number;
  /** HTTP/2 stream window (default 16 MiB). */
  streamWindowBytes?: number;
  /** HTTP/2 connection window (default 64 MiB). */
  connectionWindowBytes?: number;
  /** Do not connect until the first call (default: connect in `connect()`, failing fast). */
  lazy?: boolean;
}

/** Per-call options. */
export interface RequestOptions {
  /** Deadline in ms (overrides the client's default). */
  timeoutMs?: number;
  /** Abort the call. */
  signal?: AbortSignal;
}

/** An opaque object: the base bytes and the patches appended since (oldest first). */
export interface OpaqueObject {
  /** Discriminator: bytes. */
  kind: "opaque";
  /** Full key. */
  key: string;
  /** Current version (the last patch's, else the base's). */
  version: number;
  /** The base payload (shared with the local cache: do not modify). */
  base: Uint8Array;
  /** Patches newer than the base, oldest first. */
  patches: Patch[];
}

/** A native Arrow table (`flame.cache.format=arrow-table-v1`). */
export interface NativeObject {
  /** Discriminator: an Arrow table. */
  kind: "native";
  /** Full key. */
  key: string;
  /** Version (`flame.cache.version`). */
  version: number;
  /** The table, decoded by apache-arrow after validation. */
  table: Table;
}

/** What {@link FlameCacheClient.getObject} returns. */
export type CacheObject = OpaqueObject | NativeObject;

/** Data accepted by put/update: bytes (opaque) or an apache-arrow Table (native). */
export type PutData = Uint8Array | Table;
