/**
 * Building the final `CacheConfig`: defaults < config file < environment < flags, then deriving the bind address,
 * advertised endpoint and TLS.
 *
 * @module
 */

import { networkInterfaces } from "node:os";
import { formatEndpoint, type Interfaces, resolveNetwork, type Scheme } from "./endpoint.ts";
import { clusterWithBoundPort, resolveCluster } from "./cluster.ts";
import { envLayer } from "./env.ts";
import { ConfigError } from "./errors.ts";
import { cacheSectionLayer } from "./file.ts";
import { resolveHttpAuth } from "./http_auth.ts";
import { type Layer, mergeLayers } from "./layer.ts";
import { defaultStorage } from "./storage.ts";
import type { CacheConfig } from "./types.ts";
import { DEFAULT_IDLE_TIMEOUT_MS } from "../grpc/defaults.ts";
import { locateConfigFile, readConfigFile } from "./yaml.ts";

/** Default `max_memory`: 1 GiB, exactly 2^30 bytes. */
export const DEFAULT_MAX_MEMORY = 2 ** 30;

/** Default idle request timeout: 5 minutes (the gRPC layer's default, src/grpc/defaults.ts). */
export { DEFAULT_IDLE_TIMEOUT_MS };

/** `relaxed` durability flushes writes within this long by default. */
export const DEFAULT_FLUSH_INTERVAL_MS = 1000;

/** Inputs of `loadConfig`. Everything is optional and defaults to the real process environment. */
export interface LoadOptions {
  /** Settings from command-line flags (highest precedence). */
  flags?: Layer;
  /** `--config PATH`, if given. */
  configPath?: string;
  /** Environment; defaults to `Deno.env.toObject()`. */
  env?: Record<string, string>;
  /** Network interfaces; defaults to `node:os` `networkInterfaces()`. */
  interfaces?: Interfaces;
  /** Base of relative paths; defaults to `Deno.cwd()`. */
  cwd?: string;
  /** Host name (the default cluster member id); defaults to `Deno.hostname()`. */
  hostname?: () => string;
}

/**
 * Load the configuration: locate and read the config file (if any), read the environment, apply `flags`, fill in
 * defaults and derive the endpoint.
 *
 * @throws {ConfigError} naming the offending setting
 */
export function loadConfig(options: LoadOptions = {}): CacheConfig {
  const env = options.env ?? Deno.env.toObject();
  const cwd = options.cwd ?? Deno.cwd();
  const warnings: string[] = [];

  let fileLayer: Layer = {};
  let configPath: string | undefined;
  const choice = locateConfigFile(options.configPath, env, cwd);
  if (choice) {
    const loaded = readConfigFile(choice, warnings);
    configPath = loaded.path;
    if (loaded.cache) fileLayer = cacheSectionLayer(loaded.cache, { env, cwd }, warnings);
  }
  const s = mergeLayers(fileLayer, envLayer(env, cwd), options.flags ?? {});

  // TLS: on iff the endpoint scheme says so; with no endpoint configured, a tls section alone turns it on.
  let tls = s.tls?.value;
  let defaultScheme: Scheme = "grpc";
  if (s.endpoint) {
    if (s.endpoint.value.scheme === "grpc+tls" && !tls) {
      throw new ConfigError(
        "cache.tls",
        `the endpoint from ${s.endpoint.key} uses TLS but cache.tls (cert_file, key_file) is not configured`,
      );
    }
    if (s.endpoint.value.scheme === "grpc" && tls) {
      warnings.push(
        `cache.tls is ignored because the endpoint from ${s.endpoint.key} is plaintext (use grpcs://)`,
      );
      tls = undefined;
    }
  } else if (tls) {
    defaultScheme = "grpc+tls";
  }

  const net = resolveNetwork({
    endpoint: s.endpoint,
    networkInterface: s.networkInterface,
    listen: s.listen,
    // List interfaces only when needed: it requires --allow-sys, which admin commands may not have.
    interfaces: options.interfaces ?? (s.networkInterface ? networkInterfaces() : {}),
    defaultScheme,
  });

  const config: CacheConfig = {
    listen: net.listen,
    endpoint: net.endpoint,
    storage: s.storage?.value ?? defaultStorage(cwd),
    eviction: {
      policy: s.policy?.value ?? "lru",
      maxMemory: s.maxMemory?.value ?? DEFAULT_MAX_MEMORY,
      maxObjects: s.maxObjects?.value ?? Infinity,
    },
    logLevel: s.logLevel?.value ?? "info",
    idleTimeoutMs: s.idleTimeoutMs?.value ?? DEFAULT_IDLE_TIMEOUT_MS,
    durability: s.durability?.value ?? "sync",
    flushIntervalMs: s.flushIntervalMs?.value ?? DEFAULT_FLUSH_INTERVAL_MS,
    settingKeys: {
      storage: s.storage?.key ?? "storage (default)",
      listen: s.listen?.key ?? s.endpoint?.key ?? "listen (default)",
      http: s.http?.key,
    },
    warnings,
  };
  if (tls) config.tls = tls;
  if (s.capacity) config.capacity = s.capacity.value;
  if (s.http?.value) config.http = s.http.value;
  if (s.auth) config.auth = s.auth.value;
  if (config.http) {
    config.httpAuth = resolveHttpAuth(
      s.httpAuth,
      s.metricsToken?.value,
      config.http,
      config.auth !== undefined,
    );
  }
  if (configPath) config.configPath = configPath;
  Object.assign(
    config,
    resolveCluster(s, {
      listen: net.listen,
      scheme: net.scheme,
      networkInterface: s.networkInterface,
      interfaces: () => options.interfaces ?? networkInterfaces(),
      env,
      hostname: options.hostname ?? (() => Deno.hostname()),
    }),
  );
  return config;
}

/**
 * Fill in the real port after binding an ephemeral one: returns a copy whose `listen.port` and endpoint port are
 * replaced by `port` where they were 0. Other configs are returned unchanged (as a copy).
 */
export function withBoundPort(config: CacheConfig, port: number): CacheConfig {
  const listen = config.listen.port === 0 ? { ...config.listen, port } : { ...config.listen };
  const m = /^(grpc(?:\+tls)?):\/\/(.*):(\d+)$/.exec(config.endpoint);
  let endpoint = config.endpoint;
  if (m && Number(m[3]) === 0) {
    const host = m[2].startsWith("[") ? m[2].slice(1, -1) : m[2];
    endpoint = formatEndpoint(m[1] as Scheme, host, port);
  }
  const bound = { ...config, listen, endpoint };
  if (config.cluster && config.listen.port === 0) bound.cluster = clusterWithBoundPort(config.cluster, port);
  return bound;
}
