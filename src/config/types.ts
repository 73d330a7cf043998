/**
 * The resolved configuration of the `flame-cache` executable and the command it was asked to run.
 *
 * @module
 */

/** TLS server identity. When `caFile` is set, the server requires client certificates signed by it (mutual TLS). */
export interface TlsConfig {
  /** PEM certificate chain (absolute path, checked readable at config time). */
  certFile: string;
  /** PEM private key (absolute path, checked readable at config time). */
  keyFile: string;
  /** PEM CA bundle used to verify client certificates; its presence turns on mutual TLS. */
  caFile?: string;
}

/** Where objects are persisted: nowhere (memory only) or under a filesystem root (absolute path). */
export type StorageConfig = { kind: "none" } | { kind: "fs"; root: string };

/** A bearer token accepted by the server. `apps` limits it to those applications (absent = all). */
export interface AuthToken {
  token: string;
  name: string;
  apps?: string[];
}

/** A basic-auth user accepted by the server. `apps` limits it to those applications (absent = all). */
export interface AuthUser {
  username: string;
  password: string;
  apps?: string[];
}

/** Credentials accepted by the server. Present only when `cache.auth` is configured (absent = auth off). */
export interface AuthConfig {
  tokens: AuthToken[];
  users: AuthUser[];
  /** Live Handshake tokens one user may hold (`cache.auth.tokens_per_user`; default 1024). */
  tokensPerUser?: number;
}

/** `none`: the HTTP side port is open; `token`: all but /healthz need `Authorization: Bearer`. */
export type HttpAuthMode = "none" | "token";

/** Access rule of the HTTP side port (`cache.http_auth`, `cache.metrics_token_file`). */
export interface HttpAuthConfig {
  mode: HttpAuthMode;
  /** A token accepted on the side port only (besides every gRPC credential). */
  metricsToken?: string;
}

/** Log levels (defined with the logger, src/log.ts). */
export type { LogLevel } from "../log.ts";
import type { LogLevel } from "../log.ts";

/** An eviction policy: `lru` evicts least recently used payloads, `none` never evicts. */
export type EvictionPolicy = "lru" | "none";

/**
 * When an fs write is acknowledged: `sync` once it is on disk (a write-ahead log flush), `relaxed` once
 * it is in the OS (flushed within `flushIntervalMs`).
 */
export type Durability = "sync" | "relaxed";

/** A host and port. `host` is never bracketed (IPv6 is `::1`, not `[::1]`). */
export interface HostPort {
  host: string;
  port: number;
}

/** Fully resolved server configuration (defaults < file < environment < flags). */
export interface CacheConfig {
  /**
   * Where to bind. `host` is unbracketed. `port` may be 0 (ephemeral) when `--listen HOST:0` was given; call
   * `withBoundPort` once the real port is known.
   */
  listen: HostPort;
  /**
   * The URI advertised in every ObjectRef and FlightInfo: scheme `grpc` or `grpc+tls`, IPv6 hosts bracketed, e.g.
   * `grpc://127.0.0.1:9090`. Its port is `0` when it follows an ephemeral listen port (see `withBoundPort`).
   */
  endpoint: string;
  /** TLS identity; present iff the endpoint scheme is `grpc+tls`. */
  tls?: TlsConfig;
  /** Persistence. Default: `{ kind: "fs", root: "<cwd>/flame-cache-data" }`. */
  storage: StorageConfig;
  /** In-memory limits. Defaults: lru, 1 GiB (2^30 bytes), no object limit (`Infinity`). */
  eviction: { policy: EvictionPolicy; maxMemory: number; maxObjects: number };
  /** Disk budget in bytes, if configured. */
  capacity?: number;
  /** When fs writes are acknowledged (`cache.durability`). Default `sync`. */
  durability: Durability;
  /** `relaxed`: the longest a write waits for its flush (`cache.flush_interval_ms`). Default 1000. */
  flushIntervalMs: number;
  /** A request stream that sends nothing for this long is cut off (DEADLINE_EXCEEDED). Default 300 s. */
  idleTimeoutMs: number;
  /** Metrics/health HTTP side port; off when absent. `port` may be 0 (ephemeral). */
  http?: HostPort;
  /** Side port access; absent = open (`none`). */
  httpAuth?: HttpAuthConfig;
  /** Accepted credentials; auth is off when absent. */
  auth?: AuthConfig;
  /** Cluster membership (etcd); absent = a single node. Requires `remote`. */
  cluster?: ClusterConfig;
  /** The shared durable tier (S3-compatible storage); absent = local storage only. */
  remote?: RemoteConfig;
  /** Log level, default `info`. */
  logLevel: LogLevel;
  /** The configuration file actually read, if any (absolute path). */
  configPath?: string;
  /** The settings `storage`, `listen` and `http` came from (e.g. `--storage`), for start-up errors. */
  settingKeys?: { storage: string; listen: string; http?: string };
  /** Non-fatal problems to log at startup (unknown keys, ignored settings). */
  warnings: string[];
}

/** An admin subcommand of `flame-cache`. */
export type AdminSub = "ls" | "stat" | "get" | "put" | "rm";

/** What `flame-cache` was asked to do. */
export type Command =
  | { name: "serve"; config: CacheConfig }
  /** Upload a single node's folder (`storage`) into the shared tier (`remote`). */
  | { name: "migrate"; config: CacheConfig }
  | { name: "help"; text: string }
  | { name: "version"; text: string }
  | {
    name: "admin";
    sub: AdminSub;
    /** Positional arguments after the subcommand (already count-checked). */
    args: string[];
    /** Server to talk to: `--endpoint`, else the configuration's advertised endpoint. Scheme grpc or grpc+tls. */
    endpoint: string;
    /** `--json`: machine-readable output. */
    json: boolean;
    /** `get -o FILE`: write the object there instead of stdout. */
    output?: string;
    config: CacheConfig;
  };

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
