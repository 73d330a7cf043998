/**
 * The store as the network thread sees it: an async interface to the cache
 * loop, which runs in a Web Worker ({@link WorkerStore}) or, for unit tests and
 * tools, in the calling thread ({@link LocalStore}).
 *
 * @module
 */
import { CacheError, type StatusCode } from "../errors.ts";
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

/** Reply from the worker. */
export interface StoreReply {
  id: number;
  result?: unknown;
  error?: { code: StatusCode; message: string };
}

/** The store running in a dedicated Web Worker. */
export class WorkerStore implements Store {
  private readonly worker: Worker;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

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
  put(key: string, body: ObjectBody | StagedPayload): Promise<ObjectStat> {
    return this.call("put", key, body);
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
