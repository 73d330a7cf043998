/**
 * The store in the calling thread: same operations as the worker, used by unit
 * tests and by tools that open a cache folder directly.
 *
 * @module
 */
import { StoreDispatcher } from "./dispatch.ts";
import type { Store, StoreOptions, StoreUsage } from "./store.ts";
import type { KeySelector, ObjectBody, ObjectStat, StagedPayload, StoredObject } from "./types.ts";

/** A {@link Store} without a worker. */
export class LocalStore implements Store {
  private readonly dispatcher = new StoreDispatcher();

  constructor(options: StoreOptions) {
    this.dispatcher.run("init", [options]);
  }

  private run<T>(op: string, ...args: unknown[]): Promise<T> {
    try {
      return Promise.resolve(this.dispatcher.run(op, args) as T);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  open(): Promise<string> {
    return this.run("open");
  }
  put(key: string, body: ObjectBody | StagedPayload): Promise<ObjectStat> {
    return this.run("put", key, body);
  }
  patch(key: string, data: Uint8Array): Promise<ObjectStat> {
    return this.run("patch", key, data);
  }
  get(key: string): Promise<StoredObject> {
    return this.run("get", key);
  }
  stat(key: string): Promise<ObjectStat | null> {
    return this.run("stat", key);
  }
  list(sel: KeySelector): Promise<ObjectStat[]> {
    return this.run("list", sel);
  }
  delete(sel: KeySelector): Promise<number> {
    return this.run("delete", sel);
  }
  usage(): Promise<StoreUsage> {
    return this.run("usage");
  }
  close(): Promise<void> {
    return this.run("close");
  }
}
