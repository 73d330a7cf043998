/**
 * Finding and reading `flame-cluster.yaml`, returning its `cache:` section. Other top-level keys (Flame's
 * `cluster:`, `executors:`, ...) are ignored, and none is required.
 *
 * @module
 */

import { resolve } from "node:path";
import { Lexer, parse } from "yaml";
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
 * Read and parse a configuration file and return its `cache:` section. Top-level keys that look like a
 * misspelled `cache` (`cach:`, `Cache:`, `caches:`) are reported in `warnings`; other sections belong to Flame.
 *
 * @throws {ConfigError} naming `choice.key` for unreadable files and YAML syntax errors (message has file and line),
 *   or `cache` when the section is not a mapping
 */
export function readConfigFile(choice: ConfigFileChoice, warnings?: string[]): LoadedFile {
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
    const err = e as Error & { code?: string; pos?: number[]; linePos?: { line: number; col: number }[] };
    const pos = unclosedQuoteStart(text, err) ?? err.linePos?.[0];
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
  for (const key of Object.keys(doc as Record<string, unknown>)) {
    if (key !== "cache" && looksLikeCache(key)) {
      warnings?.push(`unknown top-level key ${show(key)} in ${choice.path} (ignored; did you mean cache:?)`);
    }
  }
  const cache = (doc as Record<string, unknown>).cache;
  if (cache === undefined || cache === null) return result;
  if (typeof cache !== "object" || Array.isArray(cache)) {
    throw new ConfigError("cache", `expected a mapping in ${choice.path}, got ${show(cache)}`);
  }
  result.cache = cache as Record<string, unknown>;
  return result;
}

/**
 * For an unclosed quote, the parser reports where it gave up (the end of the
 * file); the user needs the line where the quote was opened. Returns that
 * position (1-based), or undefined for other errors.
 */
function unclosedQuoteStart(
  text: string,
  err: { code?: string; pos?: number[]; message: string },
): { line: number; col: number } | undefined {
  if (err.code !== "MISSING_CHAR" || !/quote/.test(err.message) || !err.pos) return undefined;
  let offset = 0;
  let start: number | undefined;
  for (const token of new Lexer().lex(text)) {
    // One-character control tokens (document start, scalar marks) are not in the source.
    const control = token.length === 1 && token.charCodeAt(0) < 0x20 && token !== "\n" && token !== "\t";
    if (control) continue;
    if ((token[0] === '"' || token[0] === "'") && offset <= err.pos[0]) start = offset;
    offset += token.length;
  }
  if (start === undefined) return undefined;
  const before = text.slice(0, start);
  const line = before.split("\n").length;
  return { line, col: start - before.lastIndexOf("\n") };
}

/** `cach`, `Cache`, `caches`, `cahce`: within two edits of `cache`, ignoring case. */
function looksLikeCache(key: string): boolean {
  const a = key.toLowerCase();
  const b = "cache";
  if (Math.abs(a.length - b.length) > 2) return false;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length] <= 2;
}
