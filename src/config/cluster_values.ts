/**
 * Parsers for single cluster mode settings (`cache.cluster.*`, `cache.remote.*` and their variables and flags).
 * Each takes the raw value and the key it came from, and throws `ConfigError(key)` when it is bad. URLs are shown
 * in messages with any user info masked, so a password typed into a URL never reaches a log.
 *
 * @module
 */

import { type EndpointSpec, isUnspecifiedHost, parseEndpointUri } from "./endpoint.ts";
import { ConfigError, show } from "./errors.ts";
import { expectString, parsePositiveInt } from "./values.ts";

/** etcd's client port, used when an etcd URL has none. */
export const DEFAULT_ETCD_PORT = 2379;

/** Show a URL in an error message with any user info masked, so a password never reaches a log. */
function showUrl(text: string): string {
  // Everything up to the last "@" (a password may itself contain "@" when it is not percent-encoded).
  return show(text.replace(/^([A-Za-z][A-Za-z0-9+.-]*:\/\/)?.*@/, "$1***@"));
}

function parseHttpUrl(text: string, key: string, what: string): URL {
  const trimmed = text.trim();
  let url: URL;
  try {
    url = new URL(trimmed);
  } catch {
    throw new ConfigError(key, `invalid ${what} URL ${showUrl(text)} (expected http://HOST:PORT)`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new ConfigError(key, `unsupported scheme in ${what} URL ${showUrl(text)} (use http or https)`);
  }
  if (url.username !== "" || url.password !== "") {
    throw new ConfigError(
      key,
      `credentials are not allowed in the ${what} URL ${showUrl(text)}`,
    );
  }
  if (url.hostname === "") throw new ConfigError(key, `missing host in ${what} URL ${showUrl(text)}`);
  if (url.search !== "" || url.hash !== "") {
    throw new ConfigError(key, `unexpected query or fragment in ${what} URL ${showUrl(text)}`);
  }
  return url;
}

/** One etcd v3 client URL, `http(s)://HOST[:PORT]` (port 2379 by default), normalized. */
export function parseEtcdUrl(text: string, key: string): string {
  const url = parseHttpUrl(text, key, "etcd");
  if (url.pathname !== "/" && url.pathname !== "") {
    throw new ConfigError(key, `unexpected path in etcd URL ${showUrl(text)} (expected http://HOST:PORT)`);
  }
  return `${url.protocol}//${url.hostname}:${url.port === "" ? DEFAULT_ETCD_PORT : url.port}`;
}

/** etcd endpoints: a YAML list of URLs or a comma-separated string. At least one; duplicates dropped. */
export function parseEtcdList(value: unknown, key: string): string[] {
  let items: unknown[];
  if (typeof value === "string") items = value.split(",").filter((s) => s.trim() !== "");
  else if (Array.isArray(value)) items = value;
  else {throw new ConfigError(
      key,
      `expected a list of etcd URLs or a comma-separated string, got ${show(value)}`,
    );}
  if (items.length === 0) throw new ConfigError(key, "no etcd endpoints given");
  const urls = items.map((item) => parseEtcdUrl(expectString(item, key, "an etcd URL"), key));
  return [...new Set(urls)];
}

const NAME_RE = /^[A-Za-z0-9]([A-Za-z0-9._-]{0,126}[A-Za-z0-9])?$/;

/** A cluster name or member id: letters, digits, `.`, `_`, `-` (it becomes part of etcd keys). */
export function parseMemberName(value: unknown, key: string, what: string): string {
  const text = expectString(value, key, what).trim();
  if (!NAME_RE.test(text)) {
    throw new ConfigError(
      key,
      `invalid ${what} ${
        show(value)
      } (1-128 letters, digits, ".", "_" or "-", starting and ending with a letter or digit)`,
    );
  }
  return text;
}

/** The lease TTL: a whole number of seconds greater than 0. */
export function parseLeaseTtl(value: unknown, key: string): number {
  try {
    return parsePositiveInt(value, key);
  } catch {
    throw new ConfigError(key, `invalid lease TTL ${show(value)} (expected a whole number of seconds > 0)`);
  }
}

/** True for a bucket name S3 accepts in virtual-hosted style (the AWS general purpose bucket rules). */
export function isDnsBucketName(name: string): boolean {
  return /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(name) &&
    !name.includes("..") && !name.includes(".-") && !name.includes("-.") &&
    !/^\d+\.\d+\.\d+\.\d+$/.test(name) &&
    !name.startsWith("xn--") && !name.startsWith("sthree-") &&
    !name.endsWith("-s3alias") && !name.endsWith("--ol-s3");
}

/** `s3://BUCKET[/PREFIX]`: the bucket must be a valid DNS-style name; prefix segments must be plain names. */
export function parseS3Url(value: unknown, key: string): { bucket: string; prefix: string } {
  const text = expectString(value, key, "an s3:// URL");
  const trimmed = text.trim();
  const m = /^s3:\/\/([^/?#]*)(\/[^?#]*)?$/i.exec(trimmed);
  if (!m) {
    throw new ConfigError(
      key,
      `invalid remote URL ${showUrl(text)} (expected s3://BUCKET or s3://BUCKET/PREFIX)`,
    );
  }
  const bucket = m[1];
  if (bucket.includes("@")) {
    throw new ConfigError(key, `credentials are not allowed in the remote URL ${showUrl(text)}`);
  }
  if (!isDnsBucketName(bucket)) {
    throw new ConfigError(
      key,
      `invalid bucket name ${show(bucket)} in ${
        show(text)
      } (3-63 lowercase letters, digits, "-" or ".", starting and ending with a letter or digit, not an IP address)`,
    );
  }
  const segments = (m[2] ?? "").split("/").filter((s) => s !== "");
  for (const s of segments) {
    if (s === "." || s === "..") {
      throw new ConfigError(key, `invalid prefix segment ${show(s)} in ${show(text)}`);
    }
  }
  return { bucket, prefix: segments.join("/") };
}

/** The S3 endpoint URL: `http(s)://HOST[:PORT][/PATH]`, without credentials; returned without a trailing `/`. */
export function parseS3Endpoint(value: unknown, key: string): string {
  const url = parseHttpUrl(expectString(value, key, "a URL"), key, "S3 endpoint");
  return url.href.replace(/\/+$/, "");
}

/** An S3 region name such as `us-east-1` (self-hosted services accept any). */
export function parseRegion(value: unknown, key: string): string {
  const text = expectString(value, key, "a region name").trim();
  if (!/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/.test(text)) {
    throw new ConfigError(key, `invalid region ${show(value)} (e.g. us-east-1)`);
  }
  return text;
}

/** A boolean from YAML (true/false) or text (true/false, yes/no, on/off, 1/0). */
export function parseBool(value: unknown, key: string): boolean {
  if (typeof value === "boolean") return value;
  const text = typeof value === "string" ? value.trim().toLowerCase() : "";
  if (["true", "yes", "on", "1"].includes(text)) return true;
  if (["false", "no", "off", "0"].includes(text)) return false;
  throw new ConfigError(key, `invalid boolean ${show(value)} (expected true or false)`);
}

/** The address peers dial: an endpoint URI with a concrete host (not 0.0.0.0); the port may be left out. */
export function parseAdvertise(value: unknown, key: string): EndpointSpec {
  const text = expectString(value, key, "an endpoint URI");
  const spec = parseEndpointUri(text, key);
  if (spec.host === undefined || isUnspecifiedHost(spec.host)) {
    throw new ConfigError(key, `the advertised address ${show(text)} needs a host peers can reach`);
  }
  return spec;
}
