/**
 * Object keys: `app/session/object` (Flame 0.6), the seed's two-part
 * `session/object`, put prefixes and delete selectors.
 *
 * Flame's rules (no empty part, no `..`, no `\`, `*` only as a delete
 * wildcard session) plus stricter ones where Flame is sloppy: no `:` (tickets
 * split on it), no lone `.`, no control characters, bounded lengths.
 *
 * @module
 */
import { invalidArgument } from "../errors.ts";
import type { KeySelector } from "../store/types.ts";

/**
 * Longest accepted key part, in UTF-8 bytes: the part becomes a file name
 * (`<part>.arrow`, `<part>.deltas`, temporary names) and those must stay under
 * the 255-byte name limit of common filesystems.
 */
export const MAX_PART_BYTES = 200;
/** Longest accepted key, in UTF-8 bytes. */
export const MAX_KEY_BYTES = 1024;

const encoder = new TextEncoder();
// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

/** Check one key part; `what` names the whole key in the error. */
export function checkPart(part: string, what: string): void {
  if (part === "") throw invalidArgument(`Invalid key '${what}': empty key component`);
  // Parts become file and folder names: a leading '.' is the storage's own
  // namespace (temporary files, .staging, .trash, .quarantine) and '.deltas'
  // names hold an object's patches.
  if (part.startsWith(".") || part.endsWith(".deltas")) {
    throw invalidArgument(
      `Invalid key component: '${part}' in '${what}': parts may not start with '.' or end with '.deltas'`,
    );
  }
  if (part.includes("..")) {
    throw invalidArgument(`Invalid key component: '${part}' in '${what}'`);
  }
  if (part.includes("\\") || part.includes("/")) {
    throw invalidArgument(`Invalid key component: '${part}' in '${what}'`);
  }
  if (part.includes(":")) {
    throw invalidArgument(`Invalid key component: '${part}' in '${what}': ':' is not allowed in keys`);
  }
  if (CONTROL.test(part)) {
    throw invalidArgument(
      `Invalid key component in '${printable(what)}': control characters are not allowed`,
    );
  }
  if (part === "*") {
    throw invalidArgument(`Invalid key '${what}': wildcard '*' only allowed as the session of a delete`);
  }
  if (utf8Longer(part, MAX_PART_BYTES)) {
    throw invalidArgument(`Invalid key component in '${what}': longer than ${MAX_PART_BYTES} bytes`);
  }
}

/** True when `s` takes more than `max` bytes in UTF-8 (encoded only when it might: a key is parsed per call). */
function utf8Longer(s: string, max: number): boolean {
  // A UTF-16 code unit takes at most 3 bytes in UTF-8.
  return s.length * 3 > max && encoder.encode(s).length > max;
}

function split(path: string): string[] {
  if (utf8Longer(path, MAX_KEY_BYTES)) {
    throw invalidArgument(
      `Invalid key '${printable(path.slice(0, 64))}…': longer than ${MAX_KEY_BYTES} bytes`,
    );
  }
  return path.split("/");
}

/** Escape control characters for an error message. */
function printable(s: string): string {
  return JSON.stringify(s).slice(1, -1);
}

/**
 * A full object key for get and update: `app/session/object` or the seed's
 * `session/object` (`threePartsOnly` for patches, which Flame 0.6 introduced).
 * Returns the key unchanged.
 */
export function parseObjectKey(path: string, threePartsOnly = false): string {
  const parts = split(path);
  if (parts.length !== 3 && (threePartsOnly || parts.length !== 2)) {
    throw invalidArgument(`Invalid key '${printable(path)}': expected '<app>/<session>/<object>'`);
  }
  for (const p of parts) checkPart(p, path);
  return path;
}

/** Where a put goes: an explicit key, or a prefix the server adds an id to. */
export interface PutTarget {
  /** `app/session` or the seed's `session` when the server picks the id. */
  prefix: string;
  /** Full key when the client named the object. */
  key?: string;
}

/**
 * A DoPut descriptor path: `app/session` (new object), `app/session/object`
 * (replace) or the seed's one-segment `session` (new object `session/<uuid>`).
 */
export function parsePutPath(path: string): PutTarget {
  const parts = split(path);
  if (parts.length === 2 && parts[1] === "*") {
    throw invalidArgument(`Invalid key '${printable(path)}': cannot put into wildcard session '*'`);
  }
  if (parts.length < 1 || parts.length > 3) {
    throw invalidArgument(
      `Invalid path '${printable(path)}': expected '<app>/<session>' or '<app>/<session>/<object>'`,
    );
  }
  for (const p of parts) checkPart(p, path);
  return parts.length === 3 ? { prefix: parts.slice(0, 2).join("/"), key: path } : { prefix: path };
}

/** A new object key under `prefix` with a random UUIDv4 id, as Flame does. */
export function newObjectKey(prefix: string): string {
  return `${prefix}/${crypto.randomUUID()}`;
}

/**
 * What a DELETE (or a listing) applies to: `app/session/object` (exact),
 * `app/session` (the session, and a seed key of that name), `app/*` (the app),
 * or a single segment (everything under it: a seed session or an app).
 */
export function parseSelector(path: string): KeySelector {
  const parts = split(path);
  if (parts.length < 1 || parts.length > 3) {
    throw invalidArgument(
      `Invalid path '${
        printable(path)
      }': expected '<app>/<session>', '<app>/*' or '<app>/<session>/<object>'`,
    );
  }
  if (parts.length === 2 && parts[1] === "*") {
    checkPart(parts[0], path);
    return { value: parts[0], exact: false };
  }
  if (parts.length === 3 && parts[1] === "*") {
    throw invalidArgument(`Invalid key '${printable(path)}': wildcard session '*' cannot have an object id`);
  }
  for (const p of parts) checkPart(p, path);
  return { value: path, exact: parts.length === 3 };
}
