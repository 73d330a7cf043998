/**
 * The `flame-cache --help` text and the table of command-line flags it is generated from.
 *
 * @module
 */

import { CLUSTER_FLAGS } from "../config/cluster.ts";
import { ENV_VARS } from "../config/env.ts";
import { VERSION } from "../config/version.ts";
import type { FlagSpec } from "../config/flags.ts";

export type { FlagSpec };

/** Every flag `flame-cache` accepts. */
export const FLAGS: FlagSpec[] = [
  {
    name: "config",
    short: "c",
    type: "string",
    arg: "PATH",
    scope: "all",
    help: "configuration file (flame-cluster.yaml; only its cache: section is read)",
    default: "~/.flame/flame-cluster.yaml if it exists",
    env: "FLAME_CACHE_CONFIG",
  },
  {
    name: "listen",
    type: "string",
    arg: "HOST:PORT",
    scope: "serve",
    help: "address to bind ([::1]:9090 for IPv6, :PORT = all interfaces, port 0 = ephemeral)",
    default: "the endpoint's host:port",
  },
  {
    name: "endpoint",
    type: "string",
    arg: "URI",
    scope: "all",
    help: "advertised endpoint (grpc://, grpc+tls://, grpcs://, http://, https://)",
    default: "grpc://127.0.0.1:9090 (host: network_interface IPv4 if set)",
    env: "FLAME_CACHE_ENDPOINT",
    admin: { help: "server to talk to (URI or HOST:PORT)", default: "the configured endpoint" },
  },
  {
    name: "storage",
    type: "string",
    arg: "URL",
    scope: "serve",
    help: "none (memory only), fs://PATH (relative to $FLAME_HOME), file://PATH or a directory",
    default: "./flame-cache-data",
    env: "FLAME_CACHE_STORAGE",
  },
  {
    name: "max-memory",
    type: "string",
    arg: "SIZE",
    scope: "serve",
    help: "in-memory payload limit (binary units: 512M, 1.5G, 64KiB, bytes)",
    default: "1G",
    env: "FLAME_CACHE_MAX_MEMORY",
  },
  {
    name: "max-objects",
    type: "string",
    arg: "N",
    scope: "serve",
    help: "in-memory object count limit",
    default: "unlimited",
    env: "FLAME_CACHE_MAX_OBJECTS",
  },
  {
    name: "eviction-policy",
    type: "string",
    arg: "lru|none",
    scope: "serve",
    help: "lru evicts least recently used payloads; none never evicts",
    default: "lru",
    env: "FLAME_CACHE_EVICTION_POLICY",
  },
  {
    name: "capacity",
    type: "string",
    arg: "SIZE",
    scope: "serve",
    help: "disk budget for fs storage",
    default: "unlimited",
    env: "FLAME_CACHE_CAPACITY",
  },
  {
    name: "durability",
    type: "string",
    arg: "sync|relaxed",
    scope: "serve",
    help: "fs storage: sync acknowledges a write once on disk; relaxed once in the OS, flushed within " +
      "--flush-interval-ms (a power loss may lose that interval, never a torn object)",
    default: "sync",
    env: "FLAME_CACHE_DURABILITY",
  },
  {
    name: "flush-interval-ms",
    type: "string",
    arg: "MS",
    scope: "serve",
    help: "relaxed durability: the longest a write waits for its flush to disk",
    default: "1000",
    env: "FLAME_CACHE_FLUSH_INTERVAL_MS",
  },
  {
    name: "idle-timeout",
    type: "string",
    arg: "DURATION",
    scope: "serve",
    help: "cut off a request stream silent this long (e.g. 30s, 5m)",
    default: "300s",
    env: "FLAME_CACHE_IDLE_TIMEOUT",
  },
  {
    name: "http",
    type: "string",
    arg: "HOST:PORT",
    scope: "serve",
    help: "metrics/health HTTP port (off to disable)",
    default: "off",
    env: "FLAME_CACHE_HTTP",
  },
  {
    name: "http-auth",
    type: "string",
    arg: "none|token",
    scope: "serve",
    help:
      "token: the HTTP port (except /healthz) needs Authorization: Bearer (a gRPC token or the metrics token)",
    default: "token when auth is on and --http is not loopback, else none",
  },
  {
    name: "log-level",
    type: "string",
    arg: "LEVEL",
    scope: "all",
    help: "debug, info, warn or error",
    default: "info",
    env: "FLAME_LOG",
  },
  ...CLUSTER_FLAGS,
  { name: "json", type: "boolean", scope: "admin", help: "machine-readable JSON output" },
  {
    name: "output",
    short: "o",
    type: "string",
    arg: "FILE",
    scope: "admin",
    help: "get: write the object to FILE",
    default: "stdout",
  },
  { name: "help", short: "h", type: "boolean", scope: "all", help: "show this help" },
  { name: "version", short: "V", type: "boolean", scope: "all", help: "show the version" },
];

function flagLines(section: "serve" | "admin"): string[] {
  const rows = FLAGS.filter((f) => f.scope === "all" || f.scope === section).map((f) => {
    const names = `${f.short ? `-${f.short}, ` : "    "}--${f.name}${f.arg ? ` ${f.arg}` : ""}`;
    const { help, default: dflt } = section === "admin" && f.admin ? f.admin : f;
    const env = section === "admin" && f.admin ? undefined : f.env;
    const extra = [dflt ? `default: ${dflt}` : "", env ? `env: ${env}` : ""].filter(Boolean).join("; ");
    return { names, help, extra };
  });
  const width = Math.max(...rows.map((r) => r.names.length)) + 2;
  return rows.flatMap((r) => {
    const first = `  ${r.names.padEnd(width)}${r.help}`;
    return r.extra ? [first, `  ${"".padEnd(width)}  [${r.extra}]`] : [first];
  });
}

/** The full `--help` text: usage, every flag and environment variable with its default, and precedence. */
export function helpText(): string {
  const envWidth = Math.max(...ENV_VARS.map((e) => e.name.length)) + 2;
  return [
    `flame-cache ${VERSION} - Arrow Flight object cache for Flame`,
    "",
    "USAGE",
    "  flame-cache [serve] [OPTIONS]              run the cache server (the default command)",
    "  flame-cache ls [PREFIX] [--json]           list objects (PREFIX: APP or APP/SESSION)",
    "  flame-cache stat KEY [--json]              show an object's metadata (KEY: APP/SESSION/OBJECT)",
    "  flame-cache get KEY [-o FILE]              download an object (to stdout by default)",
    "  flame-cache put APP/SESSION[/OBJECT] FILE  upload FILE as an object (APP/SESSION: a new object id)",
    "  flame-cache rm KEY|PREFIX [--json]         delete an object, or every object under APP/SESSION or APP/*;",
    "                                             says when nothing matched (still exit 0: deletes are idempotent)",
    "  flame-cache migrate --storage PATH --remote S3URL   upload a stopped node's folder into a cluster's tier",
    "  flame-cache help | version",
    "",
    "SERVER OPTIONS (serve, migrate)",
    ...flagLines("serve"),
    "",
    "ADMIN OPTIONS (ls, stat, get, put, rm)",
    ...flagLines("admin"),
    "",
    "ENVIRONMENT (empty values are ignored)",
    ...ENV_VARS.map((e) => `  ${e.name.padEnd(envWidth)}${e.setting} [default: ${e.default}]`),
    "",
    "CONFIGURATION FILE (flame-cluster.yaml, cache: section; other sections are ignored)",
    "  endpoint, network_interface (interface name regex; its IPv4 is advertised), storage,",
    "  eviction.{policy,max_memory,max_objects}, tls.{cert_file,key_file,ca_file (client certs)},",
    "  capacity, durability (sync|relaxed), flush_interval_ms, http, http_auth, metrics_token_file, log_level,",
    "  auth.{tokens_file,token_env,users,tokens_per_user},",
    "  cluster.{etcd,name,id,advertise,lease_ttl}, remote.{url,endpoint,region,path_style}",
    "S3 credentials are never configuration: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or ~/.aws files.",
    "",
    "Precedence: flags > environment > configuration file > defaults.",
    "Default server: listen 127.0.0.1:9090, endpoint grpc://127.0.0.1:9090, storage ./flame-cache-data.",
    "Configuration errors exit with code 2.",
  ].join("\n");
}
