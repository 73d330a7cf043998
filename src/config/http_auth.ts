/**
 * Who may read the HTTP side port: `cache.http_auth` / `--http-auth` (`none` or
 * `token`) and `cache.metrics_token_file` (a token accepted on the side port
 * only, e.g. Prometheus' `bearer_token_file`).
 *
 * Default: `token` when auth is on and the side port listens beyond loopback
 * (it shows app and session names and the storage path), or when a metrics
 * token file is configured; otherwise `none`. `/healthz` always stays open.
 *
 * @module
 */
import { ConfigError, show } from "./errors.ts";
import { readableFile } from "./tls.ts";
import type { HostPort, HttpAuthConfig, HttpAuthMode } from "./types.ts";
import type { Sourced } from "./layer.ts";

/** Parse `none` or `token`. */
export function parseHttpAuthMode(text: string, key: string): HttpAuthMode {
  const v = text.trim().toLowerCase();
  if (v === "none" || v === "token") return v;
  throw new ConfigError(key, `invalid value ${show(text)} (expected none or token)`);
}

/** Read a metrics token file: one token (surrounding whitespace ignored). */
export function readMetricsTokenFile(path: string, key: string, cwd: string): string {
  const file = readableFile(path, key, cwd);
  const token = Deno.readTextFileSync(file).trim();
  if (token === "" || /\s/.test(token)) {
    throw new ConfigError(
      key,
      `${file} must hold exactly one token (got ${token === "" ? "none" : "several"})`,
    );
  }
  return token;
}

/** True for addresses only this machine can reach. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase();
  return h === "localhost" || h === "::1" || /^127\.\d+\.\d+\.\d+$/.test(h) || h === "::ffff:127.0.0.1";
}

/**
 * The side port's access rule from the merged settings.
 *
 * @throws {ConfigError} when `token` is asked for but no token could ever be accepted
 */
export function resolveHttpAuth(
  mode: Sourced<HttpAuthMode> | undefined,
  metricsToken: string | undefined,
  http: HostPort | undefined,
  authOn: boolean,
): HttpAuthConfig {
  const chosen = mode?.value ??
    (metricsToken !== undefined || (authOn && http !== undefined && !isLoopbackHost(http.host))
      ? "token"
      : "none");
  if (chosen === "token" && !authOn && metricsToken === undefined) {
    throw new ConfigError(
      mode?.key ?? "cache.http_auth",
      "token needs credentials: configure cache.auth or cache.metrics_token_file",
    );
  }
  return metricsToken !== undefined ? { mode: chosen, metricsToken } : { mode: chosen };
}
