/**
 * Rendezvous (highest random weight) hashing: the owner of a key is the member whose hash of
 * (member id, key) is highest. When a member leaves, only its keys move (each to its runner-up); when one
 * joins, it takes about 1/N of the keys and nothing else moves. Every replica computes the same owner from
 * the same member list, with no coordination.
 *
 * The weight is a 53-bit two-lane multiply/xor-shift hash (the cyrb53 construction: two 32-bit lanes with
 * `Math.imul`, a murmur3-style avalanche at the end) over the member id, a NUL separator and the key, as
 * UTF-16 code units. It is fast (no BigInt, no allocation), deterministic across processes and platforms,
 * and well mixed, which rendezvous hashing needs for an even spread. It is not cryptographic; nothing here
 * needs that. Ties (practically impossible) go to the smaller member id so every replica agrees.
 *
 * Keys are `app/session` strings: everything of one session has one owner.
 *
 * @module
 */

/** The 53-bit rendezvous weight of `key` on `member`. Exported for tests and diagnostics. */
export function weight(member: string, key: string): number {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  const mix = (code: number) => {
    h1 = Math.imul(h1 ^ code, 2654435761);
    h2 = Math.imul(h2 ^ code, 1597334677);
  };
  for (let i = 0; i < member.length; i++) mix(member.charCodeAt(i));
  mix(0);
  for (let i = 0; i < key.length; i++) mix(key.charCodeAt(i));
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507);
  h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507);
  h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}

function better(aId: string, aWeight: number, bId: string, bWeight: number): boolean {
  return aWeight > bWeight || (aWeight === bWeight && aId < bId);
}

/** The member that owns `key`, or undefined when there are no members. */
export function owner(key: string, members: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestWeight = -1;
  for (const member of members) {
    const w = weight(member, key);
    if (best === undefined || better(member, w, best, bestWeight)) {
      best = member;
      bestWeight = w;
    }
  }
  return best;
}

/** All members ordered by preference for `key`: the owner first, then its successors. */
export function ranked(key: string, members: readonly string[]): string[] {
  return members
    .map((member) => ({ member, w: weight(member, key) }))
    .sort((
      a,
      b,
    ) => (better(a.member, a.w, b.member, b.w) ? -1 : better(b.member, b.w, a.member, a.w) ? 1 : 0))
    .map((entry) => entry.member);
}
