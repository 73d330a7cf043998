/**
 * TypeScript client SDK of flame-cache (and of Flame's Rust object cache): put,
 * get (with flamepy's version-aware local cache), update, patch, delete, file
 * upload/download streamed in constant memory, listings, Handshake auth and TLS.
 *
 * ```ts
 * import { FlameCacheClient } from "./src/client/mod.ts";
 * const client = await FlameCacheClient.connect("grpc://127.0.0.1:9090");
 * const ref = await client.putObject("app/session", new TextEncoder().encode("hello"));
 * const obj = await client.getObject(ref); // { kind: "opaque", version, base, patches }
 * await client.close();
 * ```
 *
 * @module
 */
export {
  type CacheObject,
  type ClientOptions,
  FlameCacheClient,
  type NativeObject,
  type OpaqueObject,
  type PutData,
  type RequestOptions,
} from "./client.ts";
export { type CachedObject, type CacheStats, ClientObjectCache, DEFAULT_CACHE_ENTRIES } from "./cache.ts";
export {
  CacheClientError,
  CancelledError,
  DataLossError,
  DeadlineExceededError,
  decodeGrpcMessage,
  errorFromStatus,
  InvalidArgumentError,
  NotFoundError,
  PermissionDeniedError,
  ResourceExhaustedError,
  Status,
  UnauthenticatedError,
  UnavailableError,
} from "./errors.ts";
export { DEFAULT_PORT as DEFAULT_CACHE_PORT, type Endpoint, parseEndpoint } from "../grpc/endpoint.ts";
export type { DownloadResult, Progress, TransferOptions } from "./files.ts";
export type { ColumnInfo, ObjectInfo } from "./info.ts";
export type { Patch } from "./reply.ts";
export type { ByteSink, StreamedObject } from "./stream_reply.ts";
export type { TlsOptions } from "../grpc/mod.ts";
export type { ObjectRef } from "../flight/object_ref.ts";
