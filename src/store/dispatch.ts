/**
 * Applies store requests to an {@link ObjectCache}. Shared by the worker and by
 * {@link LocalStore}, so both run exactly the same code.
 *
 * @module
 */
import { ObjectCache } from "./cache.ts";
import { createEngine } from "./engines.ts";
import type { StoreOptions, StoreUsage } from "./store.ts";
import type { KeySelector, ObjectBody, StagedPayload } from "./types.ts";

/** Holds the cache of one store and runs operations on it by name. */
export class StoreDispatcher {
  private cache?: ObjectCache;

  /** Run one operation (a promise for group commits). Throws what the cache throws. */
  run(op: string, args: unknown[]): unknown {
    if (op === "init") {
      const options = args[0] as StoreOptions;
      this.cache = new ObjectCache(createEngine(options), options.limits);
      return null;
    }
    const cache = this.cache;
    if (!cache) throw new Error("store used before init");
    switch (op) {
      case "open":
        return cache.open();
      case "put":
        return cache.put(args[0] as string, args[1] as ObjectBody | StagedPayload);
      case "putMany":
        return cache.putMany(args[0] as [string, ObjectBody][]);
      case "patch":
        return cache.patch(args[0] as string, args[1] as Uint8Array);
      case "get":
        return cache.get(args[0] as string);
      case "stat":
        return cache.stat(args[0] as string);
      case "list":
        return cache.list(args[0] as KeySelector);
      case "delete":
        return cache.delete(args[0] as KeySelector);
      case "usage":
        return { ...cache.usage(), counters: { ...cache.counters } } satisfies StoreUsage;
      case "close":
        cache.close();
        return null;
      default:
        throw new Error(`unknown store operation ${op}`);
    }
  }
}
