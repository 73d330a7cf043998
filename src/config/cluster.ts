/**
 * Cluster mode settings: membership in etcd (`cache.cluster`) and the shared durable tier in S3-compatible
 * storage (`cache.remote`), from the file, the environment and flags (issue 13). Parsing and validation only.
 * One table (`SETTINGS`) gives each setting its YAML key, flag, variable, help and parser; the single-value
 * parsers are in `cluster_values.ts`.
 *
 * Credentials are never configuration: the S3 client reads the standard AWS variables and shared files. URLs
 * with user info are refused, and error messages show them with the user info masked.
 *
 * @module
 */

import { formatEndpoint, interfaceAddress, type Interfaces, isUnspecifiedHost } from "./endpoint.ts";
import { ConfigError, show } from "./errors.ts";

export type { ClusterConfig, ClusterSettings, RemoteConfig };
import type { ClusterSettings, Sourced } from "./layer.ts";
import type { ClusterConfig, HostPort, RemoteConfig } from "./types.ts";
import {
  parseAdvertise,
  parseBool,
  parseEtcdList,
  parseLeaseTtl,
  parseMemberName,
  parseRegion,
  parseS3Endpoint,
  parseS3Url,
} from "./cluster_values.ts";
import type { FlagSpec } from "./flags.ts";

/** Default cluster name (the etcd key prefix is `/flame-cache/flame/`). */
export const DEFAULT_CLUSTER_NAME = "flame";
/** Default lease TTL in seconds. */
export const DEFAULT_LEASE_TTL_SECONDS = 10;
/** Region used when none is configured anywhere (AWS's default). */
export const DEFAULT_REMOTE_REGION = "us-east-1";

/**
 * One cluster setting: where it lives in the file (`cache.SECTION.KEY`), its flag (`--FLAG`) and variable
 * (`FLAME_CACHE_` + the flag in upper snake case), its help, and its parser.
 */
interface SettingSpec {
  field: keyof ClusterSettings;
  section: "cluster" | "remote";
  yamlKey: string;
  flag: string;
  /** Value placeholder in `--help`; absent for the boolean flag. */
  arg?: string;
  /** Short name of what it sets (environment section of `--help`). */
  what: string;
  help: string;
  default: string;
  parse: (value: unknown, key: string) => unknown;
}

const SETTINGS: SettingSpec[] = [
  {
    field: "clusterEtcd",
    section: "cluster",
    yamlKey: "etcd",
    flag: "cluster-etcd",
    arg: "URLS",
    what: "etcd endpoints",
    help: "etcd v3 endpoints, comma-separated: turns on cluster mode (needs --remote)",
    default: "off (single node)",
    parse: parseEtcdList,
  },
  {
    field: "clusterName",
    section: "cluster",
    yamlKey: "name",
    flag: "cluster-name",
    arg: "NAME",
    what: "cluster name",
    help: "cluster name (etcd key prefix /flame-cache/NAME/)",
    default: DEFAULT_CLUSTER_NAME,
    parse: (v, key) => parseMemberName(v, key, "cluster name"),
  },
  {
    field: "clusterId",
    section: "cluster",
    yamlKey: "id",
    flag: "cluster-id",
    arg: "ID",
    what: "member id",
    help: "this replica's member id",
    default: "the host name",
    parse: (v, key) => parseMemberName(v, key, "member id"),
  },
  {
    field: "clusterAdvertise",
    section: "cluster",
    yamlKey: "advertise",
    flag: "cluster-advertise",
    arg: "URI",
    what: "peer address",
    help: "how peers reach this replica",
    default: "the listen address (network_interface IPv4 when it is 0.0.0.0)",
    parse: parseAdvertise,
  },
  {
    field: "clusterLeaseTtl",
    section: "cluster",
    yamlKey: "lease_ttl",
    flag: "cluster-lease-ttl",
    arg: "SECONDS",
    what: "lease TTL seconds",
    help: "membership lease TTL",
    default: String(DEFAULT_LEASE_TTL_SECONDS),
    parse: parseLeaseTtl,
  },
  {
    field: "remoteUrl",
    section: "remote",
    yamlKey: "url",
    flag: "remote",
    arg: "URL",
    what: "S3 tier s3://BUCKET/PREFIX",
    help: "shared durable tier s3://BUCKET[/PREFIX] (credentials: AWS variables or files)",
    default: "off",
    parse: parseS3Url,
  },
  {
    field: "remoteEndpoint",
    section: "remote",
    yamlKey: "endpoint",
    flag: "remote-endpoint",
    arg: "URL",
    what: "S3 endpoint",
    help: "S3 endpoint URL, e.g. http://seaweedfs:8333",
    default: "AWS",
    parse: parseS3Endpoint,
  },
  {
    field: "remoteRegion",
    section: "remote",
    yamlKey: "region",
    flag: "remote-region",
    arg: "REGION",
    what: "S3 region",
    help: "S3 signing region",
    default: `AWS_REGION, AWS_DEFAULT_REGION, ${DEFAULT_REMOTE_REGION}`,
    parse: parseRegion,
  },
  {
    field: "remotePathStyle",
    section: "remote",
    yamlKey: "path_style",
    flag: "remote-path-style",
    what: "path-style S3",
    help: "path-style S3 addressing (most self-hosted S3 services)",
    default: "off",
    parse: parseBool,
  },
];

const envName = (flag: string) => `FLAME_CACHE_${flag.toUpperCase().replaceAll("-", "_")}`;

/** Command-line flags of cluster mode, for `--help` and the argument parser. */
export const CLUSTER_FLAGS: FlagSpec[] = SETTINGS.map((s) => ({
  name: s.flag,
  type: s.arg ? "string" : "boolean",
  ...(s.arg ? { arg: s.arg } : {}),
  scope: "serve",
  help: s.help,
  default: s.default,
  env: envName(s.flag),
}));

/** Environment variables of cluster mode, for `--help`. */
export const CLUSTER_ENV_VARS: { name: string; setting: string; default: string }[] = SETTINGS.map((s) => ({
  name: envName(s.flag),
  setting: `${s.what} (cache.${s.section}.${s.yamlKey})`,
  default: s.default,
}));

/** Parse `value` for `spec` and store it in `layer`, tagged with `key`. */
function setIn(layer: Partial<ClusterSettings>, spec: SettingSpec, value: unknown, key: string): void {
  (layer as Record<string, Sourced<unknown>>)[spec.field] = { value: spec.parse(value, key), key };
}

const isSet = (v: unknown) => v !== undefined && v !== null;

/**
 * The `cache.cluster` and `cache.remote` sections of the configuration file as a layer. YAML `null` (an empty
 * value) means "not set"; unknown keys inside the sections are reported in `warnings`.
 *
 * @throws {ConfigError} naming the `cache.cluster.*` or `cache.remote.*` key
 */
export function clusterFileLayer(
  cache: Record<string, unknown>,
  warnings: string[],
): Partial<ClusterSettings> {
  const layer: Partial<ClusterSettings> = {};
  for (const section of ["cluster", "remote"] as const) {
    if (!isSet(cache[section])) continue;
    const specs = SETTINGS.filter((s) => s.section === section);
    const raw = cache[section];
    if (typeof raw !== "object" || Array.isArray(raw)) {
      const keys = specs.map((s) => s.yamlKey).join(", ");
      throw new ConfigError(`cache.${section}`, `expected a mapping (${keys}), got ${show(raw)}`);
    }
    const map = raw as Record<string, unknown>;
    for (const k of Object.keys(map)) {
      if (!specs.some((s) => s.yamlKey === k)) warnings.push(`unknown key cache.${section}.${k} (ignored)`);
    }
    for (const s of specs) {
      if (isSet(map[s.yamlKey])) setIn(layer, s, map[s.yamlKey], `cache.${section}.${s.yamlKey}`);
    }
  }
  return layer;
}

/**
 * The `FLAME_CACHE_CLUSTER_*` and `FLAME_CACHE_REMOTE*` variables as a layer (empty values are ignored).
 * `AWS_REGION` / `AWS_DEFAULT_REGION` are not read here: they are defaults below the file (see `resolveCluster`).
 *
 * @throws {ConfigError} naming the variable
 */
export function clusterEnvLayer(env: Record<string, string>): Partial<ClusterSettings> {
  const layer: Partial<ClusterSettings> = {};
  for (const s of SETTINGS) {
    const name = envName(s.flag);
    const v = env[name];
    if (v !== undefined && v.trim() !== "") setIn(layer, s, v, name);
  }
  return layer;
}

/**
 * The cluster flags as a layer. `values` maps a flag name (without dashes) to its value (`true` for the boolean
 * flag).
 *
 * @throws {ConfigError} naming the flag
 */
export function clusterFlagLayer(values: Map<string, { value: string | true }>): Partial<ClusterSettings> {
  const layer: Partial<ClusterSettings> = {};
  for (const s of SETTINGS) {
    const e = values.get(s.flag);
    if (e !== undefined) setIn(layer, s, e.value, `--${s.flag}`);
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
