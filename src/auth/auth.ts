/**
 * Authentication and per-app authorization (off unless `cache.auth` is set,
 * so flamepy 0.6.0 works unchanged).
 *
 * Credentials: static bearer tokens (file / environment variable) and
 * username/password users who trade Basic credentials for a bearer token with
 * the Flight Handshake. Every other call carries `authorization: Bearer <t>`.
 * A credential may be limited to some apps (the first key segment).
 *
 * Tokens are compared in constant time and never logged.
 *
 * @module
 */
import { timingSafeEqual } from "node:crypto";
import type { AuthConfig } from "../config/mod.ts";
import { CacheError, Status } from "../errors.ts";

/** Who is calling, and which apps they may touch (undefined = all). */
export interface Principal {
  name: string;
  apps?: ReadonlySet<string>;
}

/** How long a token issued by Handshake stays valid. */
export const SESSION_TOKEN_TTL_MS = 12 * 3600 * 1000;
/** Most handshake-issued tokens kept at once (oldest dropped first). */
const MAX_SESSION_TOKENS = 100_000;

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

/** Checks credentials and app scopes. */
export class Authenticator {
  private readonly sessions = new Map<string, { principal: Principal; expires: number }>();

  constructor(private readonly config: AuthConfig) {}

  /** The principal for an `authorization` header value; UNAUTHENTICATED otherwise. */
  authenticate(header: string | undefined): Principal {
    if (!header) throw unauthenticated("authentication required: send 'authorization: Bearer <token>'");
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!m) {
      throw unauthenticated(
        "unsupported authorization scheme: use 'Bearer <token>' (Basic only on Handshake)",
      );
    }
    const token = m[1];
    const session = this.sessions.get(token);
    if (session) {
      if (session.expires > Date.now()) return session.principal;
      this.sessions.delete(token);
      throw unauthenticated("token expired: handshake again");
    }
    for (const t of this.config.tokens) {
      if (sameSecret(t.token, token)) return { name: t.name, apps: t.apps ? new Set(t.apps) : undefined };
    }
    throw unauthenticated("invalid token");
  }

  /** Check a username/password and issue a session token. */
  login(username: string, password: string): { token: string; principal: Principal } {
    let found: Principal | undefined;
    for (const u of this.config.users) {
      // Check every user so timing does not reveal which names exist.
      if (sameSecret(u.username, username) && sameSecret(u.password, password)) {
        found = { name: u.username, apps: u.apps ? new Set(u.apps) : undefined };
      }
    }
    if (!found) throw unauthenticated("invalid username or password");
    const bytes = crypto.getRandomValues(new Uint8Array(32));
    const token = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    if (this.sessions.size >= MAX_SESSION_TOKENS) {
      const oldest = this.sessions.keys().next().value;
      if (oldest !== undefined) this.sessions.delete(oldest);
    }
    this.sessions.set(token, { principal: found, expires: Date.now() + SESSION_TOKEN_TTL_MS });
    return { token, principal: found };
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
