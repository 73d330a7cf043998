/**
 * Client endpoint URIs: `grpc://host:port`, `grpc+tls://host:port`, and the
 * aliases `grpcs://` (= grpc+tls, as flamepy rewrites it) and `grpc+tcp://`
 * (= grpc, Arrow Flight's name). A bare `host:port` means `grpc://`. The port
 * defaults to 9090, Flame's cache port.
 *
 * @module
 */
import { InvalidArgumentError } from "./errors.ts";

/** Flame's default cache port. */
export const DEFAULT_CACHE_PORT = 9090;

/** A parsed endpoint. */
export interface Endpoint {
  /** Normalised URI, `grpc://host:port` or `grpc+tls://host:port` (IPv6 hosts bracketed). */
  uri: string;
  /** True for grpc+tls / grpcs. */
  tls: boolean;
  /** Host name or address, without brackets. */
  host: string;
  /** TCP port (default 9090). */
  port: number;
  /** `host:port` as used in the `:authority` header (IPv6 bracketed). */
  authority: string;
}

const SCHEMES: Record<string, boolean> = {
  "grpc": false,
  "grpc+tcp": false,
  "grpc+tls": true,
  "grpcs": true,
};

/** Parse an endpoint URI. Throws {@link InvalidArgumentError} for anything else. */
export function parseEndpoint(text: string): Endpoint {
  const input = text.trim();
  const bad = (why: string) => new InvalidArgumentError(`invalid cache endpoint '${text}': ${why}`);
  let scheme = "grpc";
  let rest = input;
  const sep = input.indexOf("://");
  if (sep >= 0) {
    scheme = input.slice(0, sep).toLowerCase();
    rest = input.slice(sep + 3);
  }
  if (!(scheme in SCHEMES)) throw bad("expected grpc://, grpc+tls:// or grpcs://");
  rest = rest.replace(/\/+$/, "");
  if (rest === "" || rest.includes("/") || rest.includes("@")) throw bad("expected HOST:PORT");
  let host: string;
  let portText: string | undefined;
  if (rest.startsWith("[")) {
    const close = rest.indexOf("]");
    if (close < 0) throw bad("unclosed '[' in IPv6 address");
    host = rest.slice(1, close);
    const after = rest.slice(close + 1);
    if (after !== "" && !after.startsWith(":")) throw bad("unexpected text after ']'");
    portText = after === "" ? undefined : after.slice(1);
  } else {
    const colon = rest.lastIndexOf(":");
    if (colon >= 0 && rest.indexOf(":") !== colon) throw bad("IPv6 addresses must be written in brackets");
    host = colon >= 0 ? rest.slice(0, colon) : rest;
    portText = colon >= 0 ? rest.slice(colon + 1) : undefined;
  }
  if (host === "") throw bad("missing host");
  let port = DEFAULT_CACHE_PORT;
  if (portText !== undefined) {
    if (!/^\d{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) {
      throw bad(`invalid port '${portText}'`);
    }
    port = Number(portText);
  }
  const tls = SCHEMES[scheme];
  const shownHost = host.includes(":") ? `[${host}]` : host;
  const authority = `${shownHost}:${port}`;
  return { uri: `${tls ? "grpc+tls" : "grpc"}://${authority}`, tls, host, port, authority };
}
