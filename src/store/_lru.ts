/**
 * Least-recently-used bookkeeping of resident payloads: O(1) touch and
 * eviction using a Map's insertion order.
 *
 * @module
 */

/** Tracks resident keys, their sizes and their recency. */
export class Lru {
  private readonly sizes = new Map<string, number>();
  /** Sum of tracked sizes. */
  bytes = 0;

  /** Number of tracked keys. */
  get count(): number {
    return this.sizes.size;
  }

  /** Mark `key` most recently used with the given size. */
  touch(key: string, size: number): void {
    const old = this.sizes.get(key);
    if (old !== undefined) {
      this.bytes -= old;
      this.sizes.delete(key);
    }
    this.sizes.set(key, size);
    this.bytes += size;
  }

  /** Stop tracking `key`. */
  remove(key: string): void {
    const old = this.sizes.get(key);
    if (old === undefined) return;
    this.bytes -= old;
    this.sizes.delete(key);
  }

  /** True when tracked. */
  has(key: string): boolean {
    return this.sizes.has(key);
  }

  /** The least recently used key, if any. */
  oldest(): string | undefined {
    for (const k of this.sizes.keys()) return k;
    return undefined;
  }
}
