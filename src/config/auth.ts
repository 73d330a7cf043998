/**
 * The optional `cache.auth` section: bearer tokens (from a file and/or an environment variable) and basic-auth
 * users. Absent section = auth off.
 *
 * @module
 */

import { ConfigError, show } from "./errors.ts";
import { readableFile } from "./tls.ts";
import { expectString, parsePositiveInt } from "./values.ts";
import type { AuthConfig, AuthToken, AuthUser } from "./types.ts";

const AUTH_KEYS = new Set(["tokens_file", "token_env", "users", "tokens_per_user"]);
const USER_KEYS = new Set(["username", "password", "apps"]);

function parseApps(value: unknown, key: string): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  const list = typeof value === "string"
    ? value.split(",").map((s) => s.trim())
    : Array.isArray(value)
    ? value.map((v, i) => expectString(v, `${key}[${i}]`, "an application name").trim())
    : undefined;
  if (!list) throw new ConfigError(key, `expected a list of application names, got ${show(value)}`);
  if (list.length === 0 || list.some((a) => a === "")) {
    throw new ConfigError(key, `empty application name in ${show(value)}`);
  }
  return list;
}

/**
 * Parse a tokens file: one token per line, `TOKEN [NAME] [APP1,APP2]`, whitespace-separated. Blank lines and lines
 * starting with `#` are skipped. A missing name becomes `token-<line>`.
 */
export function parseTokensFile(text: string, key: string): AuthToken[] {
  const tokens: AuthToken[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    const trimmed = line.trim();
    if (trimmed === "" || trimmed.startsWith("#")) return;
    const parts = trimmed.split(/\s+/);
    if (parts.length > 3) {
      throw new ConfigError(
        key,
        `line ${i + 1}: expected "TOKEN [NAME] [APP1,APP2]", got ${parts.length} fields`,
      );
    }
    const token: AuthToken = { token: parts[0], name: parts[1] ?? `token-${i + 1}` };
    const apps = parseApps(parts[2], `${key} line ${i + 1}`);
    if (apps) token.apps = apps;
    tokens.push(token);
  });
  return tokens;
}

/**
 * Parse `cache.auth`: `{ tokens_file?, token_env?, users?, tokens_per_user? }`.
 *
 * @param env environment used to read `token_env`
 * @throws {ConfigError} naming the offending `cache.auth...` key; also when no credential at all is defined
 */
export function parseAuthSection(
  raw: unknown,
  prefix: string,
  env: Record<string, string>,
  cwd: string,
  warnings: string[],
): AuthConfig {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw new ConfigError(
      prefix,
      `expected a mapping with tokens_file, token_env and/or users, got ${show(raw)}`,
    );
  }
  const section = raw as Record<string, unknown>;
  for (const k of Object.keys(section)) {
    if (!AUTH_KEYS.has(k)) warnings.push(`unknown key ${prefix}.${k} (ignored)`);
  }
  const tokens: AuthToken[] = [];
  const users: AuthUser[] = [];

  if (section.tokens_file !== undefined && section.tokens_file !== null) {
    const key = `${prefix}.tokens_file`;
    const path = readableFile(expectString(section.tokens_file, key, "a file path"), key, cwd);
    tokens.push(...parseTokensFile(Deno.readTextFileSync(path), key));
  }

  if (section.token_env !== undefined && section.token_env !== null) {
    const key = `${prefix}.token_env`;
    const name = expectString(section.token_env, key, "an environment variable name");
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
      throw new ConfigError(key, `invalid environment variable name ${show(name)}`);
    }
    const value = (env[name] ?? "").trim();
    if (value === "") throw new ConfigError(key, `environment variable ${name} is not set or empty`);
    tokens.push({ token: value, name });
  }

  if (section.users !== undefined && section.users !== null) {
    const key = `${prefix}.users`;
    if (!Array.isArray(section.users)) {
      throw new ConfigError(key, `expected a list, got ${show(section.users)}`);
    }
    section.users.forEach((u, i) => {
      const ukey = `${key}[${i}]`;
      if (u === null || typeof u !== "object" || Array.isArray(u)) {
        throw new ConfigError(ukey, `expected a mapping with username and password, got ${show(u)}`);
      }
      const entry = u as Record<string, unknown>;
      for (const k of Object.keys(entry)) {
        if (!USER_KEYS.has(k)) warnings.push(`unknown key ${ukey}.${k} (ignored)`);
      }
      const username = expectString(entry.username, `${ukey}.username`);
      if (username === "") throw new ConfigError(`${ukey}.username`, "must not be empty");
      const password = expectString(entry.password, `${ukey}.password`);
      const user: AuthUser = { username, password };
      const apps = parseApps(entry.apps, `${ukey}.apps`);
      if (apps) user.apps = apps;
      users.push(user);
    });
  }

  if (tokens.length === 0 && users.length === 0) {
    throw new ConfigError(
      prefix,
      "auth is configured but defines no tokens or users (remove the section to turn auth off)",
    );
  }
  const config: AuthConfig = { tokens, users };
  if (section.tokens_per_user !== undefined && section.tokens_per_user !== null) {
    config.tokensPerUser = parsePositiveInt(section.tokens_per_user, `${prefix}.tokens_per_user`);
  }
  return config;
}
