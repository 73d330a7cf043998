/**
 * Where each object lives on disk (Flame's DiskStorage layout) and the names of the engine's own
 * files: temp files, the trash and the quarantine.
 *
 * ```
 * {root}/{app}/{session}/{object}.arrow             base of key app/session/object
 * {root}/{app}/{session}/{object}.deltas/{n}.arrow  patch n (decimal, no padding: 0, 1, 2, ...)
 * {root}/{session}/{object}.arrow                   base of a two-part key session/object (seed layout)
 * {root}/{session}/{object}.deltas/{n}.arrow        its patches
 * {root}/.trash/...                                 renamed-away data being deleted (wiped at start-up)
 * {root}/.quarantine/...                            damaged files, moved aside with their relative path
 * {root}/.staging/{hex}.staged                      large uploads being received (removed at start-up)
 * {root}/.wal/{seq}.log                             write-ahead log segments (replayed at start-up, removed
 *                                                   on a clean stop: _wal.ts)
 * .{name}.tmp-{12 hex}                              a file being written (removed at start-up)
 * ```
 *
 * @module
 */
import { invalidArgument } from "../../errors.ts";

/** Extension of object and patch files. */
export const ARROW_EXT = ".arrow";
/** Suffix of the folder holding an object's patches. */
export const DELTAS_EXT = ".deltas";
/** Root folder of data being deleted. */
export const TRASH_DIR = ".trash";
/** Root folder of damaged files. */
export const QUARANTINE_DIR = ".quarantine";
/** Root folder of payloads being uploaded (_staging.ts). */
export const STAGING_DIR = ".staging";
/** Root folder of the write-ahead log (_wal.ts). */
export const WAL_DIR = ".wal";
/** Top-level names that are the engine's own and never hold objects. */
export const RESERVED: ReadonlySet<string> = new Set([TRASH_DIR, QUARANTINE_DIR, STAGING_DIR, WAL_DIR]);

/** Longest file name most filesystems accept, in bytes. */
const NAME_MAX = 255;
const encoder = new TextEncoder();

/** Paths of one object. */
export interface ObjectPaths {
  /** Folder holding the base file (session folder). */
  dir: string;
  /** Base file name, `{object}.arrow`. */
  baseName: string;
  /** Full path of the base file. */
  base: string;
  /** Folder of the patches, `{object}.deltas`. */
  deltas: string;
  /** Base path relative to the root, for logs and quarantine names. */
  rel: string;
}

/**
 * Paths of `key` (`app/session/object` or `session/object`) under `root`. Throws INVALID_ARGUMENT for
 * other shapes and for keys that would land in the engine's reserved folders.
 */
export function objectPaths(root: string, key: string): ObjectPaths {
  const parts = key.split("/");
  if (parts.length !== 2 && parts.length !== 3) {
    throw invalidArgument(`key ${JSON.stringify(key)} must be app/session/object or session/object`);
  }
  if (RESERVED.has(parts[0])) throw invalidArgument(`key ${JSON.stringify(key)} uses a reserved name`);
  const object = parts[parts.length - 1];
  const relDir = parts.slice(0, -1).join("/");
  const baseName = object + ARROW_EXT;
  const dir = `${root}/${relDir}`;
  return {
    dir,
    baseName,
    base: `${dir}/${baseName}`,
    deltas: `${dir}/${object}${DELTAS_EXT}`,
    rel: `${relDir}/${baseName}`,
  };
}

/**
 * INVALID_ARGUMENT when a folder or file name of `paths` is longer than file systems accept (checked
 * before a put is logged, since its file is only created later).
 */
export function checkNameLengths(key: string, paths: ObjectPaths): void {
  const object = paths.baseName.slice(0, -ARROW_EXT.length);
  const names = [...paths.rel.split("/").slice(0, -1), paths.baseName, object + DELTAS_EXT];
  if (names.some((n) => encoder.encode(n).length > NAME_MAX)) {
    throw invalidArgument(`could not store ${key}: a key part is too long for the file system`);
  }
}

/** True for keys this engine can store (two or three parts, no reserved first part). */
export function isStorableKey(key: string): boolean {
  const parts = key.split("/");
  return (parts.length === 2 || parts.length === 3) && !RESERVED.has(parts[0]);
}

/** File name of patch number `n`. */
export function deltaName(n: number): string {
  return `${n}${ARROW_EXT}`;
}

/** The patch number of a patch file name, or -1 when its stem is not a plain decimal number. */
export function deltaNumber(name: string): number {
  const stem = name.slice(0, -ARROW_EXT.length);
  if (!/^[0-9]{1,15}$/.test(stem)) return -1;
  return Number(stem);
}

/** A random lowercase hex string of `n` characters. */
export function randomHex(n: number): string {
  const bytes = crypto.getRandomValues(new Uint8Array(Math.ceil(n / 2)));
  let s = "";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return s.slice(0, n);
}

/**
 * Name of a temp file that will be renamed to `finalName`: `.{finalName}.tmp-{12 hex}`, or
 * `.tmp-{12 hex}` when that would exceed the file name limit. Never ends in `.arrow`.
 */
export function tempName(finalName: string): string {
  const suffix = `tmp-${randomHex(12)}`;
  const name = `.${finalName}.${suffix}`;
  return encoder.encode(name).length <= NAME_MAX ? name : `.${suffix}`;
}

const TEMP_RE = /^\.(?:.*\.)?tmp-[0-9a-f]{12}$/s;

/** True for names made by {@link tempName}. */
export function isTempName(name: string): boolean {
  return TEMP_RE.test(name);
}

/**
 * A flat file name for `rel` in the quarantine: the relative path with `%` and `/` escaped, then
 * `~{time}-{random}` so repeated quarantines of one path never collide. Long names are cut.
 */
export function quarantineName(rel: string, now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
  const suffix = `~${stamp}-${randomHex(6)}`;
  let base = rel.replace(/%/g, "%25").replace(/\//g, "%2F");
  const limit = NAME_MAX - suffix.length;
  while (encoder.encode(base).length > limit) base = base.slice(0, Math.max(0, base.length - 16));
  return base + suffix;
}
