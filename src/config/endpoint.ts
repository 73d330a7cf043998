/**
 * Endpoint URIs, HOST:PORT pairs, network-interface lookup, and how the bind address and the advertised endpoint
 * are derived from them.
 *
 * @module
 */
import { isIP } from "node:net";
import type { networkInterfaces } from "node:os";
import { ConfigError, show } from "./errors.ts";
import type { Sourced } from "./layer.ts";
import type { HostPort } from "./types.ts";

/** The result of `node:os` `networkInterfaces()`; injectable for tests. */
export type Interfaces = ReturnType<typeof networkInterfaces>;

/** Advertised scheme: plaintext or TLS. */
export type Scheme = "grpc" | "grpc+tls";

/** A parsed endpoint URI. `host` (unbracketed) and `port` are absent when the URI leaves them out. */
export interface EndpointSpec {
  scheme: Scheme;
  host?: string;
  port?: number;
}

/** Default port of the cache server. */
export const DEFAULT_PORT = 9090;

/** Advertised host when nothing better is known. */
export const DEFAULT_HOST = "127.0.0.1";

const SCHEMES: Record<string, Scheme> = {
  grpc: "grpc",
  "grpc+tcp": "grpc",
  http: "grpc",
  grpcs: "grpc+tls",
  "grpc+tls": "grpc+tls",
  https: "grpc+tls",
};

const HOSTNAME_RE = /^[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?$/;
const IPV6_RE = /^[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*(%[A-Za-z0-9_.-]+)?$/;

/** True for the "any address" hosts `0.0.0.0` and `::`, which can be bound but not advertised. */
export function isUnspecifiedHost(host: string): boolean {
  return host === "0.0.0.0" || host === "::" || host === "0:0:0:0:0:0:0:0";
}

/** Bracket IPv6 hosts for use in a URI or HOST:PORT (`::1` → `[::1]`); other hosts are returned unchanged. */
export function formatHost(host: string): string {
  return host.includes(":") ? `[${host}]` : host;
}

/** Build an advertised endpoint URI, e.g. `grpc://[::1]:9090`. */
export function formatEndpoint(scheme: Scheme, host: string, port: number): string {
  return `${scheme}://${formatHost(host)}:${port}`;
}

function parsePort(text: string, key: string, whole: string, allowZero: boolean): number {
  if (!/^\d{1,5}$/.test(text)) throw new ConfigError(key, `invalid port ${show(text)} in ${show(whole)}`);
  const port = Number(text);
  const min = allowZero ? 0 : 1;
  if (port < min || port > 65535) {
    throw new ConfigError(key, `port ${port} in ${show(whole)} is out of range (${min}..65535)`);
  }
  return port;
}

/**
 * Split an authority `host`, `host:port`, `[v6]`, `[v6]:port`, `:port` or `` into an unbracketed host ("" when
 * absent) and an optional port.
 */
function splitAuthority(
  authority: string,
  key: string,
  whole: string,
  allowZero: boolean,
): { host: string; port?: number } {
  let host: string;
  let portText: string | undefined;
  if (authority.startsWith("[")) {
    const close = authority.indexOf("]");
    if (close < 0) throw new ConfigError(key, `unterminated "[" in ${show(whole)}`);
    host = authority.slice(1, close);
    const rest = authority.slice(close + 1);
    if (rest !== "") {
      if (!rest.startsWith(":")) {
        throw new ConfigError(key, `unexpected ${show(rest)} after "]" in ${show(whole)}`);
      }
      portText = rest.slice(1);
    }
    if (!IPV6_RE.test(host)) {
      throw new ConfigError(key, `invalid IPv6 address ${show(host)} in ${show(whole)}`);
    }
  } else {
    const colon = authority.lastIndexOf(":");
    if (colon >= 0 && authority.indexOf(":") !== colon) {
      throw new ConfigError(
        key,
        `IPv6 addresses must be written in brackets, e.g. [::1]:9090 (got ${show(whole)})`,
      );
    }
    host = colon >= 0 ? authority.slice(0, colon) : authority;
    portText = colon >= 0 ? authority.slice(colon + 1) : undefined;
    if (host !== "" && !HOSTNAME_RE.test(host)) {
      throw new ConfigError(key, `invalid host ${show(host)} in ${show(whole)}`);
    }
  }
  const port = portText === undefined ? undefined : parsePort(portText, key, whole, allowZero);
  return { host, port };
}

/**
 * Parse an endpoint URI such as `grpc://127.0.0.1:9090`, `grpcs://cache:9443` or `grpc://[::1]`.
 * Schemes `grpc`, `grpc+tcp` and `http` mean plaintext; `grpcs`, `grpc+tls` and `https` mean TLS.
 * The host may be empty (`grpc://:9090`) or unspecified (`0.0.0.0`, `::`); the port defaults later.
 *
 * @throws {ConfigError} naming `key` for a missing/unknown scheme, a path, user info, a bad host or port (1..65535)
 */
export function parseEndpointUri(text: string, key: string): EndpointSpec {
  const trimmed = text.trim();
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)(\/?)$/.exec(trimmed);
  if (!m) {
    throw new ConfigError(
      key,
      `invalid endpoint ${show(text)} (expected SCHEME://HOST:PORT, e.g. grpc://127.0.0.1:9090)`,
    );
  }
  const scheme = SCHEMES[m[1].toLowerCase()];
  if (!scheme) {
    throw new ConfigError(
      key,
      `unsupported scheme ${show(m[1])} in ${
        show(text)
      } (use grpc, grpc+tcp, grpc+tls, grpcs, http or https)`,
    );
  }
  if (m[2].includes("@")) throw new ConfigError(key, `user info is not allowed in endpoint ${show(text)}`);
  const { host, port } = splitAuthority(m[2], key, text, false);
  const spec: EndpointSpec = { scheme };
  if (host !== "") spec.host = host;
  if (port !== undefined) spec.port = port;
  return spec;
}

/**
 * Parse `HOST:PORT` (`[::1]:9090` for IPv6). An empty host (`:9090`) means all interfaces (`0.0.0.0`).
 * Port 0 (ephemeral) is accepted only when `allowZero` is set.
 *
 * @throws {ConfigError} naming `key`
 */
export function parseHostPort(text: string, key: string, allowZero = true): HostPort {
  const trimmed = text.trim();
  if (trimmed === "") throw new ConfigError(key, `empty address (expected HOST:PORT, e.g. 127.0.0.1:9090)`);
  const { host, port } = splitAuthority(trimmed, key, text, allowZero);
  if (port === undefined) {
    throw new ConfigError(key, `missing port in ${show(text)} (expected HOST:PORT, e.g. 127.0.0.1:9090)`);
  }
  return { host: host === "" ? "0.0.0.0" : host, port };
}

/**
 * Parse an admin `--endpoint`: a URI as for `parseEndpointUri`, or a bare `HOST:PORT` (plaintext).
 * Returns the normalized advertised form (`grpc://HOST:PORT` or `grpc+tls://HOST:PORT`); missing host → 127.0.0.1,
 * missing port → 9090.
 */
export function normalizeClientEndpoint(text: string, key: string): string {
  const spec = text.includes("://")
    ? parseEndpointUri(text, key)
    : { scheme: "grpc" as const, ...parseBare(text, key) };
  const host = spec.host === undefined || isUnspecifiedHost(spec.host) ? DEFAULT_HOST : spec.host;
  return formatEndpoint(spec.scheme, host, spec.port ?? DEFAULT_PORT);
}

function parseBare(text: string, key: string): { host?: string; port?: number } {
  if (text.trim() === "") throw new ConfigError(key, "empty endpoint");
  const { host, port } = splitAuthority(text.trim(), key, text, false);
  return { host: host === "" ? undefined : host, port };
}

/**
 * The first IPv4 address of the first interface whose name matches `pattern` (an unanchored regular expression,
 * like Flame: `eth` matches `veth0`).
 *
 * @throws {ConfigError} naming `key`: invalid regex, `network interface X not found`, `... has no IPv4 addresses`
 */
export function interfaceAddress(pattern: string, key: string, interfaces: Interfaces): string {
  let re: RegExp;
  try {
    re = new RegExp(pattern);
  } catch (e) {
    throw new ConfigError(key, `invalid regular expression ${show(pattern)}: ${(e as Error).message}`);
  }
  for (const [name, addrs] of Object.entries(interfaces)) {
    if (!re.test(name)) continue;
    // deno-lint-ignore no-explicit-any
    const v4 = (addrs ?? []).find((a) => a.family === "IPv4" || (a.family as any) === 4);
    if (!v4) {
      throw new ConfigError(
        key,
        `network interface ${name} (matched by ${show(pattern)}) has no IPv4 addresses`,
      );
    }
    return v4.address;
  }
  const known = Object.keys(interfaces).join(", ") || "none";
  throw new ConfigError(key, `network interface ${show(pattern)} not found (available: ${known})`);
}

/** Inputs to `resolveNetwork`, each with the key of the setting that provided it. */
export interface NetworkInput {
  endpoint?: Sourced<EndpointSpec>;
  networkInterface?: Sourced<string>;
  listen?: Sourced<HostPort>;
  interfaces: Interfaces;
  /** Scheme to use when no endpoint is configured (TLS is turned on by a `cache.tls` section alone). */
  defaultScheme: Scheme;
}

/**
 * Derive the bind address and advertised endpoint.
 *
 * - Port: the endpoint's port, else the `--listen` port, else 9090.
 * - Advertised host: a concrete endpoint host; else the IPv4 of `network_interface`; else a concrete `--listen`
 *   host; else 127.0.0.1.
 * - Bind: `--listen`; else the endpoint host if it is unspecified (`0.0.0.0`/`::`); else all interfaces
 *   (`0.0.0.0`) when the advertised host is a DNS name (it may name a Kubernetes Service or a load balancer,
 *   not a local address: Flame's Helm chart puts the Service name there); else the advertised host.
 */
export function resolveNetwork(input: NetworkInput): { listen: HostPort; endpoint: string; scheme: Scheme } {
  const spec = input.endpoint?.value;
  const scheme = spec?.scheme ?? input.defaultScheme;
  const port = spec?.port ?? input.listen?.value.port ?? DEFAULT_PORT;
  const endpointHost = spec?.host;
  const concrete = (h: string | undefined): h is string =>
    h !== undefined && h !== "" && !isUnspecifiedHost(h);

  let advertised: string;
  if (concrete(endpointHost)) advertised = endpointHost;
  else if (input.networkInterface) {
    advertised = interfaceAddress(input.networkInterface.value, input.networkInterface.key, input.interfaces);
  } else if (concrete(input.listen?.value.host)) advertised = input.listen.value.host;
  else advertised = DEFAULT_HOST;

  let listen: HostPort;
  if (input.listen) listen = { ...input.listen.value };
  else if (endpointHost !== undefined && isUnspecifiedHost(endpointHost)) {
    listen = { host: endpointHost, port };
  } else if (isIP(advertised) === 0 && advertised !== "localhost") listen = { host: "0.0.0.0", port };
  else listen = { host: advertised, port };

  return { listen, endpoint: formatEndpoint(scheme, advertised, port), scheme };
}
