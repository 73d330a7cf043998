/**
 * The client's version-aware object cache, modelled on flamepy 0.6.0: an LRU of
 * up to 1000 entries keyed by (endpoint, key), each holding the version and the
 * object (base + patches, or a native table). `getObject` asks the server with
 * `key:<cached version>`; "not modified" answers from here, patch-only replies
 * are appended, full replies replace the entry. Writes through the client
 * invalidate. Not persisted; may be shared by several clients.
 *
 * @module
 */
import type { Table } from "apache-arrow";
import type { Patch } from "./reply.ts";

/** A cached object. Treat the bytes as read-only: they are shared with callers. */
export type CachedObject =
  | { kind: "opaque"; version: number; base: Uint8Array; patches: Patch[] }
  | { kind: "native"; version: number; table: Table };

/** Counters of what the cache did. */
export interface CacheStats {
  /** Entries currently held. */
  entries: number;
  /** Gets answered "not modified" by the server (served from the cache). */
  notModified: number;
  /** Gets that received only newer patches and appended them. */
  patched: number;
  /** Gets that received the whole object. */
  full: number;
  /** Entries dropped to stay within the size limit. */
  evictions: number;
  /** Entries dropped by update/patch/delete. */
  invalidations: number;
}

/** Default number of entries (flamepy's value). */
export const DEFAULT_CACHE_ENTRIES = 1000;

/** An LRU of objects keyed by (endpoint, key). */
export class ClientObjectCache {
  private readonly map = new Map<string, CachedObject>();
  private readonly counters = { notModified: 0, patched: 0, full: 0, evictions: 0, invalidations: 0 };

  /** `maxEntries`: entries kept (least recently used dropped first). */
  constructor(readonly maxEntries: number = DEFAULT_CACHE_ENTRIES) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new RangeError("maxEntries must be >= 1");
  }

  /** Map key of (endpoint, key). */
  private static id(endpoint: string, key: string): string {
    return `${endpoint}\u0000${key}`;
  }

  /** The entry for (endpoint, key), marking it recently used. */
  get(endpoint: string, key: string): CachedObject | undefined {
    const id = ClientObjectCache.id(endpoint, key);
    const e = this.map.get(id);
    if (e) {
      this.map.delete(id);
      this.map.set(id, e);
    }
    return e;
  }

  /** Store a full object (replaces any entry). */
  set(endpoint: string, key: string, entry: CachedObject): void {
    const id = ClientObjectCache.id(endpoint, key);
    this.map.delete(id);
    this.map.set(id, entry);
    this.counters.full++;
    while (this.map.size > this.maxEntries) {
      this.map.delete(this.map.keys().next().value!);
      this.counters.evictions++;
    }
  }

  /**
   * Append patches received for a request made at version `from`. Applied only
   * when the entry is still at `from` (flamepy's rule); returns the updated
   * entry, or undefined when the caller must refetch the whole object.
   */
  appendPatches(
    endpoint: string,
    key: string,
    from: number,
    patches: Patch[],
    version: number,
  ): CachedObject | undefined {
    const e = this.get(endpoint, key);
    if (!e || e.kind !== "opaque") return undefined;
    if (e.version === version) return e; // someone else already applied them
    if (e.version !== from) return undefined;
    const next: CachedObject = { kind: "opaque", version, base: e.base, patches: [...e.patches, ...patches] };
    this.map.set(ClientObjectCache.id(endpoint, key), next);
    this.counters.patched++;
    return next;
  }

  /** Count a "not modified" answer. */
  noteNotModified(): void {
    this.counters.notModified++;
  }

  /** Drop one key. */
  invalidate(endpoint: string, key: string): void {
    if (this.map.delete(ClientObjectCache.id(endpoint, key))) this.counters.invalidations++;
  }

  /**
   * Drop what a DELETE of `selector` removes on the server: the exact key,
   * everything under `app/ssn/`, or for `app/*` everything under `app/`.
   */
  invalidateSelector(endpoint: string, selector: string): void {
    const parts = selector.split("/");
    const head = `${endpoint}\u0000`;
    let prefix: string | undefined;
    if (parts.length === 2 && parts[1] === "*") prefix = `${parts[0]}/`;
    else if (parts.length === 2) prefix = `${selector}/`;
    if (prefix === undefined) return this.invalidate(endpoint, selector);
    for (const id of [...this.map.keys()]) {
      if (id.startsWith(head) && id.slice(head.length).startsWith(prefix)) {
        this.map.delete(id);
        this.counters.invalidations++;
      }
    }
  }

  /** Drop everything. */
  clear(): void {
    this.map.clear();
  }

  /** Number of entries. */
  get size(): number {
    return this.map.size;
  }

  /** Counters since creation. */
  stats(): CacheStats {
    return { entries: this.map.size, ...this.counters };
  }
}
