/**
 * The HTTP side port's bearer-token check (`cache.http_auth: token`). Every
 * path except `/healthz` (and `/health`) needs `Authorization: Bearer <token>`,
 * where the token is any credential the Flight port accepts (static tokens,
 * Handshake tokens) or the side-port-only metrics token. This is what
 * Prometheus sends with `authorization: { credentials_file: ... }` or
 * `bearer_token_file`. Invalid tokens are rate limited per client address
 * like on the Flight port.
 *
 * @module
 */
import { timingSafeEqual } from "node:crypto";
import type { Authenticator } from "../auth/auth.ts";
import type { HttpAuthConfig } from "../config/mod.ts";
import { CacheError, Status } from "../errors.ts";

/** Paths that stay open: a load balancer's health probe carries no token, and they reveal nothing. */
export const OPEN_PATHS: ReadonlySet<string> = new Set(["/healthz", "/health"]);

/** Decides a request before it is served: a refusal to send, or undefined to serve it. */
export type SidePortGuard = (req: Request, peer: string) => Response | undefined;

const encoder = new TextEncoder();

function sameToken(a: string, b: string): boolean {
  const x = encoder.encode(a);
  const y = encoder.encode(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function refuse(status: number, message: string, extra: Record<string, string> = {}): Response {
  return new Response(message + "\n", {
    status,
    headers: {
      "content-type": "text/plain; charset=utf-8",
      "cache-control": "no-store",
      "www-authenticate": 'Bearer realm="flame-cache"',
      ...extra,
    },
  });
}

/** The guard for `config`, or undefined when the side port is open (`none`). */
export function sidePortGuard(
  config: HttpAuthConfig | undefined,
  authenticator: Authenticator | undefined,
): SidePortGuard | undefined {
  if (!config || config.mode === "none") return undefined;
  const metricsToken = config.metricsToken;
  return (req, peer) => {
    if (OPEN_PATHS.has(new URL(req.url).pathname)) return undefined;
    const header = req.headers.get("authorization");
    if (!header) return refuse(401, "authentication required: send 'Authorization: Bearer <token>'");
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (m && metricsToken !== undefined && sameToken(m[1], metricsToken)) return undefined;
    if (!authenticator) return refuse(401, "invalid token");
    try {
      authenticator.authenticate(header, peer);
      return undefined;
    } catch (err) {
      if (err instanceof CacheError && err.code === Status.RESOURCE_EXHAUSTED) {
        return refuse(429, err.message);
      }
      return refuse(401, err instanceof CacheError ? err.message : "invalid token");
    }
  };
}
