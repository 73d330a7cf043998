/**
 * The one place where {@link Store} methods become {@link StoreRequest}s: the
 * worker-backed and the in-thread store differ only in how a request reaches
 * the cache core.
 *
 * @module
 */
import type { StoreRequest, StoreResults } from "./_messages.ts";
import type { Store, StoreUsage } from "./store.ts";
import type { GroupTotals } from "./_index.ts";
import type { KeySelector, ObjectBody, ObjectStat, StagedPayload, StoredObject } from "./types.ts";

/** A {@link Store} that delivers each operation to a cache core as a request. */
export abstract class RequestStore implements Store {
  /** Deliver `req` and resolve with its result (reject with the CacheError it failed with). */
  protected abstract send<R extends StoreRequest>(req: R): Promise<StoreResults[R["op"]]>;

  open(): Promise<string> {
    return this.send({ op: "open" });
  }
  put(key: string, body: ObjectBody | StagedPayload): Promise<ObjectStat> {
    return this.send({ op: "put", key, body });
  }
  patch(key: string, data: Uint8Array): Promise<ObjectStat> {
    return this.send({ op: "patch", key, data });
  }
  get(key: string): Promise<StoredObject> {
    return this.send({ op: "get", key });
  }
  stat(key: string): Promise<ObjectStat | null> {
    return this.send({ op: "stat", key });
  }
  list(sel: KeySelector): Promise<ObjectStat[]> {
    return this.send({ op: "list", sel });
  }
  listPage(sel: KeySelector, after: string | undefined, limit: number): Promise<ObjectStat[]> {
    return this.send({ op: "listPage", sel, after, limit });
  }
  groupTotals(): Promise<GroupTotals[]> {
    return this.send({ op: "groupTotals" });
  }
  indexed(): Promise<string> {
    return this.send({ op: "indexed" });
  }
  delete(sel: KeySelector): Promise<number> {
    return this.send({ op: "delete", sel });
  }
  usage(): Promise<StoreUsage> {
    return this.send({ op: "usage" });
  }
  async close(): Promise<void> {
    await this.send({ op: "close" });
  }
}
