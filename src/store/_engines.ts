/**
 * Chooses the storage engine from the configuration: the engine itself for the
 * store worker, and the engine's file access for the network thread.
 *
 * @module
 */
import type { StorageConfig } from "../config/mod.ts";
import { createStager, FsEngine, type MakeRoom } from "./fs/mod.ts";
import { NoneEngine } from "./_none_engine.ts";
import type { StorageEngine } from "./engine.ts";
import type { StoreOptions } from "./store.ts";
import type { Stager } from "./types.ts";

/** Build the engine named by `options.storage`. */
export function createEngine(options: StoreOptions): StorageEngine {
  switch (options.storage.kind) {
    case "none":
      return new NoneEngine();
    case "fs":
      return new FsEngine(options.storage.root, {
        capacity: options.capacity,
        durability: options.durability,
        flushIntervalMs: options.flushIntervalMs,
      });
    default:
      throw new Error(`storage engine ${(options.storage as { kind: string }).kind} is not available`);
  }
}

/**
 * The network thread's stager for large uploads into `storage`, or undefined when its engine keeps no
 * files (uploads then stay in memory). The engine adopts what it stages (`AdoptsStagedUploads`).
 * `makeRoom` frees disk when a staging write finds it full (a cluster replica drops cached tier blobs).
 */
export function stagerFor(storage: StorageConfig, makeRoom?: MakeRoom): Stager | undefined {
  return storage.kind === "fs" ? createStager(storage.root, makeRoom) : undefined;
}
