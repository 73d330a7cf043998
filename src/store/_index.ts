/**
 * The compact object index of the cache core: metadata of every stored object, about 100-130 bytes each
 * instead of a `Map` of `ObjectStat` objects (~700 bytes each).
 *
 * Keys are grouped by their parent (`app/session` for `app/session/object`, `session` for a two-part
 * key): each group maps its object names to slots, and the numbers live in typed arrays indexed by slot
 * (struct of arrays: version and size 8 bytes each, patches since the base, patch count 2 each, last write
 * in seconds 4, kind 1; the rows of native tables and unusual base versions in side maps). Groups are kept sorted by `parent + "/"` and a group sorts its names on demand
 * (cached until the group changes), so a prefix listing costs O(log groups + log names + k) and can be
 * read a page at a time after a cursor (the last key of the previous page).
 *
 * Order: keys come sorted within a group and groups in order of `parent + "/"`; that is the order of the
 * whole keys except where two-part and three-part keys share their first segment (`a/x` and `a/b/y`):
 * the two-part keys of `a` then come before all of `a/*`'s sessions.
 *
 * @module
 */
import type { KeySelector, ObjectStat } from "./types.ts";

/** Objects (count and payload bytes) of one group: an `app/session`, or the session of two-part keys. */
export interface GroupTotals {
  /** The group's parent: `app/session`, or `session` for two-part keys. */
  name: string;
  objects: number;
  bytes: number;
}

class Group {
  readonly slots = new Map<string, number>();
  /** Names in order, or null when it must be rebuilt. */
  sorted: string[] | null = null;
  bytes = 0;
  constructor(readonly parent: string) {}

  names(): string[] {
    if (!this.sorted) this.sorted = [...this.slots.keys()].sort(compare);
    return this.sorted;
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** First index in sorted `xs` whose value is not below `x` (`after`: strictly above). */
function lowerBound(xs: readonly string[], x: string, after = false): number {
  let lo = 0, hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (xs[mid] < x || (after && xs[mid] === x)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * `s` as a string of its own. V8 makes a slice of 13 or more characters a view of the whole string, so
 * an object name cut out of its key would keep the whole key alive for as long as it is indexed.
 */
function detach(s: string): string {
  if (s.length < 13) return s;
  const codes: number[] = new Array(s.length);
  for (let i = 0; i < s.length; i++) codes[i] = s.charCodeAt(i);
  return String.fromCharCode.apply(null, codes);
}

function split(key: string): [string, string] {
  const slash = key.lastIndexOf("/");
  return slash < 0 ? ["", key] : [key.slice(0, slash), key.slice(slash + 1)];
}

const KINDS = ["opaque", "native"] as const;
/** Marks a base version kept outside the arrays. */
const WIDE = 0xffff;

/** Metadata of every indexed object, by key. */
export class ObjectIndex {
  private readonly groups = new Map<string, Group>();
  /** Group parents + "/", sorted; null when it must be rebuilt. */
  private order: string[] | null = null;
  private capacity = 0;
  private used = 0;
  private readonly free: number[] = [];
  private version = new Float64Array(0);
  /** version - baseVersion (patches since the base), {@link WIDE} when it is kept in {@link wideBase}. */
  private sinceBase = new Uint16Array(0);
  private bytes = new Float64Array(0);
  /** Last write in seconds since the epoch (only the disk budget's start-up order uses it). */
  private modifiedS = new Uint32Array(0);
  private deltas = new Uint16Array(0);
  /** 0 opaque (1 row), 1 native (rows in {@link nativeRows}). */
  private kind = new Uint8Array(0);
  /** Rows of native tables, by slot (opaque objects are always 1 row). */
  private readonly nativeRows = new Map<number, number>();
  /** Base versions too far below the version for {@link sinceBase}, by slot. */
  private readonly wideBase = new Map<number, number>();
  /** Number of indexed objects. */
  size = 0;
  /** Sum of the payload sizes of all indexed objects. */
  totalBytes = 0;

  /** True when `key` is indexed. */
  has(key: string): boolean {
    const [parent, name] = split(key);
    return this.groups.get(parent)?.slots.has(name) ?? false;
  }

  /** True when some key has the parent `parent` (`app/session`). */
  hasGroup(parent: string): boolean {
    return this.groups.has(parent);
  }

  /** Metadata of `key`, or undefined. */
  get(key: string): ObjectStat | undefined {
    const [parent, name] = split(key);
    const slot = this.groups.get(parent)?.slots.get(name);
    return slot === undefined ? undefined : this.statAt(slot, key);
  }

  /** Add or replace the metadata of `stat.key`. */
  set(stat: ObjectStat): void {
    const [parent, name] = split(stat.key);
    let group = this.groups.get(parent);
    if (!group) {
      group = new Group(parent);
      this.groups.set(parent, group);
      this.order = null;
    }
    let slot = group.slots.get(name);
    if (slot === undefined) {
      slot = this.allocate();
      group.slots.set(detach(name), slot);
      group.sorted = null;
      this.size++;
    } else {
      group.bytes -= this.bytes[slot];
      this.totalBytes -= this.bytes[slot];
    }
    this.version[slot] = stat.version;
    const since = stat.version - stat.baseVersion;
    if (since >= 0 && since < WIDE && Number.isInteger(since)) {
      this.sinceBase[slot] = since;
      this.wideBase.delete(slot);
    } else {
      this.sinceBase[slot] = WIDE;
      this.wideBase.set(slot, stat.baseVersion);
    }
    this.bytes[slot] = stat.size;
    this.modifiedS[slot] = Math.max(0, Math.min(0xffffffff, Math.floor(stat.modified / 1000)));
    this.deltas[slot] = Math.min(stat.deltaCount, 0xffff);
    if (stat.kind === "native") {
      this.kind[slot] = 1;
      this.nativeRows.set(slot, stat.rows);
    } else {
      this.kind[slot] = 0;
      this.nativeRows.delete(slot);
    }
    group.bytes += stat.size;
    this.totalBytes += stat.size;
  }

  /** Remove `key`; returns its last version, or undefined when it was not indexed. */
  delete(key: string): number | undefined {
    const [parent, name] = split(key);
    const group = this.groups.get(parent);
    const slot = group?.slots.get(name);
    if (group === undefined || slot === undefined) return undefined;
    group.slots.delete(name);
    group.sorted = null;
    group.bytes -= this.bytes[slot];
    this.totalBytes -= this.bytes[slot];
    this.size--;
    this.free.push(slot);
    this.nativeRows.delete(slot);
    this.wideBase.delete(slot);
    if (group.slots.size === 0) {
      this.groups.delete(parent);
      this.order = null;
    }
    return this.version[slot];
  }

  /**
   * Up to `limit` objects selected by `sel`, in order, after the key `after` (exclusive; from the start
   * when absent). A page shorter than `limit` is the last.
   */
  page(sel: KeySelector, after: string | undefined, limit: number): ObjectStat[] {
    const out: ObjectStat[] = [];
    for (const key of this.keys(sel, after)) {
      out.push(this.get(key)!);
      if (out.length >= limit) break;
    }
    return out;
  }

  /** Every selected key in order (after `after`, exclusive). Do not change the index while iterating. */
  *keys(sel: KeySelector, after?: string): Generator<string> {
    if (sel.exact) {
      if (this.has(sel.value) && (after === undefined || sel.value > after)) yield sel.value;
      return;
    }
    const v = sel.value;
    // The key equal to the prefix (a two-part key `app/session`) sorts before everything under it.
    if (v !== "" && this.has(v) && (after === undefined || v > after)) yield v;
    const order = this.sortedParents();
    const from = v === "" ? "" : v + "/";
    let gi = lowerBound(order, from);
    const [afterParent, afterName] = after === undefined ? ["", ""] : split(after);
    if (after !== undefined) gi = Math.max(gi, lowerBound(order, afterParent + "/"));
    for (; gi < order.length; gi++) {
      const p = order[gi];
      if (v !== "" && !p.startsWith(from)) break;
      const parent = p.slice(0, -1);
      const group = this.groups.get(parent)!;
      const names = group.names();
      let ni = after !== undefined && parent === afterParent ? lowerBound(names, afterName, true) : 0;
      for (; ni < names.length; ni++) yield parent === "" ? names[ni] : `${parent}/${names[ni]}`;
    }
  }

  /** Copy the metadata of `name` under `parent` into `into` (no allocation); false when absent. */
  read(parent: string, name: string, into: ObjectStat): boolean {
    const slot = this.groups.get(parent)?.slots.get(name);
    if (slot === undefined) return false;
    into.version = this.version[slot];
    into.baseVersion = this.baseVersionAt(slot);
    into.size = this.bytes[slot];
    into.rows = this.kind[slot] === 1 ? this.nativeRows.get(slot) ?? 0 : 1;
    into.modified = this.modifiedS[slot] * 1000;
    into.deltaCount = this.deltas[slot];
    into.kind = KINDS[this.kind[slot]];
    return true;
  }

  /** Every group's parent and its object names in order (for the engine's snapshot). */
  *groupNames(): Generator<[string, readonly string[]]> {
    for (const g of this.groups.values()) yield [g.parent, g.names()];
  }

  /** Objects and payload bytes per group, for the status page. */
  groupTotals(): GroupTotals[] {
    const out: GroupTotals[] = [];
    for (const g of this.groups.values()) out.push({ name: g.parent, objects: g.slots.size, bytes: g.bytes });
    return out;
  }

  private sortedParents(): string[] {
    if (!this.order) this.order = [...this.groups.keys()].map((p) => p + "/").sort(compare);
    return this.order;
  }

  private statAt(slot: number, key: string): ObjectStat {
    return {
      key,
      version: this.version[slot],
      baseVersion: this.baseVersionAt(slot),
      size: this.bytes[slot],
      deltaCount: this.deltas[slot],
      kind: KINDS[this.kind[slot]],
      rows: this.kind[slot] === 1 ? this.nativeRows.get(slot) ?? 0 : 1,
      modified: this.modifiedS[slot] * 1000,
    };
  }

  private baseVersionAt(slot: number): number {
    const since = this.sinceBase[slot];
    return since === WIDE ? this.wideBase.get(slot) ?? 0 : this.version[slot] - since;
  }

  private allocate(): number {
    const reused = this.free.pop();
    if (reused !== undefined) return reused;
    if (this.used === this.capacity) this.grow(Math.max(1024, Math.ceil(this.capacity * 1.5)));
    return this.used++;
  }

  private grow(n: number): void {
    const f64 = (a: Float64Array) => {
      const b = new Float64Array(n);
      b.set(a);
      return b;
    };
    this.version = f64(this.version);
    this.bytes = f64(this.bytes);
    const u16 = (a: Uint16Array) => {
      const b = new Uint16Array(n);
      b.set(a);
      return b;
    };
    this.sinceBase = u16(this.sinceBase);
    this.deltas = u16(this.deltas);
    const m = new Uint32Array(n);
    m.set(this.modifiedS);
    this.modifiedS = m;
    const k = new Uint8Array(n);
    k.set(this.kind);
    this.kind = k;
    this.capacity = n;
  }
}
