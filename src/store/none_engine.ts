/**
 * The `none` storage engine: objects live only in the cache's memory, as with
 * Flame's `storage: none`. Eviction therefore deletes.
 *
 * @module
 */
import type { StorageEngine } from "./types.ts";

/** Storage engine that keeps nothing. */
export class NoneEngine implements StorageEngine {
  readonly name = "none";
  readonly persistent = false;
  open(): { entries: never[]; summary: string } {
    return { entries: [], summary: "memory only (storage none)" };
  }
  writeBase(): void {}
  appendDelta(): void {}
  load(): null {
    return null;
  }
  probe(): null {
    return null;
  }
  remove(): void {}
  close(): void {}
}
