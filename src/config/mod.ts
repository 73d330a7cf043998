/**
 * Configuration of the `flame-cache` executable: `flame-cluster.yaml` `cache:` section, environment variables and
 * command-line flags (flags > env > file > defaults).
 *
 * @module
 */

export type {
  AdminSub,
  AuthConfig,
  AuthToken,
  AuthUser,
  CacheConfig,
  ClusterConfig,
  Command,
  EvictionPolicy,
  HostPort,
  HttpAuthConfig,
  HttpAuthMode,
  LogLevel,
  RemoteConfig,
  StorageConfig,
  TlsConfig,
} from "./types.ts";
export { ConfigError } from "./errors.ts";
export { formatBytes, parseByteSize } from "./size.ts";
export { VERSION } from "./version.ts";
export { DEFAULT_MAX_MEMORY, loadConfig, type LoadOptions, withBoundPort } from "./load.ts";
export {
  DEFAULT_HOST,
  DEFAULT_PORT,
  formatEndpoint,
  formatHost,
  type Interfaces,
  isUnspecifiedHost,
  normalizeClientEndpoint,
  parseEndpointUri,
  parseHostPort,
} from "./endpoint.ts";
export { DEFAULT_FLAME_HOME, DEFAULT_STORAGE_DIR, parseStorage } from "./storage.ts";
export { ENV_VARS } from "./env.ts";
export { clusterLogFields } from "./cluster.ts";
