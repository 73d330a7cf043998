/**
 * The `none` storage engine: objects live only in the cache's memory, as with
 * Flame's `storage: none`. Eviction therefore deletes.
 *
 * @module
 */
import { type IndexLoader, type StorageEngine, writeEach } from "./engine.ts";
import type { StoredObject } from "./types.ts";

/** Storage engine that keeps nothing. */
export class NoneEngine implements StorageEngine {
  readonly name = "none";
  readonly persistent = false;
  startOpen(): IndexLoader {
    return { step: () => null, summary: () => "memory only (storage none)" };
  }
  writeBase(): void {}
  writeBases(objs: StoredObject[]): Promise<(Error | null)[]> {
    return Promise.resolve(writeEach(this, objs));
  }
  appendDelta(): void {}
  load(): null {
    return null;
  }
  probe(): null {
    return null;
  }
  remove(): void {}
  takeEvicted(): string[] {
    return [];
  }
  touch(): void {}
  close(): void {}
}
