/**
 * The messages between a store and its cache core: one typed request per
 * operation, and its reply. `WorkerStore` posts them to the store worker;
 * `InThreadStore` hands them to the same dispatcher directly.
 *
 * @module
 */
import { CacheError, type StatusCode } from "../errors.ts";
import { storeError } from "./_core.ts";
import type { StoreOptions, StoreUsage } from "./store.ts";
import type { GroupTotals } from "./_index.ts";
import type { KeySelector, ObjectBody, ObjectStat, StagedPayload, StoredObject } from "./types.ts";

/** One operation of the cache core and its arguments. */
export type StoreRequest =
  | { op: "init"; options: StoreOptions; posted?: Int32Array }
  | { op: "open" }
  | { op: "put"; key: string; body: ObjectBody | StagedPayload }
  | { op: "putMany"; items: [string, ObjectBody][] }
  | { op: "patch"; key: string; data: Uint8Array }
  | { op: "get"; key: string }
  | { op: "stat"; key: string }
  | { op: "list"; sel: KeySelector }
  | { op: "listPage"; sel: KeySelector; after?: string; limit: number }
  | { op: "groupTotals" }
  | { op: "indexed" }
  | { op: "delete"; sel: KeySelector }
  | { op: "usage" }
  | { op: "close" };

/** Name of a store operation. */
export type StoreOp = StoreRequest["op"];

/** The request of operation `K`. */
export type RequestOf<K extends StoreOp> = Extract<StoreRequest, { op: K }>;

/** What each operation resolves with. */
export interface StoreResults {
  init: null;
  open: string;
  put: ObjectStat;
  putMany: PutReply[];
  patch: ObjectStat;
  get: StoredObject;
  stat: ObjectStat | null;
  list: ObjectStat[];
  listPage: ObjectStat[];
  groupTotals: GroupTotals[];
  indexed: string;
  delete: number;
  usage: StoreUsage;
  close: null;
}

/** An error as it crosses from the worker: a CacheError keeps its code, anything else is INTERNAL. */
export type ReplyError = { code: StatusCode; message: string };

/** Result of one put of a `putMany` batch, as it crosses from the worker. */
export type PutReply = { stat: ObjectStat } | { error: ReplyError };

/** A request as posted to the worker: `id` pairs it with its reply. */
export interface WorkerRequest {
  id: number;
  request: StoreRequest;
}

/** The worker's answer to the request with the same `id`. */
export type WorkerReply =
  | { id: number; result: StoreResults[StoreOp] }
  | { id: number; error: ReplyError };

/** The {@link ReplyError} for `err`. */
export function replyError(err: unknown): ReplyError {
  const e = storeError(err);
  return { code: e.code, message: e.message };
}

/** The CacheError a {@link ReplyError} stands for, on the receiving side. */
export function errorOfReply(reply: ReplyError): CacheError {
  return new CacheError(reply.code, reply.message);
}
