/**
 * The `cache.tls` section: certificate, key and optional client CA, checked readable at config time.
 *
 * @module
 */

import { resolve } from "node:path";
import { ConfigError, show } from "./errors.ts";
import { expectString } from "./values.ts";
import type { TlsConfig } from "./types.ts";

/**
 * Check that `path` is a readable regular file; returns it made absolute (relative to `cwd`).
 *
 * @throws {ConfigError} naming `key`
 */
export function readableFile(path: string, key: string, cwd: string): string {
  if (path.trim() === "") throw new ConfigError(key, "empty file path");
  const abs = resolve(cwd, path);
  try {
    const info = Deno.statSync(abs);
    if (!info.isFile) throw new ConfigError(key, `${show(path)} is not a regular file`);
    Deno.openSync(abs, { read: true }).close();
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    const reason = e instanceof Deno.errors.NotFound
      ? "file not found"
      : `cannot read file: ${(e as Error).message}`;
    throw new ConfigError(key, `${show(path)}: ${reason}`);
  }
  return abs;
}

const TLS_KEYS = new Set(["cert_file", "key_file", "ca_file"]);

/**
 * Parse `cache.tls` (`cert_file` and `key_file` required, `ca_file` optional → mutual TLS). Paths are relative to
 * `cwd` and must be readable. Unknown keys are reported in `warnings`.
 *
 * @throws {ConfigError} naming `cache.tls` or `cache.tls.<key>`
 */
export function parseTlsSection(raw: unknown, prefix: string, cwd: string, warnings: string[]): TlsConfig {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw new ConfigError(prefix, `expected a mapping with cert_file and key_file, got ${show(raw)}`);
  }
  const section = raw as Record<string, unknown>;
  for (const k of Object.keys(section)) {
    if (!TLS_KEYS.has(k)) warnings.push(`unknown key ${prefix}.${k} (ignored)`);
  }
  const file = (name: string): string | undefined => {
    const v = section[name];
    if (v === undefined || v === null) return undefined;
    const key = `${prefix}.${name}`;
    return readableFile(expectString(v, key, "a file path"), key, cwd);
  };
  const certFile = file("cert_file");
  if (!certFile) throw new ConfigError(`${prefix}.cert_file`, "is required when tls is configured");
  const keyFile = file("key_file");
  if (!keyFile) throw new ConfigError(`${prefix}.key_file`, "is required when tls is configured");
  const caFile = file("ca_file");
  return caFile ? { certFile, keyFile, caFile } : { certFile, keyFile };
}
