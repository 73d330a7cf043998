/**
 * How the admin commands reach the server: endpoint from `--endpoint` (or the
 * configuration), credentials and TLS material from the environment, falling
 * back to what the server's own configuration file grants (so an operator on
 * the server host needs nothing extra):
 *
 * - `FLAME_CACHE_TOKEN`: bearer token; else the first token of `cache.auth`;
 *   else `FLAME_CACHE_USER` / `FLAME_CACHE_PASSWORD` (or the first `cache.auth`
 *   user) through the Flight Handshake.
 * - `FLAME_CA_FILE` (flamepy's variable): CA to verify a `grpc+tls` server; else
 *   `cache.tls.ca_file`; else the system roots.
 * - `FLAME_CACHE_CLIENT_CERT` / `FLAME_CACHE_CLIENT_KEY`: client certificate for
 *   mutual TLS.
 *
 * @module
 */
import type { Command } from "../config/mod.ts";
import { type ClientOptions, FlameCacheClient, type TlsOptions } from "../client/mod.ts";

/** The admin variant of {@link Command}. */
export type AdminCommand = Extract<Command, { name: "admin" }>;

function env(name: string): string | undefined {
  try {
    const v = Deno.env.get(name);
    return v === undefined || v.trim() === "" ? undefined : v.trim();
  } catch {
    return undefined; // no --allow-env
  }
}

/** TLS material for the endpoint (undefined for plain grpc://). */
function tlsOptions(cmd: AdminCommand): TlsOptions | undefined {
  if (!/^(grpc\+tls|grpcs):/i.test(cmd.endpoint)) return undefined;
  const tls: TlsOptions = {};
  const ca = env("FLAME_CA_FILE") ?? cmd.config.tls?.caFile;
  if (ca) tls.ca = Deno.readFileSync(ca);
  const cert = env("FLAME_CACHE_CLIENT_CERT");
  const key = env("FLAME_CACHE_CLIENT_KEY");
  if (cert && key) {
    tls.cert = Deno.readFileSync(cert);
    tls.key = Deno.readFileSync(key);
  }
  return tls;
}

/** Connect as configured; performs the Handshake when only a username/password is known. */
export async function connectAdmin(cmd: AdminCommand): Promise<FlameCacheClient> {
  const auth = cmd.config.auth;
  const options: ClientOptions = {
    cache: false,
    tls: tlsOptions(cmd),
    token: env("FLAME_CACHE_TOKEN") ?? auth?.tokens[0]?.token,
    connectTimeoutMs: 10_000,
  };
  const client = await FlameCacheClient.connect(cmd.endpoint, options);
  if (!options.token) {
    const user = env("FLAME_CACHE_USER") ?? auth?.users[0]?.username;
    const password = env("FLAME_CACHE_PASSWORD") ??
      auth?.users.find((u) => u.username === user)?.password ?? "";
    if (user) {
      try {
        await client.handshake(user, password, { timeoutMs: 10_000 });
      } catch (err) {
        await client.close();
        throw err;
      }
    }
  }
  return client;
}
