/**
 * Storage URLs (`cache.storage`, `FLAME_CACHE_STORAGE`, `--storage`), following Flame's `storage::connect`.
 *
 * @module
 */

import { isAbsolute, resolve } from "node:path";
import { ConfigError, show } from "./errors.ts";
import type { StorageConfig } from "./types.ts";

/** `$FLAME_HOME` default, the base of relative `fs://` paths. */
export const DEFAULT_FLAME_HOME = "/var/lib/flame";

/** Folder (under the working directory) used when no storage is configured. */
export const DEFAULT_STORAGE_DIR = "flame-cache-data";

/** Storage used when nothing is configured: `<cwd>/flame-cache-data` (Flame's default is `none`). */
export function defaultStorage(cwd: string): StorageConfig {
  return { kind: "fs", root: resolve(cwd, DEFAULT_STORAGE_DIR) };
}

/**
 * Parse a storage setting.
 * - `none` or `""` → no persistence.
 * - `fs://X` or `file://X` → X if it starts with `/`, else `$FLAME_HOME/X` (FLAME_HOME defaults to /var/lib/flame).
 * - anything else → a filesystem path relative to `cwd`.
 *
 * @param flameHome the value of `FLAME_HOME` (undefined or "" → /var/lib/flame)
 * @throws {ConfigError} naming `key` when an `fs://` URL has no path
 */
export function parseStorage(text: string, key: string, cwd: string, flameHome?: string): StorageConfig {
  const trimmed = text.trim();
  if (trimmed === "" || trimmed.toLowerCase() === "none") return { kind: "none" };
  const m = /^(fs|file):\/\/(.*)$/i.exec(trimmed);
  if (m) {
    const rest = m[2];
    if (rest === "") throw new ConfigError(key, `storage URL ${show(text)} has no path`);
    if (isAbsolute(rest)) return { kind: "fs", root: resolve(rest) };
    const home = flameHome && flameHome !== "" ? resolve(cwd, flameHome) : DEFAULT_FLAME_HOME;
    return { kind: "fs", root: resolve(home, rest) };
  }
  if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(trimmed)) {
    throw new ConfigError(
      key,
      `unsupported storage URL ${show(text)} (use none, fs://PATH, file://PATH or a path)`,
    );
  }
  return { kind: "fs", root: resolve(cwd, trimmed) };
}
