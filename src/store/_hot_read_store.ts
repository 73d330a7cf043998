/**
 * A small read cache on the network thread, in front of the worker store: gets
 * of small, hot objects are answered without the worker round trip (about
 * 0.1 ms per call), which dominates the cost of 1 KiB reads.
 *
 * Coherence: every write goes through this thread, so a write drops the cached
 * entries it touches (before and after it runs), and a get result is cached
 * only if no write of that key (or a delete selecting it) started or ran while
 * the get was in flight. Writes of other keys do not matter: with durable puts
 * in flight most of the time (a mixed load), a cache that waited for no write at
 * all never filled, and its gets queued behind the flushes in the worker.
 *
 * @module
 */
import { listPageOf, type Store, type StoreUsage } from "./store.ts";
import type { GroupTotals } from "./_index.ts";
import {
  type KeySelector,
  type ObjectBody,
  type ObjectStat,
  selects,
  type StagedPayload,
  type StoredObject,
} from "./types.ts";

/** Limits of the hot read cache. */
export interface HotReadOptions {
  /** Largest object cached (payload bytes, base + patches). */
  maxObjectBytes: number;
  /** Total payload bytes cached. */
  maxBytes: number;
}

/** Default: objects up to 64 KiB, 64 MiB in total. */
export const HOT_READ_DEFAULTS: HotReadOptions = { maxObjectBytes: 64 * 1024, maxBytes: 64 * 1024 * 1024 };

function payloadBytes(obj: StoredObject): number {
  const b = obj.body;
  let n = b.type === "opaque" ? b.data.length : b.type === "file" ? Infinity : 0;
  if (b.type === "native") { for (const m of b.messages) n += m.body.length + m.header.length; }
  for (const d of obj.deltas) n += d.data.length;
  return n;
}

/** A {@link Store} that answers gets of small hot objects itself and forwards the rest to `inner`. */
export class HotReadStore implements Store {
  private readonly entries = new Map<string, { obj: StoredObject; bytes: number }>();
  private bytes = 0;
  /** Writes in flight per key (entries removed at 0). */
  private readonly writing = new Map<string, number>();
  /** Prefix deletes in flight (they may touch any key they select). */
  private readonly deleting: KeySelector[] = [];
  /** Gets in flight per key, each with a flag a write of the key sets (its result is then not cached). */
  private readonly reading = new Map<string, { stale: boolean }[]>();
  /** Gets answered here, without the worker. */
  hits = 0;

  constructor(
    private readonly inner: Store,
    private readonly options: HotReadOptions = HOT_READ_DEFAULTS,
  ) {}

  open(): Promise<string> {
    return this.inner.open();
  }

  async get(key: string): Promise<StoredObject> {
    const hit = this.entries.get(key);
    if (hit) {
      this.entries.delete(key); // refresh recency
      this.entries.set(key, hit);
      this.hits++;
      return hit.obj;
    }
    const token = { stale: this.busy(key) };
    const list = this.reading.get(key);
    if (list) list.push(token);
    else this.reading.set(key, [token]);
    try {
      const obj = await this.inner.get(key);
      // Cache only if no write may have changed the key meanwhile.
      if (!token.stale && !this.busy(key)) this.remember(key, obj);
      return obj;
    } finally {
      const l = this.reading.get(key)!;
      l.splice(l.indexOf(token), 1);
      if (l.length === 0) this.reading.delete(key);
    }
  }

  put(key: string, body: ObjectBody | StagedPayload): Promise<ObjectStat> {
    return this.write([key], () => this.inner.put(key, body));
  }

  patch(key: string, data: Uint8Array): Promise<ObjectStat> {
    return this.write([key], () => this.inner.patch(key, data));
  }

  async delete(sel: KeySelector): Promise<number> {
    if (sel.exact) return this.write([sel.value], () => this.inner.delete(sel));
    this.deleting.push(sel);
    const touched = () =>
      [...new Set([...this.entries.keys(), ...this.reading.keys()])].filter((k) => selects(sel, k));
    try {
      return await this.write(touched(), () => this.inner.delete(sel));
    } finally {
      this.deleting.splice(this.deleting.indexOf(sel), 1);
      for (const k of touched()) this.forget(k);
    }
  }

  stat(key: string): Promise<ObjectStat | null> {
    return this.inner.stat(key);
  }

  list(sel: KeySelector): Promise<ObjectStat[]> {
    return this.inner.list(sel);
  }

  listPage(sel: KeySelector, after: string | undefined, limit: number): Promise<ObjectStat[]> {
    return this.inner.listPage
      ? this.inner.listPage(sel, after, limit)
      : listPageOf(this.inner, sel, after, limit);
  }

  groupTotals(): Promise<GroupTotals[]> {
    return this.inner.groupTotals
      ? this.inner.groupTotals()
      : this.inner.list({ value: "", exact: false }).then(totalsOf);
  }

  indexed(): Promise<string> {
    return this.inner.indexed ? this.inner.indexed() : Promise.resolve("");
  }

  async usage(): Promise<StoreUsage> {
    const u = await this.inner.usage();
    // Gets answered here are cache hits too (the worker never saw them).
    const counters = { ...u.counters, hits: (u.counters.hits ?? 0) + this.hits };
    return { ...u, counters: { ...counters, hotHits: this.hits, hotObjects: this.entries.size } };
  }

  close(): Promise<void> {
    this.entries.clear();
    return this.inner.close();
  }

  /** True while a write of `key` (or a prefix delete selecting it) is in flight. */
  private busy(key: string): boolean {
    return this.writing.has(key) || this.deleting.some((sel) => selects(sel, key));
  }

  private async write<T>(keys: string[], op: () => Promise<T>): Promise<T> {
    for (const k of keys) {
      this.writing.set(k, (this.writing.get(k) ?? 0) + 1);
      this.forget(k);
    }
    try {
      return await op();
    } finally {
      for (const k of keys) {
        this.forget(k);
        const n = this.writing.get(k)! - 1;
        if (n === 0) this.writing.delete(k);
        else this.writing.set(k, n);
      }
    }
  }

  private forget(key: string): void {
    for (const token of this.reading.get(key) ?? []) token.stale = true;
    const e = this.entries.get(key);
    if (e) {
      this.bytes -= e.bytes;
      this.entries.delete(key);
    }
  }

  private remember(key: string, obj: StoredObject): void {
    const bytes = payloadBytes(obj);
    if (bytes > this.options.maxObjectBytes) return;
    this.entries.set(key, { obj, bytes });
    this.bytes += bytes;
    while (this.bytes > this.options.maxBytes) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.bytes -= this.entries.get(oldest)!.bytes;
      this.entries.delete(oldest);
    }
  }
}

/** Objects and bytes per parent (`app/session`) of a listing. */
function totalsOf(stats: ObjectStat[]): GroupTotals[] {
  const groups = new Map<string, GroupTotals>();
  for (const s of stats) {
    const name = s.key.slice(0, Math.max(0, s.key.lastIndexOf("/")));
    let g = groups.get(name);
    if (!g) groups.set(name, g = { name, objects: 0, bytes: 0 });
    g.objects++;
    g.bytes += s.size;
  }
  return [...groups.values()];
}
