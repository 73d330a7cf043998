/**
 * Token buckets keyed by client address or username, for the Handshake and
 * failed-authentication rate limits. The number of buckets kept is bounded, so
 * a flood from many addresses cannot grow memory without limit.
 *
 * @module
 */

/** Refill rate and burst size of one kind of bucket. */
export interface BucketSpec {
  /** Tokens added per second. */
  perSecond: number;
  /** Bucket size: how many requests may come at once after a quiet period. */
  burst: number;
}

interface Bucket {
  tokens: number;
  updated: number;
}

/**
 * Token buckets by key. A key's bucket starts full; each `take` removes one
 * token; tokens come back at `perSecond`. At most `maxKeys` buckets are kept:
 * beyond that the least recently used one is forgotten (it was either full
 * again or belongs to an address that stopped sending).
 */
export class KeyedBuckets {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly spec: BucketSpec,
    private readonly maxKeys: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Tokens left for `key` now (a fresh key has a full bucket). */
  available(key: string): number {
    const b = this.buckets.get(key);
    if (!b) return this.spec.burst;
    return Math.min(this.spec.burst, b.tokens + ((this.now() - b.updated) / 1000) * this.spec.perSecond);
  }

  /** Remove one token for `key`; false (and nothing removed) when the bucket is empty. */
  take(key: string): boolean {
    const tokens = this.available(key);
    if (tokens < 1) return false;
    this.buckets.delete(key); // re-insert: Map order is least recently used first
    this.buckets.set(key, { tokens: tokens - 1, updated: this.now() });
    if (this.buckets.size > this.maxKeys) {
      const oldest = this.buckets.keys().next().value;
      if (oldest !== undefined) this.buckets.delete(oldest);
    }
    return true;
  }

  /** Seconds until `key` has a token again (0 when it has one now). */
  retryAfterSeconds(key: string): number {
    const missing = 1 - this.available(key);
    return missing <= 0 ? 0 : Math.ceil(missing / this.spec.perSecond);
  }

  /** Buckets currently kept (for tests: bounded by `maxKeys`). */
  get size(): number {
    return this.buckets.size;
  }
}

/**
 * The rate-limit key of a peer address (`host:port`, `[v6]:port` or `v6:port`, as the transport writes it):
 * the IPv4 address, or the /64 prefix of an IPv6 address (one host usually owns
 * a whole /64, so limiting single IPv6 addresses would limit nothing).
 */
export function addressKey(peer: string): string {
  // The transport formats peers as `${host}:${port}` with IPv6 hosts unbracketed.
  const bracket = /^\[([^\]]+)\](?::\d+)?$/.exec(peer);
  const host = bracket ? bracket[1] : /:\d+$/.test(peer) ? peer.slice(0, peer.lastIndexOf(":")) : peer;
  if (host.startsWith("::ffff:") && host.includes(".")) return host.slice(7);
  if (!host.includes(":")) return host;
  // Expand "::" and keep the first four groups.
  const [head, tail = ""] = host.split("::");
  const h = head === "" ? [] : head.split(":");
  const t = host.includes("::") ? (tail === "" ? [] : tail.split(":")) : [];
  const groups = [...h, ...Array(Math.max(0, 8 - h.length - t.length)).fill("0"), ...t];
  return groups.slice(0, 4).map((g) => g.toLowerCase().replace(/^0+(?=.)/, "")).join(":") + "::/64";
}
