/**
 * Disk bytes per object in recency order, for the disk budget (`capacity`): the least recently read or
 * written object comes first.
 *
 * @module
 */

/** File bytes per key, least recently used first. */
export class DiskUsage {
  /** Map iteration order is insertion order: re-inserting a key makes it the most recent. */
  private readonly bytes = new Map<string, number>();
  /** Sum of all objects' file bytes. */
  total = 0;

  /**
   * @param enabled false when there is no disk budget: nothing is tracked, so a large store's index
   * does not pay a Map entry per object for it.
   */
  constructor(readonly enabled = true) {}

  /** Number of tracked objects. */
  get count(): number {
    return this.bytes.size;
  }

  /** True when `key` is tracked. */
  has(key: string): boolean {
    return this.bytes.has(key);
  }

  /** Bytes of `key`, if tracked. */
  get(key: string): number | undefined {
    return this.bytes.get(key);
  }

  /** Set the bytes of `key` and make it the most recent. */
  set(key: string, n: number): void {
    if (!this.enabled) return;
    this.drop(key);
    this.bytes.set(key, n);
    this.total += n;
  }

  /** Add `n` bytes to `key` (tracking it if new) and make it the most recent. */
  add(key: string, n: number): void {
    if (!this.enabled) return;
    const old = this.bytes.get(key);
    if (old !== undefined) this.bytes.delete(key);
    this.bytes.set(key, (old ?? 0) + n);
    this.total += n;
  }

  /** Make `key` the most recent (no-op when untracked). */
  touch(key: string): void {
    const n = this.bytes.get(key);
    if (n !== undefined) this.set(key, n);
  }

  /** Stop tracking `key`. */
  drop(key: string): void {
    const n = this.bytes.get(key);
    if (n === undefined) return;
    this.bytes.delete(key);
    this.total -= n;
  }

  /** Keys, least recently used first. */
  keys(): IterableIterator<string> {
    return this.bytes.keys();
  }
}
