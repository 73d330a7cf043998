/**
 * Chooses the storage engine from the configuration.
 *
 * @module
 */
import { FsEngine } from "./fs/mod.ts";
import { NoneEngine } from "./none_engine.ts";
import type { StoreOptions } from "./store.ts";
import type { StorageEngine } from "./types.ts";

/** Build the engine named by `options.storage`. */
export function createEngine(options: StoreOptions): StorageEngine {
  switch (options.storage.kind) {
    case "none":
      return new NoneEngine();
    case "fs":
      return new FsEngine(options.storage.root, { capacity: options.capacity });
    default:
      throw new Error(`storage engine ${(options.storage as { kind: string }).kind} is not available`);
  }
}
