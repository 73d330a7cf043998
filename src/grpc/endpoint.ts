/**
 * The one parser of cache endpoint URIs, shared by the server's config and the
 * client SDK. Schemes `grpc`, `grpc+tcp` (Arrow Flight's name) and `http` mean
 * plaintext; `grpcs` (as flamepy writes it), `grpc+tls` and `https` mean TLS.
 * IPv6 hosts are bracketed (`grpc://[::1]:9090`); the port defaults to 9090,
 * Flame's cache port.
 *
 * Syntax errors are {@link EndpointSyntaxError}s; the config wraps them in its
 * ConfigError (naming the setting), the client in InvalidArgumentError.
 *
 * @module
 */
import { InvalidArgumentError } from "./client_errors.ts";

/** Flame's default cache port. */
export const DEFAULT_PORT = 9090;

/** Plaintext or TLS. */
export type Scheme = "grpc" | "grpc+tls";

/** A parsed endpoint URI. `host` (unbracketed) and `port` are absent when the URI leaves them out. */
export interface EndpointSpec {
  scheme: Scheme;
  host?: string;
  port?: number;
}

/** A malformed endpoint; the message says what is wrong and quotes the input. */
export class EndpointSyntaxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "EndpointSyntaxError";
  }
}

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
const quote = (text: string) => JSON.stringify(text);

/** True for the "any address" hosts `0.0.0.0` and `::`, which can be bound but not advertised. */
export function isUnspecifiedHost(host: string): boolean {
  return host === "0.0.0.0" || host === "::" || host === "0:0:0:0:0:0:0:0";
}

/** Bracket IPv6 hosts for use in a URI or HOST:PORT (`::1` → `[::1]`); other hosts are returned unchanged. */
export function formatHost(host: string): string {
  return host.includes(":") ? `[${host}]` : host;
}

/** Build an endpoint URI, e.g. `grpc://[::1]:9090`. */
export function formatEndpoint(scheme: Scheme, host: string, port: number): string {
  return `${scheme}://${formatHost(host)}:${port}`;
}

function parsePort(text: string, whole: string, allowZero: boolean): number {
  if (!/^\d{1,5}$/.test(text)) {
    throw new EndpointSyntaxError(`invalid port ${quote(text)} in ${quote(whole)}`);
  }
  const port = Number(text);
  const min = allowZero ? 0 : 1;
  if (port < min || port > 65535) {
    throw new EndpointSyntaxError(`port ${port} in ${quote(whole)} is out of range (${min}..65535)`);
  }
  return port;
}

/**
 * Split an authority `host`, `host:port`, `[v6]`, `[v6]:port`, `:port` or `` into an unbracketed host ("" when
 * absent) and an optional port. `whole` is the input to quote in errors.
 */
export function splitAuthority(
  authority: string,
  whole: string,
  allowZero: boolean,
): { host: string; port?: number } {
  let host: string;
  let portText: string | undefined;
  if (authority.startsWith("[")) {
    const close = authority.indexOf("]");
    if (close < 0) throw new EndpointSyntaxError(`unterminated "[" in ${quote(whole)}`);
    host = authority.slice(1, close);
    const rest = authority.slice(close + 1);
    if (rest !== "") {
      if (!rest.startsWith(":")) {
        throw new EndpointSyntaxError(`unexpected ${quote(rest)} after "]" in ${quote(whole)}`);
      }
      portText = rest.slice(1);
    }
    if (!IPV6_RE.test(host)) {
      throw new EndpointSyntaxError(`invalid IPv6 address ${quote(host)} in ${quote(whole)}`);
    }
  } else {
    const colon = authority.lastIndexOf(":");
    if (colon >= 0 && authority.indexOf(":") !== colon) {
      throw new EndpointSyntaxError(
        `IPv6 addresses must be written in brackets, e.g. [::1]:9090 (got ${quote(whole)})`,
      );
    }
    host = colon >= 0 ? authority.slice(0, colon) : authority;
    portText = colon >= 0 ? authority.slice(colon + 1) : undefined;
    if (host !== "" && !HOSTNAME_RE.test(host)) {
      throw new EndpointSyntaxError(`invalid host ${quote(host)} in ${quote(whole)}`);
    }
  }
  const port = portText === undefined ? undefined : parsePort(portText, whole, allowZero);
  return { host, port };
}

/**
 * Parse an endpoint URI such as `grpc://127.0.0.1:9090`, `grpcs://cache:9443` or `grpc://[::1]`.
 * The host may be empty (`grpc://:9090`) or unspecified (`0.0.0.0`, `::`); the port may be left out.
 *
 * @throws {EndpointSyntaxError} for a missing/unknown scheme, a path, user info, a bad host or port (1..65535)
 */
export function parseEndpointUri(text: string): EndpointSpec {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)(\/?)$/.exec(text.trim());
  if (!m) {
    throw new EndpointSyntaxError(
      `invalid endpoint ${quote(text)} (expected SCHEME://HOST:PORT, e.g. grpc://127.0.0.1:9090)`,
    );
  }
  const scheme = SCHEMES[m[1].toLowerCase()];
  if (!scheme) {
    throw new EndpointSyntaxError(
      `unsupported scheme ${quote(m[1])} in ${
        quote(text)
      } (use grpc, grpc+tcp, grpc+tls, grpcs, http or https)`,
    );
  }
  if (m[2].includes("@")) {
    throw new EndpointSyntaxError(`user info is not allowed in endpoint ${quote(text)}`);
  }
  const { host, port } = splitAuthority(m[2], text, false);
  const spec: EndpointSpec = { scheme };
  if (host !== "") spec.host = host;
  if (port !== undefined) spec.port = port;
  return spec;
}

/** A URI, or a bare `HOST:PORT` (plaintext); host and port may still be absent. */
export function parseEndpointOrAuthority(text: string): EndpointSpec {
  if (text.includes("://")) return parseEndpointUri(text);
  if (text.trim() === "") throw new EndpointSyntaxError("empty endpoint");
  const { host, port } = splitAuthority(text.trim(), text, false);
  return { scheme: "grpc", host: host === "" ? undefined : host, port };
}

/** A client's endpoint, ready to connect. */
export interface Endpoint {
  /** Normalised URI, `grpc://host:port` or `grpc+tls://host:port` (IPv6 hosts bracketed). */
  uri: string;
  /** True for TLS schemes. */
  tls: boolean;
  /** Host name or address, without brackets. */
  host: string;
  /** TCP port (default 9090). */
  port: number;
  /** `host:port` as used in the `:authority` header (IPv6 bracketed). */
  authority: string;
}

/**
 * Parse a client endpoint: a URI or a bare `HOST:PORT` (plaintext); the host is required.
 * Throws {@link InvalidArgumentError} for anything else.
 */
export function parseEndpoint(text: string): Endpoint {
  let spec: EndpointSpec;
  try {
    spec = parseEndpointOrAuthority(text);
  } catch (err) {
    if (err instanceof EndpointSyntaxError) {
      throw new InvalidArgumentError(`invalid cache endpoint '${text}': ${err.message}`, { cause: err });
    }
    throw err;
  }
  if (spec.host === undefined) {
    throw new InvalidArgumentError(`invalid cache endpoint '${text}': missing host`);
  }
  const port = spec.port ?? DEFAULT_PORT;
  const authority = `${formatHost(spec.host)}:${port}`;
  const tls = spec.scheme === "grpc+tls";
  return { uri: `${spec.scheme}://${authority}`, tls, host: spec.host, port, authority };
}
