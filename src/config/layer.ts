/**
 * One layer of settings (config file, environment or flags), each value tagged with the key it came from.
 * Layers are merged with later ones winning: defaults < file < environment < flags.
 *
 * @module
 */

import type { EndpointSpec } from "../grpc/endpoint.ts";
import type {
  AuthConfig,
  Durability,
  EvictionPolicy,
  HostPort,
  HttpAuthMode,
  LogLevel,
  StorageConfig,
  TlsConfig,
} from "./types.ts";

/** A value together with the setting it came from (for error messages). */
export interface Sourced<T> {
  value: T;
  key: string;
}

/** Every setting a layer can provide, already validated. */
export interface Settings {
  endpoint: Sourced<EndpointSpec>;
  networkInterface: Sourced<string>;
  listen: Sourced<HostPort>;
  storage: Sourced<StorageConfig>;
  policy: Sourced<EvictionPolicy>;
  maxMemory: Sourced<number>;
  maxObjects: Sourced<number>;
  capacity: Sourced<number>;
  durability: Sourced<Durability>;
  flushIntervalMs: Sourced<number>;
  idleTimeoutMs: Sourced<number>;
  /** `null` = explicitly turned off. */
  http: Sourced<HostPort | null>;
  httpAuth: Sourced<HttpAuthMode>;
  /** The token read from `cache.metrics_token_file`. */
  metricsToken: Sourced<string>;
  logLevel: Sourced<LogLevel>;
  tls: Sourced<TlsConfig>;
  auth: Sourced<AuthConfig>;
}

/** The settings one source provides; absent keys fall through to lower layers. */
export type Layer = Partial<Settings & ClusterSettings>;

/** Merge layers, later ones winning; `undefined` entries never override. */
export function mergeLayers(...layers: Layer[]): Layer {
  const out: Record<string, unknown> = {};
  for (const layer of layers) {
    for (const [k, v] of Object.entries(layer)) if (v !== undefined) out[k] = v;
  }
  return out as Layer;
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
