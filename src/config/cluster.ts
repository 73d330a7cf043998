/**
 * Cluster mode settings: membership in etcd (`cache.cluster`) and the shared durable tier in S3-compatible
 * storage (`cache.remote`), from the file, the environment and flags (issue 13). Parsing and validation only.
 *
 * Credentials are never configuration: the S3 client reads the standard AWS variables and shared files. URLs
 * with user info are refused, and error messages show them with the user info masked.
 *
 * @module
 */

import {
  type EndpointSpec,
  formatEndpoint,
  interfaceAddress,
  isUnspecifiedHost,
  parseEndpointUri,
} from "./endpoint.ts";
import { ConfigError, show } from "./errors.ts";
import type { Sourced } from "./layer.ts";
import type { HostPort } from "./types.ts";
import { expectString, parsePositiveInt } from "./values.ts";
import type { FlagSpec } from "../cli/help.ts";
import type { Interfaces } from "./endpoint.ts";

/** Membership of this replica in a cluster (etcd v3). */
export interface ClusterConfig {
  /** etcd v3 client URLs, normalized to `http(s)://HOST:PORT`, without duplicates. */
  etcd: string[];
  /** Cluster name: members live under the etcd key prefix `/flame-cache/{name}/`. */
  name: string;
  /** This replica's member id (default: the host name, which is the pod name in a StatefulSet). */
  id: string;
  /**
   * How peers reach this replica, e.g. `grpc://10.0.0.7:9090`. Its port is `0` while it follows an ephemeral
   * listen port (see `clusterWithBoundPort`).
   */
  advertise: string;
  /** Lease TTL in seconds: a replica that stops renewing drops out of the membership after this long. */
  leaseTtlSeconds: number;
}

/** The shared durable tier: a bucket (and key prefix) on an S3-compatible service. */
export interface RemoteConfig {
  /** The normalized URL, `s3://BUCKET` or `s3://BUCKET/PREFIX`. */
  url: string;
  /** A valid DNS-style bucket name. */
  bucket: string;
  /** Key prefix without leading or trailing `/` ("" for the bucket root). */
  prefix: string;
  /** S3 endpoint URL (`http(s)://HOST[:PORT]`); absent = AWS's regional endpoint. */
  endpoint?: string;
  /** Signing region. */
  region: string;
  /** Path-style addressing (`endpoint/bucket/key`), needed by most self-hosted S3 services. */
  pathStyle: boolean;
}

/** Cluster and remote settings one layer (file, environment, flags) can provide, already validated. */
export interface ClusterSettings {
  clusterEtcd: Sourced<string[]>;
  clusterName: Sourced<string>;
  clusterId: Sourced<string>;
  clusterAdvertise: Sourced<EndpointSpec>;
  clusterLeaseTtl: Sourced<number>;
  remoteUrl: Sourced<{ bucket: string; prefix: string }>;
  remoteEndpoint: Sourced<string>;
  remoteRegion: Sourced<string>;
  remotePathStyle: Sourced<boolean>;
}

/** Default cluster name (the etcd key prefix is `/flame-cache/flame/`). */
export const DEFAULT_CLUSTER_NAME = "flame";
/** Default lease TTL in seconds. */
export const DEFAULT_LEASE_TTL_SECONDS = 10;
/** Region used when none is configured anywhere (AWS's default). */
export const DEFAULT_REMOTE_REGION = "us-east-1";
const DEFAULT_ETCD_PORT = 2379;

/** Command-line flags of cluster mode, for `--help` and the argument parser. */
export const CLUSTER_FLAGS: FlagSpec[] = [
  {
    name: "cluster-etcd",
    type: "string",
    arg: "URLS",
    scope: "serve",
    help: "etcd v3 endpoints, comma-separated: turns on cluster mode (needs --remote)",
    default: "off (single node)",
    env: "FLAME_CACHE_CLUSTER_ETCD",
  },
  {
    name: "cluster-name",
    type: "string",
    arg: "NAME",
    scope: "serve",
    help: "cluster name (etcd key prefix /flame-cache/NAME/)",
    default: DEFAULT_CLUSTER_NAME,
    env: "FLAME_CACHE_CLUSTER_NAME",
  },
  {
    name: "cluster-id",
    type: "string",
    arg: "ID",
    scope: "serve",
    help: "this replica's member id",
    default: "the host name",
    env: "FLAME_CACHE_CLUSTER_ID",
  },
  {
    name: "cluster-advertise",
    type: "string",
    arg: "URI",
    scope: "serve",
    help: "how peers reach this replica",
    default: "the listen address (network_interface IPv4 when it is 0.0.0.0)",
    env: "FLAME_CACHE_CLUSTER_ADVERTISE",
  },
  {
    name: "cluster-lease-ttl",
    type: "string",
    arg: "SECONDS",
    scope: "serve",
    help: "membership lease TTL",
    default: String(DEFAULT_LEASE_TTL_SECONDS),
    env: "FLAME_CACHE_CLUSTER_LEASE_TTL",
  },
  {
    name: "remote",
    type: "string",
    arg: "URL",
    scope: "serve",
    help: "shared durable tier s3://BUCKET[/PREFIX] (credentials: AWS variables or files)",
    default: "off",
    env: "FLAME_CACHE_REMOTE",
  },
  {
    name: "remote-endpoint",
    type: "string",
    arg: "URL",
    scope: "serve",
    help: "S3 endpoint URL, e.g. http://seaweedfs:8333",
    default: "AWS",
    env: "FLAME_CACHE_REMOTE_ENDPOINT",
  },
  {
    name: "remote-region",
    type: "string",
    arg: "REGION",
    scope: "serve",
    help: "S3 signing region",
    default: `AWS_REGION, AWS_DEFAULT_REGION, ${DEFAULT_REMOTE_REGION}`,
    env: "FLAME_CACHE_REMOTE_REGION",
  },
  {
    name: "remote-path-style",
    type: "boolean",
    scope: "serve",
    help: "path-style S3 addressing (most self-hosted S3 services)",
    default: "off",
    env: "FLAME_CACHE_REMOTE_PATH_STYLE",
  },
];

/** Environment variables of cluster mode, for `--help`. */
export const CLUSTER_ENV_VARS: { name: string; setting: string; default: string }[] = [
  { name: "FLAME_CACHE_CLUSTER_ETCD", setting: "etcd endpoints (cache.cluster.etcd)", default: "off" },
  {
    name: "FLAME_CACHE_CLUSTER_NAME",
    setting: "cluster name (cache.cluster.name)",
    default: DEFAULT_CLUSTER_NAME,
  },
  { name: "FLAME_CACHE_CLUSTER_ID", setting: "member id (cache.cluster.id)", default: "the host name" },
  {
    name: "FLAME_CACHE_CLUSTER_ADVERTISE",
    setting: "peer address (cache.cluster.advertise)",
    default: "the listen address",
  },
  {
    name: "FLAME_CACHE_CLUSTER_LEASE_TTL",
    setting: "lease TTL seconds (cache.cluster.lease_ttl)",
    default: String(DEFAULT_LEASE_TTL_SECONDS),
  },
  { name: "FLAME_CACHE_REMOTE", setting: "S3 tier s3://BUCKET/PREFIX (cache.remote.url)", default: "off" },
  { name: "FLAME_CACHE_REMOTE_ENDPOINT", setting: "S3 endpoint (cache.remote.endpoint)", default: "AWS" },
  {
    name: "FLAME_CACHE_REMOTE_REGION",
    setting: "S3 region (cache.remote.region)",
    default: `AWS_REGION, AWS_DEFAULT_REGION, ${DEFAULT_REMOTE_REGION}`,
  },
  {
    name: "FLAME_CACHE_REMOTE_PATH_STYLE",
    setting: "path-style S3 (cache.remote.path_style)",
    default: "false",
  },
];

// ---------------------------------------------------------------------------------------------------------------
// Single values

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
export function parseS3Url(text: string, key: string): { bucket: string; prefix: string } {
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
export function parseS3Endpoint(text: string, key: string): string {
  const url = parseHttpUrl(text, key, "S3 endpoint");
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

function parseAdvertise(text: string, key: string): EndpointSpec {
  const spec = parseEndpointUri(text, key);
  if (spec.host === undefined || isUnspecifiedHost(spec.host)) {
    throw new ConfigError(key, `the advertised address ${show(text)} needs a host peers can reach`);
  }
  return spec;
}

// ---------------------------------------------------------------------------------------------------------------
// Layers

const CLUSTER_KEYS = new Set(["etcd", "name", "id", "advertise", "lease_ttl"]);
const REMOTE_KEYS = new Set(["url", "endpoint", "region", "path_style"]);
const isSet = (v: unknown) => v !== undefined && v !== null;

function section(value: unknown, key: string, what: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ConfigError(key, `expected a mapping (${what}), got ${show(value)}`);
  }
  return value as Record<string, unknown>;
}

/**
 * The `cache.cluster` and `cache.remote` sections of the configuration file as a layer. Unknown keys inside them
 * are reported in `warnings`.
 *
 * @throws {ConfigError} naming the `cache.cluster.*` or `cache.remote.*` key
 */
export function clusterFileLayer(
  cache: Record<string, unknown>,
  warnings: string[],
): Partial<ClusterSettings> {
  const layer: Partial<ClusterSettings> = {};
  if (isSet(cache.cluster)) {
    const c = section(cache.cluster, "cache.cluster", "etcd, name, id, advertise, lease_ttl");
    for (const k of Object.keys(c)) {
      if (!CLUSTER_KEYS.has(k)) warnings.push(`unknown key cache.cluster.${k} (ignored)`);
    }
    let key = "cache.cluster.etcd";
    if (isSet(c.etcd)) layer.clusterEtcd = { value: parseEtcdList(c.etcd, key), key };
    if (isSet(c.name)) {
      layer.clusterName = { value: parseMemberName(c.name, key = "cache.cluster.name", "cluster name"), key };
    }
    if (isSet(c.id)) {
      layer.clusterId = { value: parseMemberName(c.id, key = "cache.cluster.id", "member id"), key };
    }
    if (isSet(c.advertise)) {
      key = "cache.cluster.advertise";
      layer.clusterAdvertise = {
        value: parseAdvertise(expectString(c.advertise, key, "an endpoint URI"), key),
        key,
      };
    }
    if (isSet(c.lease_ttl)) {
      layer.clusterLeaseTtl = { value: parseLeaseTtl(c.lease_ttl, key = "cache.cluster.lease_ttl"), key };
    }
  }
  if (isSet(cache.remote)) {
    const r = section(cache.remote, "cache.remote", "url, endpoint, region, path_style");
    for (const k of Object.keys(r)) {
      if (!REMOTE_KEYS.has(k)) warnings.push(`unknown key cache.remote.${k} (ignored)`);
    }
    let key = "cache.remote.url";
    if (isSet(r.url)) {
      layer.remoteUrl = { value: parseS3Url(expectString(r.url, key, "an s3:// URL"), key), key };
    }
    if (isSet(r.endpoint)) {
      key = "cache.remote.endpoint";
      layer.remoteEndpoint = { value: parseS3Endpoint(expectString(r.endpoint, key, "a URL"), key), key };
    }
    if (isSet(r.region)) {
      layer.remoteRegion = { value: parseRegion(r.region, key = "cache.remote.region"), key };
    }
    if (isSet(r.path_style)) {
      layer.remotePathStyle = { value: parseBool(r.path_style, key = "cache.remote.path_style"), key };
    }
  }
  return layer;
}

/** Parsers of the cluster settings, by the name shared by the flag (`--NAME`) and variable (`FLAME_CACHE_*`). */
const TEXT_SETTINGS: {
  name: string;
  set: (layer: Partial<ClusterSettings>, text: string, key: string) => void;
}[] = [
  { name: "cluster-etcd", set: (l, t, key) => l.clusterEtcd = { value: parseEtcdList(t, key), key } },
  {
    name: "cluster-name",
    set: (l, t, key) => l.clusterName = { value: parseMemberName(t, key, "cluster name"), key },
  },
  {
    name: "cluster-id",
    set: (l, t, key) => l.clusterId = { value: parseMemberName(t, key, "member id"), key },
  },
  {
    name: "cluster-advertise",
    set: (l, t, key) => l.clusterAdvertise = { value: parseAdvertise(t, key), key },
  },
  {
    name: "cluster-lease-ttl",
    set: (l, t, key) => l.clusterLeaseTtl = { value: parseLeaseTtl(t, key), key },
  },
  { name: "remote", set: (l, t, key) => l.remoteUrl = { value: parseS3Url(t, key), key } },
  { name: "remote-endpoint", set: (l, t, key) => l.remoteEndpoint = { value: parseS3Endpoint(t, key), key } },
  { name: "remote-region", set: (l, t, key) => l.remoteRegion = { value: parseRegion(t, key), key } },
  { name: "remote-path-style", set: (l, t, key) => l.remotePathStyle = { value: parseBool(t, key), key } },
];

const envName = (flag: string) => `FLAME_CACHE_${flag.toUpperCase().replaceAll("-", "_")}`;

/**
 * The `FLAME_CACHE_CLUSTER_*` and `FLAME_CACHE_REMOTE*` variables as a layer (empty values are ignored).
 * `AWS_REGION` / `AWS_DEFAULT_REGION` are not read here: they are defaults below the file (see `resolveCluster`).
 *
 * @throws {ConfigError} naming the variable
 */
export function clusterEnvLayer(env: Record<string, string>): Partial<ClusterSettings> {
  const layer: Partial<ClusterSettings> = {};
  for (const s of TEXT_SETTINGS) {
    const name = envName(s.name);
    const v = env[name];
    if (v !== undefined && v.trim() !== "") s.set(layer, v, name);
  }
  return layer;
}

/**
 * The cluster flags as a layer. `values` maps a flag name (without dashes) to its value (`true` for a boolean
 * flag given without a value).
 *
 * @throws {ConfigError} naming the flag
 */
export function clusterFlagLayer(values: Map<string, { value: string | true }>): Partial<ClusterSettings> {
  const layer: Partial<ClusterSettings> = {};
  for (const s of TEXT_SETTINGS) {
    const e = values.get(s.name);
    if (e !== undefined) s.set(layer, e.value === true ? "true" : e.value, `--${s.name}`);
  }
  return layer;
}

// ---------------------------------------------------------------------------------------------------------------
// Final values

/** What `resolveCluster` needs besides the merged settings. */
export interface ClusterContext {
  /** The bind address already derived for the server. */
  listen: HostPort;
  /** The advertised endpoint's scheme, used for the default peer address. */
  scheme: "grpc" | "grpc+tls";
  networkInterface?: Sourced<string>;
  interfaces: () => Interfaces;
  env: Record<string, string>;
  /** The host name (default member id); may throw when it cannot be read. */
  hostname: () => string;
}

function defaultMemberId(ctx: ClusterContext): string {
  const key = "cache.cluster.id";
  // HOSTNAME is the pod name in Kubernetes, and reading it needs no --allow-sys permission.
  const fromEnv = ctx.env.HOSTNAME?.trim();
  let name: string;
  try {
    name = fromEnv ? fromEnv : ctx.hostname();
  } catch (e) {
    throw new ConfigError(
      key,
      `cannot read the host name for the default member id (${
        (e as Error).message
      }): set the id (cache.cluster.id, FLAME_CACHE_CLUSTER_ID or --cluster-id)`,
    );
  }
  return parseMemberName(name, key, "member id (from the host name)");
}

function defaultAdvertise(ctx: ClusterContext): string {
  const { host, port } = ctx.listen;
  if (!isUnspecifiedHost(host)) return formatEndpoint(ctx.scheme, host, port);
  if (ctx.networkInterface) {
    const address = interfaceAddress(ctx.networkInterface.value, ctx.networkInterface.key, ctx.interfaces());
    return formatEndpoint(ctx.scheme, address, port);
  }
  throw new ConfigError(
    "cache.cluster.advertise",
    `the server listens on ${host}, which peers cannot dial: set the advertised address (e.g. grpc://10.0.0.7:${
      port || 9090
    }) or cache.network_interface`,
  );
}

/**
 * Turn the merged settings into `cluster` / `remote` configs (either may be absent: nothing set = single node).
 * A cluster requires the remote tier; cluster or remote options without their main setting are errors.
 *
 * @throws {ConfigError} naming the setting to fix
 */
export function resolveCluster(
  s: Partial<ClusterSettings>,
  ctx: ClusterContext,
): { cluster?: ClusterConfig; remote?: RemoteConfig } {
  const out: { cluster?: ClusterConfig; remote?: RemoteConfig } = {};
  const clusterOption = s.clusterName ?? s.clusterId ?? s.clusterAdvertise ?? s.clusterLeaseTtl;
  const remoteOption = s.remoteEndpoint ?? s.remoteRegion ?? s.remotePathStyle;

  if (s.remoteUrl) {
    const { bucket, prefix } = s.remoteUrl.value;
    let region = s.remoteRegion?.value;
    for (const name of ["AWS_REGION", "AWS_DEFAULT_REGION"]) {
      const v = ctx.env[name]?.trim();
      if (region === undefined && v) region = parseRegion(v, name);
    }
    out.remote = {
      url: prefix === "" ? `s3://${bucket}` : `s3://${bucket}/${prefix}`,
      bucket,
      prefix,
      region: region ?? DEFAULT_REMOTE_REGION,
      pathStyle: s.remotePathStyle?.value ?? false,
    };
    if (s.remoteEndpoint) out.remote.endpoint = s.remoteEndpoint.value;
  } else if (remoteOption) {
    throw new ConfigError(
      remoteOption.key,
      "the remote tier's bucket is not set (cache.remote.url, FLAME_CACHE_REMOTE or --remote s3://BUCKET/PREFIX)",
    );
  }

  if (s.clusterEtcd) {
    if (!out.remote) {
      throw new ConfigError(
        s.clusterEtcd.key,
        "a cluster needs the shared tier: set cache.remote.url (FLAME_CACHE_REMOTE or --remote s3://BUCKET/PREFIX)",
      );
    }
    const advertise = s.clusterAdvertise
      ? formatEndpoint(
        s.clusterAdvertise.value.scheme,
        s.clusterAdvertise.value.host!,
        s.clusterAdvertise.value.port ?? ctx.listen.port,
      )
      : defaultAdvertise(ctx);
    out.cluster = {
      etcd: s.clusterEtcd.value,
      name: s.clusterName?.value ?? DEFAULT_CLUSTER_NAME,
      id: s.clusterId?.value ?? defaultMemberId(ctx),
      advertise,
      leaseTtlSeconds: s.clusterLeaseTtl?.value ?? DEFAULT_LEASE_TTL_SECONDS,
    };
  } else if (clusterOption) {
    throw new ConfigError(
      clusterOption.key,
      "cluster mode needs the etcd endpoints (cache.cluster.etcd, FLAME_CACHE_CLUSTER_ETCD or --cluster-etcd)",
    );
  }
  return out;
}

/** `cluster` with its advertised port filled in once an ephemeral listen port (0) is bound. */
export function clusterWithBoundPort(cluster: ClusterConfig, port: number): ClusterConfig {
  const m = /^(grpc(?:\+tls)?:\/\/.*):0$/.exec(cluster.advertise);
  return m ? { ...cluster, advertise: `${m[1]}:${port}` } : { ...cluster };
}

/** Start-up log fields describing cluster mode (no credentials: none are in the configuration). */
export function clusterLogFields(cluster?: ClusterConfig, remote?: RemoteConfig): Record<string, unknown> {
  return {
    cluster: cluster
      ? {
        name: cluster.name,
        id: cluster.id,
        advertise: cluster.advertise,
        etcd: cluster.etcd,
        leaseTtl: cluster.leaseTtlSeconds,
      }
      : null,
    remote: remote
      ? {
        url: remote.url,
        endpoint: remote.endpoint ?? "AWS",
        region: remote.region,
        pathStyle: remote.pathStyle,
      }
      : null,
  };
}
