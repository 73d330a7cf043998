/**
 * The store as the network thread sees it: an async interface to the cache
 * core, which runs in a Web Worker (`WorkerStore`) or, for tools and tests, in
 * the calling thread (`InThreadStore`). `mod.ts` builds the server's store.
 *
 * @module
 */
import type { StorageConfig } from "../config/mod.ts";
import type { CacheLimits } from "./_core.ts";
import type { GroupTotals } from "./_index.ts";
import type { KeySelector, ObjectBody, ObjectStat, StagedPayload, StoredObject } from "./types.ts";

/** Operations of the cache core, asynchronous. */
export interface Store {
  /** Rebuild the index; resolves with a summary line for the log. */
  open(): Promise<string>;
  /**
   * Store a new base. `signal` is the call's: a store that commits in several steps (the shared tier) does
   * not commit once it is aborted, so a write its client gave up on cannot land after the client's next one.
   */
  put(
    key: string,
    body: ObjectBody | StagedPayload,
    signal?: AbortSignal,
    hint?: PutHint,
  ): Promise<ObjectStat>;
  /** Append a patch; `signal` as for {@link Store.put}. */
  patch(key: string, data: Uint8Array, signal?: AbortSignal): Promise<ObjectStat>;
  get(key: string): Promise<StoredObject>;
  stat(key: string): Promise<ObjectStat | null>;
  list(sel: KeySelector): Promise<ObjectStat[]>;
  /**
   * Up to `limit` objects selected by `sel` after the key `after` (exclusive), in key order: listings
   * read a page at a time, so memory does not grow with the number of objects. Stores that leave it out
   * are listed with {@link Store.list}.
   */
  listPage?(sel: KeySelector, after: string | undefined, limit: number): Promise<ObjectStat[]>;
  /** Objects and payload bytes per `app/session`, for the status page (cheaper than a listing). */
  groupTotals?(): Promise<GroupTotals[]>;
  /**
   * Resolves with the index summary once every stored object is indexed. {@link Store.open} resolves
   * earlier, as soon as gets, puts and patches can be served; listings wait for the whole index.
   */
  indexed?(): Promise<string>;
  delete(sel: KeySelector): Promise<number>;
  /**
   * Cluster mode only: drop this replica's local copies of what `sel` selects (a peer deleted it in the
   * shared tier). Stores without local copies of shared data leave it out.
   */
  forgetCopies?(sel: KeySelector): Promise<void>;
  usage(): Promise<StoreUsage>;
  close(): Promise<void>;
}

/** What the caller knows about a put that may save a store work. */
export interface PutHint {
  /** The key was made up by the server just now (a random id): nothing is stored under it yet. */
  fresh?: boolean;
}

/** Resident and indexed totals plus counters. */
export interface StoreUsage {
  residentBytes: number;
  residentObjects: number;
  objects: number;
  /** False while the index loads: `objects` (and `storedBytes`) count only what is indexed so far. */
  indexComplete?: boolean;
  /** Payload bytes of the indexed objects. */
  storedBytes?: number;
  counters: Record<string, number>;
}

/** Settings a store needs to build its cache core and engine. */
export interface StoreOptions {
  storage: StorageConfig;
  limits: CacheLimits;
  /** Disk budget in bytes; unlimited when absent. */
  capacity?: number;
  /** When an fs write is acknowledged (`cache.durability`); default `sync`. */
  durability?: "sync" | "relaxed";
  /** `relaxed`: the longest a write waits for its flush, ms (`cache.flush_interval_ms`). */
  flushIntervalMs?: number;
}

/** {@link Store.listPage} for a store without it: one page out of its whole listing. */
export async function listPageOf(
  store: Store,
  sel: KeySelector,
  after: string | undefined,
  limit: number,
): Promise<ObjectStat[]> {
  const all = await store.list(sel);
  const from = after === undefined ? 0 : all.findIndex((s) => s.key > after);
  return from < 0 ? [] : all.slice(from, from + limit);
}
