/**
 * Endpoint URIs, HOST:PORT pairs, network-interface lookup, and how the bind address and the advertised endpoint
 * are derived from them.
 *
 * @module
 */
import { isIP } from "node:net";
import type { networkInterfaces } from "node:os";
import { ConfigError, show } from "./errors.ts";
import {
  DEFAULT_PORT,
  type EndpointSpec,
  EndpointSyntaxError,
  formatEndpoint,
  formatHost,
  isUnspecifiedHost,
  parseEndpointOrAuthority,
  parseEndpointUri as parseUri,
  type Scheme,
  splitAuthority,
} from "../grpc/endpoint.ts";
import type { Sourced } from "./layer.ts";
import type { HostPort } from "./types.ts";

/** The result of `node:os` `networkInterfaces()`; injectable for tests. */
export type Interfaces = ReturnType<typeof networkInterfaces>;

export { DEFAULT_PORT, type EndpointSpec, formatEndpoint, formatHost, isUnspecifiedHost, type Scheme };

/** Advertised host when nothing better is known. */
export const DEFAULT_HOST = "127.0.0.1";

/** Run the shared endpoint parser, turning its syntax errors into config errors naming `key`. */
function asConfig<T>(key: string, parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    if (err instanceof EndpointSyntaxError) throw new ConfigError(key, err.message);
    throw err;
  }
}

/**
 * Parse an endpoint URI such as `grpc://127.0.0.1:9090` (see src/grpc/endpoint.ts for the accepted forms).
 *
 * @throws {ConfigError} naming `key`
 */
export function parseEndpointUri(text: string, key: string): EndpointSpec {
  return asConfig(key, () => parseUri(text));
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
  const { host, port } = asConfig(key, () => splitAuthority(trimmed, text, allowZero));
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
  const spec = asConfig(key, () => parseEndpointOrAuthority(text));
  const host = spec.host === undefined || isUnspecifiedHost(spec.host) ? DEFAULT_HOST : spec.host;
  return formatEndpoint(spec.scheme, host, spec.port ?? DEFAULT_PORT);
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
