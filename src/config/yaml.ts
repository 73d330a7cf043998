/**
 * Finding and reading `flame-cluster.yaml`, returning its `cache:` section. Other top-level keys (Flame's
 * `cluster:`, `executors:`, ...) are ignored, and none is required.
 *
 * @module
 */

import { resolve } from "node:path";
import { parse } from "yaml";
import { ConfigError, show } from "./errors.ts";

/** Which configuration file to read and which setting chose it. */
export interface ConfigFileChoice {
  /** Absolute path. */
  path: string;
  /** `--config`, `FLAME_CACHE_CONFIG` or `config` (the `$HOME/.flame/flame-cluster.yaml` default). */
  key: string;
}

/** The raw `cache:` section of a configuration file. */
export interface LoadedFile {
  path: string;
  key: string;
  /** The `cache:` mapping, or undefined when the file has none (defaults apply). */
  cache?: Record<string, unknown>;
}

/**
 * Choose the configuration file: `--config PATH`, else `FLAME_CACHE_CONFIG`, else `$HOME/.flame/flame-cluster.yaml`
 * if it exists, else none. Relative paths are resolved against `cwd`.
 *
 * @throws {ConfigError} naming `--config` or `FLAME_CACHE_CONFIG` when an explicit path does not exist
 */
export function locateConfigFile(
  flagPath: string | undefined,
  env: Record<string, string>,
  cwd: string,
): ConfigFileChoice | undefined {
  const explicit = flagPath !== undefined
    ? { path: flagPath, key: "--config" }
    : env.FLAME_CACHE_CONFIG
    ? { path: env.FLAME_CACHE_CONFIG, key: "FLAME_CACHE_CONFIG" }
    : undefined;
  if (explicit) {
    if (explicit.path.trim() === "") throw new ConfigError(explicit.key, "empty configuration file path");
    const path = resolve(cwd, explicit.path);
    let info: Deno.FileInfo;
    try {
      info = Deno.statSync(path);
    } catch (e) {
      const reason = e instanceof Deno.errors.NotFound
        ? "does not exist"
        : `cannot be read: ${(e as Error).message}`;
      throw new ConfigError(explicit.key, `configuration file ${show(explicit.path)} ${reason}`);
    }
    if (!info.isFile) {
      throw new ConfigError(explicit.key, `configuration file ${show(explicit.path)} is not a file`);
    }
    return { path, key: explicit.key };
  }
  if (!env.HOME) return undefined;
  const path = resolve(env.HOME, ".flame", "flame-cluster.yaml");
  try {
    if (Deno.statSync(path).isFile) return { path, key: "config" };
  } catch {
    // absent (or not even stat-able): no default file
  }
  return undefined;
}

/**
 * Read and parse a configuration file and return its `cache:` section.
 *
 * @throws {ConfigError} naming `choice.key` for unreadable files and YAML syntax errors (message has file and line),
 *   or `cache` when the section is not a mapping
 */
export function readConfigFile(choice: ConfigFileChoice): LoadedFile {
  let text: string;
  try {
    text = Deno.readTextFileSync(choice.path);
  } catch (e) {
    throw new ConfigError(
      choice.key,
      `cannot read configuration file ${choice.path}: ${(e as Error).message}`,
    );
  }
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (e) {
    const err = e as Error & { linePos?: { line: number; col: number }[] };
    const pos = err.linePos?.[0];
    const where = pos ? `${choice.path} line ${pos.line}, column ${pos.col}` : choice.path;
    const reason = err.message.split("\n")[0].replace(/ at line \d+, column \d+:?$/, "");
    if (err.name === "NotCapable" || err instanceof Deno.errors.PermissionDenied) {
      throw new ConfigError(
        choice.key,
        `cannot parse ${choice.path}: ${reason} (the YAML parser needs --allow-env)`,
      );
    }
    throw new ConfigError(choice.key, `YAML syntax error in ${where}: ${reason}`);
  }
  const result: LoadedFile = { path: choice.path, key: choice.key };
  if (doc === null || doc === undefined) return result;
  if (typeof doc !== "object" || Array.isArray(doc)) {
    throw new ConfigError(choice.key, `${choice.path} must contain a YAML mapping, got ${show(doc)}`);
  }
  const cache = (doc as Record<string, unknown>).cache;
  if (cache === undefined || cache === null) return result;
  if (typeof cache !== "object" || Array.isArray(cache)) {
    throw new ConfigError("cache", `expected a mapping in ${choice.path}, got ${show(cache)}`);
  }
  result.cache = cache as Record<string, unknown>;
  return result;
}
