/**
 * Turning the `cache:` section of `flame-cluster.yaml` into a settings layer.
 *
 * @module
 */

import { parseAuthSection } from "./auth.ts";
import { clusterFileLayer } from "./cluster.ts";
import { parseEndpointUri } from "./endpoint.ts";
import { parseHttpAuthMode, readMetricsTokenFile } from "./http_auth.ts";
import { ConfigError, show } from "./errors.ts";
import type { Layer } from "./layer.ts";
import { parseStorage } from "./storage.ts";
import { parseTlsSection } from "./tls.ts";
import {
  expectString,
  parseDurability,
  parseDuration,
  parseHttp,
  parseLogLevel,
  parsePolicy,
  parsePositiveInt,
  parseSizeValue,
} from "./values.ts";

const CACHE_KEYS = new Set([
  "endpoint",
  "network_interface",
  "storage",
  "eviction",
  "tls",
  "capacity",
  "durability",
  "flush_interval_ms",
  "idle_timeout",
  "http",
  "http_auth",
  "metrics_token_file",
  "auth",
  "log_level",
  "cluster",
  "remote",
]);
const EVICTION_KEYS = new Set(["policy", "max_memory", "max_objects"]);

/** Context for resolving relative paths and reading `token_env`. */
export interface FileContext {
  env: Record<string, string>;
  cwd: string;
}

const isSet = (v: unknown) => v !== undefined && v !== null;

/**
 * Validate the `cache:` mapping and convert it to a layer. Unknown keys are accepted and reported in `warnings`.
 * YAML `null` (an empty value) means "not set". Long on purpose: one short block per `cache.*` key, in the
 * order the README documents them.
 *
 * @throws {ConfigError} naming the offending `cache.*` key
 */
export function cacheSectionLayer(
  cache: Record<string, unknown>,
  ctx: FileContext,
  warnings: string[],
): Layer {
  const layer: Layer = {};
  for (const k of Object.keys(cache)) {
    if (!CACHE_KEYS.has(k)) warnings.push(`unknown key cache.${k} (ignored)`);
  }

  if (isSet(cache.endpoint)) {
    const key = "cache.endpoint";
    layer.endpoint = {
      value: parseEndpointUri(expectString(cache.endpoint, key, "an endpoint URI"), key),
      key,
    };
  }
  if (isSet(cache.network_interface)) {
    const key = "cache.network_interface";
    const value = expectString(cache.network_interface, key, "an interface name pattern");
    if (value.trim() === "") throw new ConfigError(key, "empty interface name pattern");
    layer.networkInterface = { value, key };
  }
  if (isSet(cache.storage)) {
    const key = "cache.storage";
    const text = expectString(cache.storage, key, 'a storage URL ("none", "fs://PATH" or a path)');
    layer.storage = { value: parseStorage(text, key, ctx.cwd, ctx.env.FLAME_HOME), key };
  }

  if (isSet(cache.eviction)) {
    const ev = cache.eviction;
    if (typeof ev !== "object" || Array.isArray(ev)) {
      throw new ConfigError(
        "cache.eviction",
        `expected a mapping (policy, max_memory, max_objects), got ${show(ev)}`,
      );
    }
    const section = ev as Record<string, unknown>;
    for (const k of Object.keys(section)) {
      if (!EVICTION_KEYS.has(k)) warnings.push(`unknown key cache.eviction.${k} (ignored)`);
    }
    if (isSet(section.policy)) {
      const key = "cache.eviction.policy";
      layer.policy = { value: parsePolicy(expectString(section.policy, key, "lru or none"), key), key };
    }
    if (isSet(section.max_memory)) {
      const key = "cache.eviction.max_memory";
      layer.maxMemory = { value: parseSizeValue(section.max_memory, key), key };
    }
    if (isSet(section.max_objects)) {
      const key = "cache.eviction.max_objects";
      layer.maxObjects = { value: parsePositiveInt(section.max_objects, key), key };
    }
  }

  if (isSet(cache.capacity)) {
    const key = "cache.capacity";
    const value = parseSizeValue(cache.capacity, key);
    if (value <= 0) {
      throw new ConfigError(key, `capacity must be greater than 0, got ${show(cache.capacity)}`);
    }
    layer.capacity = { value, key };
  }
  if (isSet(cache.durability)) {
    const key = "cache.durability";
    layer.durability = {
      value: parseDurability(expectString(cache.durability, key, "sync or relaxed"), key),
      key,
    };
  }
  if (isSet(cache.flush_interval_ms)) {
    const key = "cache.flush_interval_ms";
    layer.flushIntervalMs = { value: parsePositiveInt(cache.flush_interval_ms, key), key };
  }
  if (isSet(cache.idle_timeout)) {
    const key = "cache.idle_timeout";
    layer.idleTimeoutMs = { value: parseDuration(cache.idle_timeout, key), key };
  }
  if (cache.http !== undefined) {
    const key = "cache.http";
    const v = cache.http;
    const value = v === null || v === false ? null : parseHttp(expectString(v, key, "HOST:PORT"), key);
    layer.http = { value, key };
  }
  if (isSet(cache.http_auth)) {
    const key = "cache.http_auth";
    layer.httpAuth = {
      value: parseHttpAuthMode(expectString(cache.http_auth, key, "none or token"), key),
      key,
    };
  }
  if (isSet(cache.metrics_token_file)) {
    const key = "cache.metrics_token_file";
    const path = expectString(cache.metrics_token_file, key, "a file path");
    layer.metricsToken = { value: readMetricsTokenFile(path, key, ctx.cwd), key };
  }
  if (isSet(cache.log_level)) {
    const key = "cache.log_level";
    layer.logLevel = { value: parseLogLevel(expectString(cache.log_level, key, "a log level"), key), key };
  }
  if (isSet(cache.tls)) {
    layer.tls = { value: parseTlsSection(cache.tls, "cache.tls", ctx.cwd, warnings), key: "cache.tls" };
  }
  if (isSet(cache.auth)) {
    layer.auth = {
      value: parseAuthSection(cache.auth, "cache.auth", ctx.env, ctx.cwd, warnings),
      key: "cache.auth",
    };
  }
  Object.assign(layer, clusterFileLayer(cache, warnings));
  return layer;
}
