/**
 * The error type for bad configuration (file, environment or command line).
 *
 * @module
 */

/**
 * A configuration problem the user must fix. `key` names the offending setting exactly as the user wrote it:
 * a YAML path (`cache.eviction.max_memory`), an environment variable (`FLAME_CACHE_MAX_MEMORY`) or a flag
 * (`--max-memory`). The message starts with the key and includes the bad value. `main` prints the message and
 * exits with code 2.
 */
export class ConfigError extends Error {
  /** The setting that is wrong, e.g. `cache.eviction.max_memory`, `FLAME_CACHE_MAX_MEMORY` or `--max-memory`. */
  readonly key: string;

  /** @param key the offending setting; @param detail what is wrong with it (the message becomes `key: detail`). */
  constructor(key: string, detail: string) {
    super(`${key}: ${detail}`);
    this.name = "ConfigError";
    this.key = key;
  }
}

/** Quote a user-supplied value for an error message. */
export function show(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (value === undefined) return "undefined";
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
