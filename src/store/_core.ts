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
import { adoptsStagedUploads, type StorageEngine, writeEach } from "./engine.ts";
import {
  type Delta,
  type KeySelector,
  type ObjectBody,
  type ObjectStat,
  selects,
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

interface Entry {
  stat: ObjectStat;
  resident?: StoredObject;
}

/** Index + resident payloads + engine. */
export class CacheCore {
  private readonly index = new Map<string, Entry>();
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

  /** Rebuild the index from the engine; returns the engine's summary line. */
  open(): string {
    const { entries, summary } = this.engine.open();
    for (const stat of entries) this.index.set(stat.key, { stat });
    return summary;
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
    this.index.set(key, { stat, resident: obj });
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
    this.index.set(key, { stat });
    this.tombstones.delete(key);
    this.lru.remove(key);
    this.counters.puts++;
    return { ...stat };
  }

  /** Append a patch to an existing object; returns the new metadata. */
  patch(key: string, data: Uint8Array): ObjectStat {
    const entry = this.lookup(key);
    if (!entry) throw notFound(`object ${key} not found for patch`);
    const stat = entry.stat;
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
    this.counters.patches++;
    if (entry.resident) {
      entry.resident.deltas.push(delta);
      this.lru.touch(key, stat.size);
      this.evict(key);
    }
    return { ...stat };
  }

  /** The whole object (base + patches). NOT_FOUND when absent. */
  get(key: string): StoredObject {
    const entry = this.lookup(key);
    if (!entry) {
      this.counters.misses++;
      throw notFound(`object ${key} not found`);
    }
    let obj = entry.resident;
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
      entry.stat = statOf(obj, entry.stat.modified);
      // A payload left on disk (FileBody) is streamed by the reader, never resident.
      if (obj.body.type === "file") return obj;
      entry.resident = obj;
    }
    this.lru.touch(key, entry.stat.size);
    this.evict(key);
    return obj;
  }

  /** Metadata of one object, or null. */
  stat(key: string): ObjectStat | null {
    const entry = this.lookup(key);
    return entry ? { ...entry.stat } : null;
  }

  /** Metadata of every indexed object selected by `sel`, sorted by key. */
  list(sel: KeySelector): ObjectStat[] {
    const out: ObjectStat[] = [];
    for (const [key, entry] of this.index) if (selects(sel, key)) out.push({ ...entry.stat });
    out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return out;
  }

  /** Delete the selected objects; returns how many were removed. */
  delete(sel: KeySelector): number {
    const keys = [...this.index.keys()].filter((k) => selects(sel, k));
    this.engine.remove(sel, keys);
    for (const key of keys) this.forget(key);
    this.counters.deletes += keys.length;
    return keys.length;
  }

  /** Resident payload bytes and objects, and indexed objects. */
  usage(): { residentBytes: number; residentObjects: number; objects: number } {
    return { residentBytes: this.lru.bytes, residentObjects: this.lru.count, objects: this.index.size };
  }

  /** Release the engine (once it has flushed what it wrote behind its log). */
  close(): void | Promise<void> {
    return this.engine.close();
  }

  private lookup(key: string): Entry | undefined {
    let entry = this.index.get(key);
    if (!entry) {
      const stat = this.engine.probe(key);
      if (stat) {
        entry = { stat };
        this.index.set(key, entry);
      }
    }
    return entry;
  }

  private lastVersion(key: string): number {
    return this.lookup(key)?.stat.version ?? this.tombstones.get(key) ?? 0;
  }

  private forget(key: string): void {
    const entry = this.index.get(key);
    if (entry) this.tombstones.set(key, entry.stat.version);
    this.index.delete(key);
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
        this.lru.touch(keep, this.index.get(keep)!.stat.size);
        continue;
      }
      this.lru.remove(victim);
      this.counters.evictions++;
      const entry = this.index.get(victim);
      if (!entry) continue;
      if (this.engine.persistent) entry.resident = undefined;
      else this.forget(victim);
    }
  }
}
