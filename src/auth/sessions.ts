/**
 * Tokens issued by the Flight Handshake, kept per user: each user holds at most
 * `perUser` live tokens (a new login drops that user's oldest), and only
 * configured users can hold any, so memory is bounded by users × perUser no
 * matter how many handshakes arrive. Tokens expire after `ttlMs`.
 *
 * @module
 */
import type { Principal } from "./principal.ts";

interface Session {
  principal: Principal;
  expires: number;
}

/** Handshake-issued bearer tokens with a per-user cap and an expiry. */
export class SessionTokens {
  /** token -> session, for lookups. */
  private readonly byToken = new Map<string, Session>();
  /** username -> that user's tokens, oldest first (they all share one TTL, so also soonest to expire). */
  private readonly byUser = new Map<string, Set<string>>();

  constructor(
    private readonly perUser: number,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Issue a new random token for `principal`, dropping its expired tokens and, at the cap, its oldest. */
  issue(principal: Principal): string {
    const bytes = crypto.getRandomValues(new Uint8Array(32));
    const token = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    let mine = this.byUser.get(principal.name);
    if (!mine) this.byUser.set(principal.name, mine = new Set());
    const now = this.now();
    for (const old of mine) {
      const expired = (this.byToken.get(old)?.expires ?? 0) <= now;
      if (!expired && mine.size < this.perUser) break;
      mine.delete(old);
      this.byToken.delete(old);
    }
    mine.add(token);
    this.byToken.set(token, { principal, expires: now + this.ttlMs });
    return token;
  }

  /**
   * The principal of `token`: `undefined` when it was never issued or was
   * dropped, `"expired"` when its time is up (it is forgotten then).
   */
  lookup(token: string): Principal | "expired" | undefined {
    const s = this.byToken.get(token);
    if (!s) return undefined;
    if (s.expires > this.now()) return s.principal;
    this.byToken.delete(token);
    this.byUser.get(s.principal.name)?.delete(token);
    return "expired";
  }

  /** Live-or-not-yet-purged tokens of `username` (for tests and metrics). */
  countFor(username: string): number {
    return this.byUser.get(username)?.size ?? 0;
  }

  /** All tokens kept. */
  get size(): number {
    return this.byToken.size;
  }
}
