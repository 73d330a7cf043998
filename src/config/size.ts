/**
 * Byte sizes: parsing `max_memory` / `capacity` values ("1G", "512M", "1.5GiB", "1000") and formatting sizes for
 * humans ("1.5 GiB").
 *
 * @module
 */

import { ConfigError, show } from "./errors.ts";

const UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  k: 2 ** 10,
  kb: 2 ** 10,
  ki: 2 ** 10,
  kib: 2 ** 10,
  m: 2 ** 20,
  mb: 2 ** 20,
  mi: 2 ** 20,
  mib: 2 ** 20,
  g: 2 ** 30,
  gb: 2 ** 30,
  gi: 2 ** 30,
  gib: 2 ** 30,
  t: 2 ** 40,
  tb: 2 ** 40,
  ti: 2 ** 40,
  tib: 2 ** 40,
  p: 2 ** 50,
  pb: 2 ** 50,
  pi: 2 ** 50,
  pib: 2 ** 50,
};

const SIZE_RE = /^(\d+(?:\.\d*)?|\.\d+)\s*([a-z]*)$/i;

/**
 * Parse a byte size like Flame's `parse_memory_size`: a decimal number, optionally followed by a unit.
 * Units are binary (1024-based) and case-insensitive: `B`, `K`/`KB`/`KI`/`KIB`, and the same for `M`, `G`, `T`,
 * `P`. No unit means bytes. Decimals are allowed ("1.5G"); the result is rounded down to whole bytes.
 * Surrounding whitespace is ignored. Unlike Flame, there is no decimal round-trip: "1G" is exactly 1073741824.
 *
 * @param text the size as written by the user
 * @param key the setting it came from, used in the error
 * @returns the size in bytes (a safe integer, >= 0)
 * @throws {ConfigError} for empty, negative or unparsable input, or sizes beyond 2^53 bytes
 */
export function parseByteSize(text: string, key: string): number {
  const trimmed = text.trim();
  const expected = 'expected a byte size such as "1G", "512M", "1.5GiB" or "1048576"';
  if (trimmed === "") throw new ConfigError(key, `empty size (${expected})`);
  const m = SIZE_RE.exec(trimmed);
  if (!m) throw new ConfigError(key, `invalid size ${show(text)} (${expected})`);
  const factor = UNITS[m[2].toLowerCase()];
  if (factor === undefined) {
    throw new ConfigError(key, `unknown unit ${show(m[2])} in size ${show(text)} (use B, K, M, G, T or P)`);
  }
  const bytes = Math.floor(Number(m[1]) * factor);
  if (!Number.isSafeInteger(bytes)) throw new ConfigError(key, `size ${show(text)} is too large`);
  return bytes;
}

const FORMAT_UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];

/**
 * Format a byte count for humans with binary units and at most one decimal: `512 B`, `1 KiB`, `1.5 GiB`.
 *
 * @param n a byte count
 */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return `${n} B`;
  if (n < 0) return `-${formatBytes(-n)}`;
  if (n < 1024) return `${Math.round(n)} B`;
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < FORMAT_UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  let text = value.toFixed(1);
  if (text === "1024.0" && unit < FORMAT_UNITS.length - 1) {
    unit++;
    text = "1.0";
  }
  return `${text.endsWith(".0") ? text.slice(0, -2) : text} ${FORMAT_UNITS[unit]}`;
}
