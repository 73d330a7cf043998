/**
 * Parsers for single settings that may come from the file, the environment or a flag. Each takes the raw value
 * and the key it came from, and throws `ConfigError(key)` when it is bad.
 *
 * @module
 */

import { parseHostPort } from "./endpoint.ts";
import { ConfigError, show } from "./errors.ts";
import { parseByteSize } from "./size.ts";
import type { Durability, EvictionPolicy, HostPort, LogLevel } from "./types.ts";

/** `lru` or `none` (case-insensitive). Unlike Flame, anything else is an error rather than LRU. */
export function parsePolicy(text: string, key: string): EvictionPolicy {
  const v = text.trim().toLowerCase();
  if (v === "lru" || v === "none") return v;
  throw new ConfigError(key, `invalid eviction policy ${show(text)} (expected lru or none)`);
}

/** `sync` or `relaxed` (case-insensitive): when an fs write is acknowledged. */
export function parseDurability(text: string, key: string): Durability {
  const v = text.trim().toLowerCase();
  if (v === "sync" || v === "relaxed") return v;
  throw new ConfigError(key, `invalid durability ${show(text)} (expected sync or relaxed)`);
}

/** A byte size from a string ("1G") or, in YAML, a non-negative integer number of bytes. */
export function parseSizeValue(value: unknown, key: string): number {
  if (typeof value === "number") {
    if (Number.isSafeInteger(value) && value >= 0) return value;
    throw new ConfigError(
      key,
      `invalid size ${show(value)} (expected a whole number of bytes or a string like "1G")`,
    );
  }
  if (typeof value === "string") return parseByteSize(value, key);
  throw new ConfigError(key, `expected a size such as "1G" or a number of bytes, got ${show(value)}`);
}

/** A positive integer (YAML number or decimal string). */
export function parsePositiveInt(value: unknown, key: string): number {
  let n: number | undefined;
  if (typeof value === "number") n = value;
  else if (typeof value === "string" && /^\s*\d+\s*$/.test(value)) n = Number(value.trim());
  if (n === undefined || !Number.isSafeInteger(n) || n < 1) {
    throw new ConfigError(key, `invalid value ${show(value)} (expected a positive integer)`);
  }
  return n;
}

/**
 * A duration: `500ms`, `30s`, `5m`, `1h`, or a bare number of seconds. Returns milliseconds (> 0).
 */
export function parseDuration(value: unknown, key: string): number {
  const text = typeof value === "number" ? String(value) : typeof value === "string" ? value.trim() : "";
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/i.exec(text);
  const unit: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  const ms = m ? Number(m[1]) * unit[(m[2] ?? "s").toLowerCase()] : NaN;
  if (!Number.isFinite(ms) || ms <= 0) {
    throw new ConfigError(key, `invalid duration ${show(value)} (expected e.g. 30s, 500ms, 5m)`);
  }
  return Math.round(ms);
}

/** `debug`, `info`, `warn` (or `warning`) or `error`, case-insensitive. */
export function parseLogLevel(text: string, key: string): LogLevel {
  const v = text.trim().toLowerCase();
  if (v === "debug" || v === "info" || v === "warn" || v === "error") return v;
  if (v === "warning") return "warn";
  throw new ConfigError(key, `invalid log level ${show(text)} (expected debug, info, warn or error)`);
}

/** The metrics side port: `HOST:PORT` (`:PORT` = all interfaces), or `off`/`none`/`""` to disable it (null). */
export function parseHttp(text: string, key: string): HostPort | null {
  const v = text.trim().toLowerCase();
  if (v === "" || v === "off" || v === "none" || v === "false") return null;
  return parseHostPort(text, key, true);
}

/** Require a string (YAML values); `what` describes the expected content for the error. */
export function expectString(value: unknown, key: string, what = "a string"): string {
  if (typeof value !== "string") throw new ConfigError(key, `expected ${what}, got ${show(value)}`);
  return value;
}
