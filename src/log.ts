/**
 * Structured logging: one JSON object per line on stderr, filtered by level.
 * Secrets never reach here: callers log key names and sizes, not headers.
 * As a second line of defence, {@link log} redacts credentials anyway (see
 * {@link redact}): fields named like `authorization`, `token`, `password`,
 * `secret` or `cookie`, and `Bearer …`/`Basic …` credentials inside any text.
 *
 * With OpenTelemetry on (`OTEL_DENO=true`, see `src/otel_probe.ts` and `src/ops/otel.ts`), lines are written through
 * `console.debug/info/warn/error` instead, which Deno exports as OTLP log
 * records with the matching severity (and prints: debug and info on stdout,
 * warn and error on stderr; `OTEL_DENO_CONSOLE=replace` exports only).
 *
 * @module
 */
import { otelEnabled } from "./otel_probe.ts";

/** Log levels, lowest first. */
export type LogLevel = "debug" | "info" | "warn" | "error";
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

let threshold = ORDER.info;

/** Set the minimum level that is written. */
export function setLogLevel(level: LogLevel): void {
  threshold = ORDER[level];
}

/** True when `level` would be written (skip building expensive fields otherwise). */
export function logEnabled(level: LogLevel): boolean {
  return ORDER[level] >= threshold;
}

const encoder = new TextEncoder();

// --- ops: redaction of credentials and OTel log export -------------------

/** Field names whose string values are never written (lower-case, `-`/`_` ignored). */
const SECRET_FIELD =
  /^(authorization|proxyauthorization|cookie|setcookie|password|passwd|pass|secret|clientsecret|token|tokens|accesstoken|refreshtoken|bearer|apikey|credentials?)$/;
/**
 * `Bearer x` and `Basic x` credentials inside text. After `Basic`, only words that look like
 * base64 (a digit or symbol, or 16+ characters) count, so "Basic credentials" stays readable.
 */
const SCHEME_SECRET =
  /\b(Bearer)\s+[A-Za-z0-9._~+/=-]+|\b(Basic)\s+(?=[A-Za-z]*[0-9._~+/=-]|[A-Za-z]{16})[A-Za-z0-9._~+/=-]+/gi;
/** `authorization: x`, `token=x`, `"password":"x"` inside text (the value may start with a scheme). */
const NAMED_SECRET =
  /\b((?:proxy-)?authorization|token|password|secret)(["']?\s*[:=]\s*["']?)(?:(?:Bearer|Basic)\s+)?[^\s"',;]+/gi;
const REDACTED = "[redacted]";

/** Redact credentials inside a text (used for every string written to the log). */
export function redactText(text: string): string {
  if (!/bearer|basic|authorization|token|password|secret/i.test(text)) return text;
  return text
    .replace(NAMED_SECRET, (_m, name, sep) => `${name}${sep}${REDACTED}`)
    .replace(SCHEME_SECRET, (_m, bearer, basic) => `${bearer ?? basic} ${REDACTED}`);
}

/** JSON.stringify replacer: bigints as strings, errors as messages, credentials redacted. */
export function redact(key: string, value: unknown): unknown {
  if (typeof value === "bigint") return value.toString();
  if (value instanceof Error) value = value.message;
  if (typeof value === "string") {
    if (key !== "" && SECRET_FIELD.test(key.toLowerCase().replace(/[-_]/g, ""))) return REDACTED;
    return redactText(value);
  }
  if (
    value !== null && typeof value === "object" && key !== "" &&
    SECRET_FIELD.test(key.toLowerCase().replace(/[-_]/g, ""))
  ) return REDACTED;
  return value;
}

let otelConsole: boolean | undefined;

/** True when Deno exports logs over OTLP (see `otelEnabled`): then lines go through `console`. */
function viaConsole(): boolean {
  return otelConsole ??= otelEnabled();
}
// --- end ops ------------------------------------------------------------------

/** Write one event: `{"ts", "level", "msg", ...fields}`. */
export function log(level: LogLevel, msg: string, fields: Record<string, unknown> = {}): void {
  if (ORDER[level] < threshold) return;
  const line = JSON.stringify({ ts: new Date().toISOString(), level, msg, ...fields }, redact);
  if (viaConsole()) {
    console[level](line); // ops: exported as an OTLP log record with this severity
    return;
  }
  try {
    Deno.stderr.writeSync(encoder.encode(line + "\n"));
  } catch {
    // stderr closed: nothing useful to do.
  }
}
