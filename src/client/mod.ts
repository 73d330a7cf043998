/**
 * TypeScript client SDK of flame-cache (and of Flame's Rust object cache): put,
 * get (with flamepy's version-aware local cache), update, patch, delete, file
 * upload/download streamed in constant memory, listings, Handshake auth and TLS.
 *
 * The examples talk to the server at `FLAME_CACHE_ENDPOINT` (default
 * `grpc://127.0.0.1:9090`); `deno task test:doc` starts one and runs them.
 *
 * @example Put, patch and get an opaque object
 * ```ts
 * import assert from "node:assert/strict";
 * import { FlameCacheClient } from "@flame/cache";
 *
 * const endpoint = Deno.env.get("FLAME_CACHE_ENDPOINT") ?? "grpc://127.0.0.1:9090";
 * const client = await FlameCacheClient.connect(endpoint);
 * const text = new TextEncoder();
 * const ref = await client.putObject("example/put", text.encode("hello")); // server picks the object id
 * await client.patchObject(ref, text.encode(" world")); // version 2
 * const obj = await client.getObject(ref);
 * assert.equal(obj.kind, "opaque");
 * if (obj.kind === "opaque") {
 *   assert.equal(obj.version, ref.version + 1);
 *   assert.deepEqual(obj.patches.map((p) => new TextDecoder().decode(p.data)), [" world"]);
 * }
 * await client.deleteObjects("example/put");
 * await client.close();
 * ```
 *
 * @example Store an Arrow table and list what is stored
 * ```ts
 * import assert from "node:assert/strict";
 * import { tableFromArrays } from "apache-arrow";
 * import { FlameCacheClient } from "@flame/cache";
 *
 * const client = await FlameCacheClient.connect(
 *   Deno.env.get("FLAME_CACHE_ENDPOINT") ?? "grpc://127.0.0.1:9090",
 * );
 * const ref = await client.putObject("example/table", tableFromArrays({ id: Int32Array.from([1, 2, 3]) }));
 * const obj = await client.getObject(ref);
 * assert.equal(obj.kind === "native" ? obj.table.numRows : 0, 3);
 * const listed = await client.list("example/table");
 * assert.deepEqual(listed.map((o) => o.key), [ref.key]);
 * await client.deleteObjects("example/table");
 * await client.close();
 * ```
 *
 * @example Errors carry the gRPC status as a class
 * ```ts
 * import assert from "node:assert/strict";
 * import { FlameCacheClient, NotFoundError } from "@flame/cache";
 *
 * const client = await FlameCacheClient.connect(
 *   Deno.env.get("FLAME_CACHE_ENDPOINT") ?? "grpc://127.0.0.1:9090",
 * );
 * await assert.rejects(client.getObject("example/errors/missing"), NotFoundError);
 * await client.close();
 * ```
 *
 * @example Map a status code to its error class (no server needed)
 * ```ts
 * import assert from "node:assert/strict";
 * import { errorFromStatus, NotFoundError, Status } from "@flame/cache";
 *
 * const err = errorFromStatus(Status.NOT_FOUND, "object a/b/c not found");
 * assert.ok(err instanceof NotFoundError);
 * assert.equal(err.codeName, "NOT_FOUND");
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
