/**
 * The cache core: index, versions, patches, LRU eviction of resident payloads
 * and calls into the storage engine. It runs inside the store worker (or in the
 * calling thread for tools and tests); every method but the group commit is
 * synchronous, so operations are applied one at a time in arrival order and
 * per-key ordering needs no locks.
 *
 * @module
 */
import { CacheError, notFound, resourceExhausted, Status } from "../errors.ts";
import { NATIVE_VERSION_KEY, withSchemaMetadata } from "../arrow/mod.ts";
import { Lru } from "./_lru.ts";
import { type GroupTotals, ObjectIndex } from "./_index.ts";
import { adoptsStagedUploads, type IndexLoader, type StorageEngine, writeEach } from "./engine.ts";
import {
  type Delta,
  type KeySelector,
  type ObjectBody,
  type ObjectStat,
  type StagedPayload,
  statOf,
  type StoredObject,
} from "./types.ts";

/** Patches allowed per object before a put must replace it. */
export const MAX_PATCHES = 1000;

/** Memory limits of the resident set. */
export interface CacheLimits {
  policy: "lru" | "none";
  maxMemory: number;
  maxObjects: number;
}

/** Counters exposed for metrics and tests. */
export interface CacheCounters {
  hits: number;
  misses: number;
  loads: number;
  evictions: number;
  puts: number;
  patches: number;
  deletes: number;
}

/** Result of one put of a {@link CacheCore.putMany} batch. */
export type PutOutcome = { stat: ObjectStat } | { error: CacheError };

/** `err` as a CacheError: a CacheError keeps its status, anything else is INTERNAL. */
export function storeError(err: unknown): CacheError {
  if (err instanceof CacheError) return err;
  return new CacheError(Status.INTERNAL, `store error: ${(err as Error)?.message ?? err}`);
}

/** Index + resident payloads + engine. */
export class CacheCore {
  /** Metadata of every known object (compact, see _index.ts). */
  private readonly index = new ObjectIndex();
  /** Payloads held in memory, bounded by the LRU. */
  private readonly resident = new Map<string, StoredObject>();
  /** Set while the index is loading in steps (see {@link begin}). */
  private loader?: IndexLoader;
  private summary = "";
  /** Why the index could not be loaded; operations that need all of it fail with it. */
  private loadError?: string;
  /** Last version of deleted or lost keys, so versions never go backwards for a key. */
  private readonly tombstones = new Map<string, number>();
  private readonly lru = new Lru();
  readonly counters: CacheCounters = {
    hits: 0,
    misses: 0,
    loads: 0,
    evictions: 0,
    puts: 0,
    patches: 0,
    deletes: 0,
  };

  constructor(private readonly engine: StorageEngine, private readonly limits: CacheLimits) {}

  /** Rebuild the whole index from the engine at once; returns the engine's summary line. */
  open(): string {
    this.begin();
    while (this.loadStep());
    return this.summary;
  }

  /**
   * Start loading the index in steps ({@link loadStep}); until it is complete, keys it has not reached
   * are looked up on the engine (probe), so gets, puts and patches are served meanwhile. Operations
   * that need every key (prefix listings and deletes, totals) must wait for {@link indexComplete}.
   */
  begin(): void {
    this.loader = this.engine.startOpen(
      (key) => this.index.has(key),
      (parent) => this.index.hasGroup(parent),
    );
  }

  /** Load the next part of the index; false once it is complete. */
  loadStep(): boolean {
    const loader = this.loader;
    if (!loader || this.loadError !== undefined) return false;
    let batch;
    try {
      batch = loader.step();
    } catch (err) {
      this.loadError = String((err as Error)?.message ?? err);
      throw err;
    }
    if (batch === null) {
      this.loader = undefined;
      this.summary = loader.summary();
      this.reap();
      return false;
    }
    // The loader left out keys already indexed (known), within this same synchronous step.
    for (const stat of batch) this.index.set(stat);
    this.reap();
    return true;
  }

  /** True once every stored object is indexed. */
  get indexComplete(): boolean {
    return this.loader === undefined;
  }

  /** The engine's summary line of the complete index load (UNAVAILABLE while it loads). */
  indexSummary(): string {
    this.needIndex("the index summary");
    return this.summary;
  }

  /** Replace (or create) the base of `key`; returns the new metadata. */
  put(key: string, body: ObjectBody | StagedPayload): ObjectStat {
    if (body.type === "staged") return this.adopt(key, this.lastVersion(key) + 1, body);
    const obj = this.nextBase(key, body);
    this.engine.writeBase(obj);
    return this.committed(obj);
  }

  /**
   * Several puts as group commits (see FsEngine.writeBases): in order, each run of distinct keys is
   * written and made durable together. Every put succeeds or fails on its own.
   */
  async putMany(items: [string, ObjectBody][]): Promise<PutOutcome[]> {
    const out: PutOutcome[] = new Array(items.length);
    const fail = (i: number, err: unknown) => (out[i] = { error: storeError(err) });
    let i = 0;
    while (i < items.length) {
      const keys = new Set<string>();
      const group: { i: number; obj: StoredObject }[] = [];
      for (; i < items.length && !keys.has(items[i][0]); i++) {
        keys.add(items[i][0]);
        try {
          group.push({ i, obj: this.nextBase(items[i][0], items[i][1]) });
        } catch (err) {
          fail(i, err);
        }
      }
      const objs = group.map((g) => g.obj);
      const errors = objs.length > 1 ? await this.engine.writeBases(objs) : writeEach(this.engine, objs);
      group.forEach((g, k) => {
        const err = errors[k];
        if (err) fail(g.i, err);
        else out[g.i] = { stat: this.committed(g.obj) };
      });
    }
    return out;
  }

  /** The object a put of `body` to `key` creates (next version; native tables carry it). */
  private nextBase(key: string, body: ObjectBody): StoredObject {
    const version = this.lastVersion(key) + 1;
    if (body.type === "native") {
      body = {
        ...body,
        schemaHeader: withSchemaMetadata(body.schemaHeader, { [NATIVE_VERSION_KEY]: String(version) }),
      };
    }
    return { key, baseVersion: version, body, deltas: [] };
  }

  /** Index a base that is now durable. */
  private committed(obj: StoredObject): ObjectStat {
    const key = obj.key;
    const stat = statOf(obj);
    this.index.set(stat);
    this.resident.set(key, obj);
    this.tombstones.delete(key);
    this.counters.puts++;
    this.lru.touch(key, stat.size);
    this.evict(key);
    this.reap();
    return stat;
  }

  /** Take over a payload the network thread staged on disk (large uploads). */
  private adopt(key: string, version: number, staged: StagedPayload): ObjectStat {
    if (!adoptsStagedUploads(this.engine)) {
      throw new Error(`storage ${this.engine.name} cannot adopt staged files`);
    }
    const stat = this.engine.adoptStaged(key, version, staged);
    this.reap();
    // Large payloads stay on disk: they are served by streaming, not from memory.
    this.index.set(stat);
    this.resident.delete(key);
    this.tombstones.delete(key);
    this.lru.remove(key);
    this.counters.puts++;
    return { ...stat };
  }

  /** Append a patch to an existing object; returns the new metadata. */
  patch(key: string, data: Uint8Array): ObjectStat {
    const stat = this.lookup(key);
    if (!stat) throw notFound(`object ${key} not found for patch`);
    if (stat.deltaCount >= MAX_PATCHES) {
      throw resourceExhausted(
        `object ${key} has reached the maximum of ${MAX_PATCHES} patches; update it to start again`,
      );
    }
    const delta: Delta = { version: stat.version + 1, data };
    this.engine.appendDelta(key, delta, stat.deltaCount);
    this.reap();
    stat.version = delta.version;
    stat.size += data.length;
    stat.deltaCount++;
    stat.modified = Date.now();
    this.index.set(stat);
    this.counters.patches++;
    const resident = this.resident.get(key);
    if (resident) {
      resident.deltas.push(delta);
      this.lru.touch(key, stat.size);
      this.evict(key);
    }
    return stat;
  }

  /** The whole object (base + patches). NOT_FOUND when absent. */
  get(key: string): StoredObject {
    const stat = this.lookup(key);
    if (!stat) {
      this.counters.misses++;
      throw notFound(`object ${key} not found`);
    }
    let obj = this.resident.get(key);
    if (obj) {
      this.counters.hits++;
      this.engine.touch(key);
    } else {
      try {
        obj = this.engine.load(key) ?? undefined;
      } finally {
        this.reap();
      }
      if (!obj) {
        // Lost (evicted from a memory-only store) or removed behind our back.
        this.forget(key);
        this.counters.misses++;
        throw notFound(`object ${key} not found`);
      }
      this.counters.loads++;
      const fresh = statOf(obj, stat.modified);
      this.index.set(fresh);
      // A payload left on disk (FileBody) is streamed by the reader, never resident.
      if (obj.body.type === "file") return obj;
      this.resident.set(key, obj);
      stat.size = fresh.size;
    }
    this.lru.touch(key, stat.size);
    this.evict(key);
    return obj;
  }

  /** Metadata of one object, or null. */
  stat(key: string): ObjectStat | null {
    return this.lookup(key) ?? null;
  }

  /** Metadata of every object selected by `sel`, in key order (see _index.ts). Needs the whole index. */
  list(sel: KeySelector): ObjectStat[] {
    this.needIndex("list");
    return this.index.page(sel, undefined, Infinity);
  }

  /**
   * Up to `limit` objects selected by `sel` after the key `after` (exclusive), in key order: a listing
   * read page by page, so neither side holds all of it. Needs the whole index.
   */
  listPage(sel: KeySelector, after: string | undefined, limit: number): ObjectStat[] {
    this.needIndex("list");
    return this.index.page(sel, after, limit);
  }

  /** Objects and payload bytes per `app/session` (or two-part session). Needs the whole index. */
  groupTotals(): GroupTotals[] {
    this.needIndex("totals");
    return this.index.groupTotals();
  }

  /**
   * Delete the selected objects; returns how many were removed. An exact key works at any time; a
   * prefix needs the whole index (its keys' last versions are kept, so versions never go backwards).
   */
  delete(sel: KeySelector): number {
    if (sel.exact) this.lookup(sel.value);
    else this.needIndex("delete");
    const keys = [...this.index.keys(sel)];
    this.engine.remove(sel, keys);
    for (const key of keys) this.forget(key);
    this.counters.deletes += keys.length;
    return keys.length;
  }

  /** Resident payload bytes and objects, and indexed objects. */
  usage(): {
    residentBytes: number;
    residentObjects: number;
    objects: number;
    storedBytes: number;
    indexComplete: boolean;
  } {
    return {
      residentBytes: this.lru.bytes,
      residentObjects: this.lru.count,
      objects: this.index.size,
      storedBytes: this.index.totalBytes,
      indexComplete: this.indexComplete,
    };
  }

  /**
   * Release the engine (once it has flushed what it wrote behind its log); a complete index is handed
   * over for a snapshot (engines that keep one).
   */
  close(): void | Promise<void> {
    return this.engine.close(this.indexComplete ? this.index : undefined);
  }

  /** Throws UNAVAILABLE when the index is still loading (the store worker waits for it instead). */
  private needIndex(what: string): void {
    if (this.loadError !== undefined) {
      throw new CacheError(
        Status.INTERNAL,
        `${what} needs the whole index, which failed to load: ${this.loadError}`,
      );
    }
    if (!this.indexComplete) {
      throw new CacheError(Status.UNAVAILABLE, `${what} needs the whole index, which is still loading`);
    }
  }

  /** Metadata of `key` (a copy): from the index, else from the engine when stored but not indexed yet. */
  private lookup(key: string): ObjectStat | undefined {
    let stat = this.index.get(key);
    if (!stat) {
      stat = this.engine.probe(key) ?? undefined;
      if (stat) this.index.set(stat);
    }
    return stat;
  }

  private lastVersion(key: string): number {
    return this.lookup(key)?.version ?? this.tombstones.get(key) ?? 0;
  }

  private forget(key: string): void {
    const version = this.index.delete(key);
    if (version !== undefined) this.tombstones.set(key, version);
    this.resident.delete(key);
    this.lru.remove(key);
  }

  /** Forget objects the engine removed on its own (disk budget, quarantined damage). */
  private reap(): void {
    for (const key of this.engine.takeEvicted()) this.forget(key);
  }

  /** Drop least recently used payloads until within limits; `keep` is never dropped. */
  private evict(keep: string): void {
    if (this.limits.policy === "none") return;
    const { maxMemory, maxObjects } = this.limits;
    while (this.lru.bytes > maxMemory || this.lru.count > maxObjects) {
      const victim = this.lru.oldest();
      if (victim === undefined || (victim === keep && this.lru.count === 1)) break;
      if (victim === keep) {
        // Keep the object being served; it goes to the back of the queue.
        this.lru.touch(keep, this.index.get(keep)?.size ?? 0);
        continue;
      }
      this.lru.remove(victim);
      this.counters.evictions++;
      if (!this.index.has(victim)) continue;
      if (this.engine.persistent) this.resident.delete(victim);
      else this.forget(victim);
    }
  }
}
