/**
 * Authentication and per-app authorization (off unless `cache.auth` is set,
 * so flamepy 0.6.0 works unchanged).
 *
 * Credentials: static bearer tokens (file / environment variable) and
 * username/password users who trade Basic credentials for a bearer token with
 * the Flight Handshake. Every other call carries `authorization: Bearer <t>`.
 * A credential may be limited to some apps (the first key segment).
 *
 * Tokens are compared in constant time and never logged. Handshake tokens are
 * kept per user with a cap (sessions.ts); Handshakes and failed credentials are
 * rate limited per client address and per username (rate_limit.ts).
 *
 * @module
 */
import { timingSafeEqual } from "node:crypto";
import type { AuthConfig } from "../config/mod.ts";
import { CacheError, Status } from "../errors.ts";
import { addressKey, type BucketSpec, KeyedBuckets } from "./rate_limit.ts";
import { SessionTokens } from "./sessions.ts";

import type { Principal } from "./principal.ts";

export type { Principal };

/** How long a token issued by Handshake stays valid. */
export const SESSION_TOKEN_TTL_MS = 12 * 3600 * 1000;
/** Default `cache.auth.tokens_per_user`: live Handshake tokens one user may hold (their oldest is dropped). */
export const DEFAULT_TOKENS_PER_USER = 1024;

/**
 * Rate limits of authentication, as token buckets (per second, burst). The
 * burst lets a fleet of workers start at once; the rate bounds a flood.
 * Failed logins are limited much harder: they are how passwords are guessed.
 */
export const AUTH_LIMITS: {
  handshakePerAddress: BucketSpec;
  handshakePerUser: BucketSpec;
  failedLoginPerAddress: BucketSpec;
  failedLoginPerUser: BucketSpec;
  failedBearerPerAddress: BucketSpec;
  /** Client addresses tracked at once (least recently seen forgotten first). */
  maxAddresses: number;
} = {
  handshakePerAddress: { perSecond: 50, burst: 200 },
  handshakePerUser: { perSecond: 50, burst: 500 },
  failedLoginPerAddress: { perSecond: 1, burst: 10 },
  failedLoginPerUser: { perSecond: 1, burst: 10 },
  failedBearerPerAddress: { perSecond: 10, burst: 50 },
  maxAddresses: 10_000,
};

const encoder = new TextEncoder();

function sameSecret(a: string, b: string): boolean {
  const x = encoder.encode(a);
  const y = encoder.encode(b);
  // Compare equal-length buffers so timing does not reveal the length either.
  const len = Math.max(x.length, y.length, 1);
  const xa = new Uint8Array(len);
  const ya = new Uint8Array(len);
  xa.set(x);
  ya.set(y);
  return timingSafeEqual(xa, ya) && x.length === y.length;
}

const unauthenticated = (msg: string) => new CacheError(Status.UNAUTHENTICATED, msg);

function tooMany(what: string, seconds: number): CacheError {
  return new CacheError(Status.RESOURCE_EXHAUSTED, `too many ${what}; retry in ${Math.max(1, seconds)} s`);
}

/** Options of {@link Authenticator} (tests shorten the limits and the clock). */
export interface AuthenticatorOptions {
  limits?: typeof AUTH_LIMITS;
  now?: () => number;
}

/** Unknown usernames share one rate-limit bucket, so guessing names cannot grow memory. */
const UNKNOWN_USER = "\0unknown";

/** Checks credentials and app scopes, with per-user Handshake tokens and rate limits. */
export class Authenticator {
  private readonly sessions: SessionTokens;
  private readonly handshakesByAddress: KeyedBuckets;
  private readonly handshakesByUser: KeyedBuckets;
  private readonly failedLoginsByAddress: KeyedBuckets;
  private readonly failedLoginsByUser: KeyedBuckets;
  private readonly failedBearersByAddress: KeyedBuckets;

  constructor(private readonly config: AuthConfig, options: AuthenticatorOptions = {}) {
    const limits = options.limits ?? AUTH_LIMITS;
    const now = options.now ?? Date.now;
    const users = config.users.length + 1;
    this.sessions = new SessionTokens(
      config.tokensPerUser ?? DEFAULT_TOKENS_PER_USER,
      SESSION_TOKEN_TTL_MS,
      now,
    );
    this.handshakesByAddress = new KeyedBuckets(limits.handshakePerAddress, limits.maxAddresses, now);
    this.handshakesByUser = new KeyedBuckets(limits.handshakePerUser, users, now);
    this.failedLoginsByAddress = new KeyedBuckets(limits.failedLoginPerAddress, limits.maxAddresses, now);
    this.failedLoginsByUser = new KeyedBuckets(limits.failedLoginPerUser, users, now);
    this.failedBearersByAddress = new KeyedBuckets(limits.failedBearerPerAddress, limits.maxAddresses, now);
  }

  /**
   * The principal for an `authorization` header value; UNAUTHENTICATED otherwise.
   * With `peer`, invalid tokens count against that address, and an address
   * that sent too many gets RESOURCE_EXHAUSTED before its token is looked at.
   */
  authenticate(header: string | undefined, peer?: string): Principal {
    if (!header) throw unauthenticated("authentication required: send 'authorization: Bearer <token>'");
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!m) {
      throw unauthenticated(
        "unsupported authorization scheme: use 'Bearer <token>' (Basic only on Handshake)",
      );
    }
    const address = peer === undefined ? undefined : addressKey(peer);
    if (address !== undefined && this.failedBearersByAddress.available(address) < 1) {
      throw tooMany(
        `invalid tokens from ${address}`,
        this.failedBearersByAddress.retryAfterSeconds(address),
      );
    }
    const token = m[1];
    const session = this.sessions.lookup(token);
    if (session === "expired") throw unauthenticated("token expired: handshake again");
    if (session) return session;
    for (const t of this.config.tokens) {
      if (sameSecret(t.token, token)) return { name: t.name, apps: t.apps ? new Set(t.apps) : undefined };
    }
    if (address !== undefined) this.failedBearersByAddress.take(address);
    throw unauthenticated("invalid token");
  }

  /**
   * Check a username/password and issue a session token. Rate limited per
   * client address (`peer`, as the transport writes it) and per username:
   * Handshakes at {@link AUTH_LIMITS}.handshake*, failed ones much harder;
   * over a limit the answer is RESOURCE_EXHAUSTED and the password is not checked.
   */
  login(username: string, password: string, peer = "unknown"): { token: string; principal: Principal } {
    let found: Principal | undefined;
    let known = false;
    for (const u of this.config.users) {
      // Check every user so timing does not reveal which names exist.
      const sameName = sameSecret(u.username, username);
      known ||= sameName;
      if (sameName && sameSecret(u.password, password)) {
        found = { name: u.username, apps: u.apps ? new Set(u.apps) : undefined };
      }
    }
    const address = addressKey(peer);
    const user = known ? username : UNKNOWN_USER;
    if (!this.handshakesByAddress.take(address)) {
      throw tooMany(`handshakes from ${address}`, this.handshakesByAddress.retryAfterSeconds(address));
    }
    if (!this.handshakesByUser.take(user)) {
      throw tooMany("handshakes for this user", this.handshakesByUser.retryAfterSeconds(user));
    }
    if (this.failedLoginsByAddress.available(address) < 1) {
      throw tooMany(
        `failed logins from ${address}`,
        this.failedLoginsByAddress.retryAfterSeconds(address),
      );
    }
    if (this.failedLoginsByUser.available(user) < 1) {
      throw tooMany("failed logins for this user", this.failedLoginsByUser.retryAfterSeconds(user));
    }
    if (!found) {
      this.failedLoginsByAddress.take(address);
      this.failedLoginsByUser.take(user);
      throw unauthenticated("invalid username or password");
    }
    return { token: this.sessions.issue(found), principal: found };
  }

  /** Live Handshake tokens kept for `username` (bounded by `cache.auth.tokens_per_user`). */
  tokensOf(username: string): number {
    return this.sessions.countFor(username);
  }

  /** Decode `Basic base64(user:pass)`; null when the header is not Basic. */
  static parseBasic(header: string | undefined): { username: string; password: string } | null {
    const m = header ? /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header) : null;
    if (!m) return null;
    let text: string;
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(
        Uint8Array.from(atob(m[1]), (c) => c.charCodeAt(0)),
      );
    } catch {
      throw unauthenticated("malformed Basic credentials");
    }
    const colon = text.indexOf(":");
    if (colon < 0) throw unauthenticated("malformed Basic credentials");
    return { username: text.slice(0, colon), password: text.slice(colon + 1) };
  }
}

/** PERMISSION_DENIED unless `principal` may use `app`. */
export function authorizeApp(principal: Principal | undefined, app: string, what: string): void {
  if (!principal?.apps || principal.apps.has(app)) return;
  throw new CacheError(
    Status.PERMISSION_DENIED,
    `${principal.name} may not access '${what}': allowed apps are ${[...principal.apps].join(", ")}`,
  );
}

/** True when `principal` may see keys of `app` (for listings). */
export function mayAccess(principal: Principal | undefined, app: string): boolean {
  return !principal?.apps || principal.apps.has(app);
}
