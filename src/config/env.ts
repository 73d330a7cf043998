/**
 * Environment variables as a settings layer. Empty values are ignored; unlike Flame, a bad value is an error.
 *
 * @module
 */

import { CLUSTER_ENV_VARS, clusterEnvLayer } from "./cluster.ts";
import { parseEndpointUri } from "./endpoint.ts";
import { ConfigError, show } from "./errors.ts";
import type { Layer } from "./layer.ts";
import { parseByteSize } from "./size.ts";
import { parseStorage } from "./storage.ts";
import {
  parseDurability,
  parseDuration,
  parseHttp,
  parseLogLevel,
  parsePolicy,
  parsePositiveInt,
} from "./values.ts";

/** Environment variables read by flame-cache, with what they set (for `--help`). */
export const ENV_VARS: { name: string; setting: string; default: string }[] = [
  {
    name: "FLAME_CACHE_CONFIG",
    setting: "configuration file (--config)",
    default: "~/.flame/flame-cluster.yaml",
  },
  {
    name: "FLAME_CACHE_ENDPOINT",
    setting: "advertised endpoint (cache.endpoint)",
    default: "grpc://127.0.0.1:9090",
  },
  { name: "FLAME_CACHE_STORAGE", setting: "storage (cache.storage)", default: "./flame-cache-data" },
  { name: "FLAME_CACHE_EVICTION_POLICY", setting: "eviction policy (cache.eviction.policy)", default: "lru" },
  { name: "FLAME_CACHE_MAX_MEMORY", setting: "memory limit (cache.eviction.max_memory)", default: "1G" },
  {
    name: "FLAME_CACHE_MAX_OBJECTS",
    setting: "object limit (cache.eviction.max_objects)",
    default: "unlimited",
  },
  { name: "FLAME_CACHE_CAPACITY", setting: "disk budget (cache.capacity)", default: "unlimited" },
  {
    name: "FLAME_CACHE_DURABILITY",
    setting: "when fs writes are acknowledged (cache.durability)",
    default: "sync",
  },
  {
    name: "FLAME_CACHE_FLUSH_INTERVAL_MS",
    setting: "relaxed durability's flush interval (cache.flush_interval_ms)",
    default: "1000",
  },
  { name: "FLAME_CACHE_IDLE_TIMEOUT", setting: "idle request timeout (cache.idle_timeout)", default: "300s" },
  { name: "FLAME_CACHE_HTTP", setting: "metrics/health HTTP port (cache.http)", default: "off" },
  { name: "FLAME_LOG", setting: "log level (cache.log_level)", default: "info" },
  { name: "FLAME_HOME", setting: "base of relative fs:// storage paths", default: "/var/lib/flame" },
  ...CLUSTER_ENV_VARS,
];

/**
 * Read the `FLAME_CACHE_*` and `FLAME_LOG` variables into a layer.
 *
 * @throws {ConfigError} naming the variable
 */
export function envLayer(env: Record<string, string>, cwd: string): Layer {
  const layer: Layer = {};
  const get = (name: string): string | undefined => {
    const v = env[name];
    return v === undefined || v.trim() === "" ? undefined : v;
  };
  let v: string | undefined;
  if ((v = get("FLAME_CACHE_ENDPOINT")) !== undefined) {
    layer.endpoint = { value: parseEndpointUri(v, "FLAME_CACHE_ENDPOINT"), key: "FLAME_CACHE_ENDPOINT" };
  }
  if ((v = get("FLAME_CACHE_STORAGE")) !== undefined) {
    const key = "FLAME_CACHE_STORAGE";
    layer.storage = { value: parseStorage(v, key, cwd, env.FLAME_HOME), key };
  }
  if ((v = get("FLAME_CACHE_EVICTION_POLICY")) !== undefined) {
    layer.policy = {
      value: parsePolicy(v, "FLAME_CACHE_EVICTION_POLICY"),
      key: "FLAME_CACHE_EVICTION_POLICY",
    };
  }
  if ((v = get("FLAME_CACHE_MAX_MEMORY")) !== undefined) {
    layer.maxMemory = { value: parseByteSize(v, "FLAME_CACHE_MAX_MEMORY"), key: "FLAME_CACHE_MAX_MEMORY" };
  }
  if ((v = get("FLAME_CACHE_MAX_OBJECTS")) !== undefined) {
    layer.maxObjects = {
      value: parsePositiveInt(v, "FLAME_CACHE_MAX_OBJECTS"),
      key: "FLAME_CACHE_MAX_OBJECTS",
    };
  }
  if ((v = get("FLAME_CACHE_CAPACITY")) !== undefined) {
    const key = "FLAME_CACHE_CAPACITY";
    const value = parseByteSize(v, key);
    if (value <= 0) throw new ConfigError(key, `capacity must be greater than 0, got ${show(v)}`);
    layer.capacity = { value, key };
  }
  if ((v = get("FLAME_CACHE_DURABILITY")) !== undefined) {
    const key = "FLAME_CACHE_DURABILITY";
    layer.durability = { value: parseDurability(v, key), key };
  }
  if ((v = get("FLAME_CACHE_FLUSH_INTERVAL_MS")) !== undefined) {
    const key = "FLAME_CACHE_FLUSH_INTERVAL_MS";
    layer.flushIntervalMs = { value: parsePositiveInt(v, key), key };
  }
  if ((v = get("FLAME_CACHE_IDLE_TIMEOUT")) !== undefined) {
    layer.idleTimeoutMs = {
      value: parseDuration(v, "FLAME_CACHE_IDLE_TIMEOUT"),
      key: "FLAME_CACHE_IDLE_TIMEOUT",
    };
  }
  if ((v = get("FLAME_CACHE_HTTP")) !== undefined) {
    layer.http = { value: parseHttp(v, "FLAME_CACHE_HTTP"), key: "FLAME_CACHE_HTTP" };
  }
  if ((v = get("FLAME_LOG")) !== undefined) {
    layer.logLevel = { value: parseLogLevel(v, "FLAME_LOG"), key: "FLAME_LOG" };
  }
  Object.assign(layer, clusterEnvLayer(env));
  return layer;
}
