/**
 * The store as the network thread sees it: an async interface to the cache
 * loop, which runs in a Web Worker ({@link WorkerStore}) or, for unit tests and
 * tools, in the calling thread ({@link LocalStore}).
 *
 * @module
 */
import { CacheError, Status, type StatusCode } from "../errors.ts";
import type { CacheLimits } from "./cache.ts";
import type { KeySelector, ObjectBody, ObjectStat, StagedPayload, StoredObject } from "./types.ts";
import type { StorageConfig } from "../config/mod.ts";

/** Operations of the cache loop. */
export interface Store {
  /** Rebuild the index; resolves with a summary line for the log. */
  open(): Promise<string>;
  put(key: string, body: ObjectBody | StagedPayload): Promise<ObjectStat>;
  patch(key: string, data: Uint8Array): Promise<ObjectStat>;
  get(key: string): Promise<StoredObject>;
  stat(key: string): Promise<ObjectStat | null>;
  list(sel: KeySelector): Promise<ObjectStat[]>;
  delete(sel: KeySelector): Promise<number>;
  usage(): Promise<StoreUsage>;
  close(): Promise<void>;
}

/** Resident and indexed totals plus counters. */
export interface StoreUsage {
  residentBytes: number;
  residentObjects: number;
  objects: number;
  counters: Record<string, number>;
}

/** Settings the worker needs to build its cache. */
export interface StoreOptions {
  storage: StorageConfig;
  limits: CacheLimits;
  capacity?: number;
}

/** Request sent to the worker. */
export interface StoreRequest {
  id: number;
  op: string;
  args: unknown[];
}

/** An error as it crosses from the worker: a CacheError keeps its code, anything else is INTERNAL. */
export type ReplyError = { code: StatusCode; message: string };

/** The {@link ReplyError} for `err`. */
export function replyError(err: unknown): ReplyError {
  if (err instanceof CacheError) return { code: err.code, message: err.message };
  return { code: Status.INTERNAL, message: `store error: ${(err as Error)?.message ?? err}` };
}

/** Result of one put of a `putMany` batch. */
export type PutOutcome = { stat: ObjectStat } | { error: ReplyError };

/** Puts sent to the worker as one group commit, at most. */
const MAX_PUT_BATCH = 64;

/** Reply from the worker. */
export interface StoreReply {
  id: number;
  result?: unknown;
  error?: ReplyError;
}

/** The store running in a dedicated Web Worker. */
export class WorkerStore implements Store {
  private readonly worker: Worker;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private readonly queuedPuts: {
    key: string;
    body: ObjectBody;
    resolve: (stat: ObjectStat) => void;
    reject: (err: Error) => void;
  }[] = [];
  private putBatchInFlight = false;

  constructor(options: StoreOptions) {
    this.worker = new Worker(new URL("./worker.ts", import.meta.url), { type: "module" });
    this.worker.onmessage = (e: MessageEvent<StoreReply>) => {
      const p = this.pending.get(e.data.id);
      if (!p) return;
      this.pending.delete(e.data.id);
      if (e.data.error) p.reject(new CacheError(e.data.error.code, e.data.error.message));
      else p.resolve(e.data.result);
    };
    this.worker.onerror = (e) => {
      e.preventDefault();
      const err = new CacheError(13, `store worker failed: ${e.message}`);
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    this.call("init", options);
  }

  private call<T>(op: string, ...args: unknown[]): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.worker.postMessage({ id, op, args } satisfies StoreRequest);
    });
  }

  open(): Promise<string> {
    return this.call("open");
  }
  /**
   * Puts are group-committed: while one batch is being made durable in the worker, the puts that
   * arrive wait here and go as the next batch, so concurrent durable puts share their flushes. A lone
   * put goes at once.
   */
  put(key: string, body: ObjectBody | StagedPayload): Promise<ObjectStat> {
    if (body.type === "staged") return this.call("put", key, body);
    return new Promise((resolve, reject) => {
      this.queuedPuts.push({ key, body, resolve, reject });
      if (!this.putBatchInFlight) this.sendPuts();
    });
  }

  private sendPuts(): void {
    const batch = this.queuedPuts.splice(0, MAX_PUT_BATCH);
    this.putBatchInFlight = batch.length > 0;
    if (batch.length === 0) return;
    this.call<PutOutcome[]>("putMany", batch.map((p) => [p.key, p.body])).then(
      (outcomes) =>
        outcomes.forEach((o, i) => {
          if ("error" in o) batch[i].reject(new CacheError(o.error.code, o.error.message));
          else batch[i].resolve(o.stat);
        }),
      (err) => batch.forEach((p) => p.reject(err)),
    ).finally(() => this.sendPuts());
  }
  patch(key: string, data: Uint8Array): Promise<ObjectStat> {
    return this.call("patch", key, data);
  }
  get(key: string): Promise<StoredObject> {
    return this.call("get", key);
  }
  stat(key: string): Promise<ObjectStat | null> {
    return this.call("stat", key);
  }
  list(sel: KeySelector): Promise<ObjectStat[]> {
    return this.call("list", sel);
  }
  delete(sel: KeySelector): Promise<number> {
    return this.call("delete", sel);
  }
  usage(): Promise<StoreUsage> {
    return this.call("usage");
  }
  async close(): Promise<void> {
    await this.call("close");
    this.worker.terminate();
  }
}
