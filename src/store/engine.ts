/**
 * The storage engine interface: where objects live beyond the cache's memory. Every engine
 * (`none`: `NoneEngine`, `fs`: `FsEngine`) implements {@link StorageEngine}, and
 * `_engines.ts` picks one from the configuration.
 *
 * Engines run inside the store worker, which applies one request at a time in arrival order. Their
 * methods are synchronous, so an operation is complete (durable, for a persistent engine) when it
 * returns; the one exception is the group commit {@link StorageEngine.writeBases}, which resolves once
 * its flushes are done, and the worker starts no other request meanwhile.
 *
 * @module
 */
import type { Delta, KeySelector, ObjectStat, StagedPayload, StoredObject } from "./types.ts";
import type { ObjectIndex } from "./_index.ts";

/** Loads the index a step at a time (see {@link StorageEngine.startOpen}). */
export interface IndexLoader {
  /**
   * Do the next bounded piece of work (about one folder) and return the objects it found, or null once
   * the index is complete. Objects the cache already knows are left out.
   */
  step(): ObjectStat[] | null;
  /** The summary line for the log; complete once {@link step} returned null. */
  summary(): string;
}

/** Operations every engine implements; trivial engines answer with no-ops (see `_none_engine.ts`). */
export interface StorageEngine {
  /** Engine name for logs: `none` or `fs`. */
  readonly name: string;
  /** False when objects exist only in memory (eviction then loses them). */
  readonly persistent: boolean;
  /**
   * Rebuild the index at start-up without reading payloads, in steps, so the cache serves meanwhile.
   * `known(key)` is true for keys the cache already indexed (written or probed since start): the loader
   * skips them; `knownIn(parent)` false says no key under `parent` is known (a shortcut). The engine defers its own whole-store work (the disk budget) until the load completes.
   */
  startOpen(known: (key: string) => boolean, knownIn?: (parent: string) => boolean): IndexLoader;
  /** Durably and atomically replace the base of `obj.key` and drop its patches. */
  writeBase(obj: StoredObject): void;
  /**
   * {@link writeBase} for several objects with distinct keys as one group commit (their flushes are
   * shared). Resolves with, per object, null (committed) or the error that failed it.
   */
  writeBases(objs: StoredObject[]): Promise<(Error | null)[]>;
  /** Durably append one patch; `index` is its position among the object's patches. */
  appendDelta(key: string, delta: Delta, index: number): void;
  /**
   * Load a whole object, or null when absent. Throws DATA_LOSS when bytes are damaged. A large payload
   * may be returned as a `FileBody`, to be streamed by the network thread instead of loaded.
   */
  load(key: string): StoredObject | null;
  /** Find an object that is not in the index (written by another process). */
  probe(key: string): ObjectStat | null;
  /** Durably remove the selected objects. */
  remove(sel: KeySelector, keys: string[]): void;
  /**
   * Keys the engine removed on its own since the last call (disk-budget eviction, quarantined damaged
   * objects). The cache polls it after writes and loads and forgets those keys.
   */
  takeEvicted(): string[];
  /** A read served from memory, so the engine's own recency (disk budget) stays right. */
  touch(key: string): void;
  /**
   * Release resources (a persistent engine first makes everything it acknowledged durable); `index`, when
   * given, is complete and may be kept as a snapshot for a fast restart.
   */
  close(index?: ObjectIndex): void | Promise<void>;
}

/**
 * Capability of engines that keep files: take over an upload the network thread streamed into a
 * staging file (see `Stager`), instead of receiving its bytes through the worker.
 */
export interface AdoptsStagedUploads {
  /**
   * Make a staged upload the new base of `key` at `version`, durably and atomically, dropping its
   * patches. The staging file is consumed.
   */
  adoptStaged(key: string, version: number, staged: StagedPayload): ObjectStat;
}

/** True when `engine` can adopt staged uploads. */
export function adoptsStagedUploads(
  engine: StorageEngine,
): engine is StorageEngine & AdoptsStagedUploads {
  return typeof (engine as Partial<AdoptsStagedUploads>).adoptStaged === "function";
}

/** {@link StorageEngine.writeBases} as one {@link StorageEngine.writeBase} after another. */
export function writeEach(engine: StorageEngine, objs: StoredObject[]): (Error | null)[] {
  return objs.map((obj) => {
    try {
      engine.writeBase(obj);
      return null;
    } catch (err) {
      return err as Error;
    }
  });
}
