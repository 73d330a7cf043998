/**
 * Structured logging: one JSON object per line on stderr, filtered by level.
 * Secrets never reach here: callers log key names and sizes, not headers.
 *
 * @module
 */

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

/** Write one event: `{"ts", "level", "msg", ...fields}`. */
export function log(level: LogLevel, msg: string, fields: Record<string, unknown> = {}): void {
  if (ORDER[level] < threshold) return;
  const line = JSON.stringify({ ts: new Date().toISOString(), level, msg, ...fields }, (_k, v) => {
    if (typeof v === "bigint") return v.toString();
    if (v instanceof Error) return v.message;
    return v;
  });
  try {
    Deno.stderr.writeSync(encoder.encode(line + "\n"));
  } catch {
    // stderr closed: nothing useful to do.
  }
}
