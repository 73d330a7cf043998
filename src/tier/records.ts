/**
 * The tier's layout in the bucket and its version record format.
 *
 * Under the configured prefix:
 * - `meta/{key}`: the object's version record (JSON, {@link VersionRecord}). Its conditional write is the
 *   commit point of every put, patch and delete: what the record does not name does not exist.
 * - `data/{key}/{id}`: immutable payload blobs (a base or a patch: the stored bytes, e.g. an Arrow IPC
 *   file body). `id` is random, so a retried or concurrent write never overwrites a committed blob.
 *
 * `{key}` is the object key (`app/session/object`, or the legacy two-part `session/object`). Prefix
 * selectors (`app/session`, `app`) match whole segments, so `meta/{selector}/` lists exactly their records.
 *
 * A deleted object keeps a tombstone record (`deleted: true`, same version, no blobs) so a later put
 * continues from its version: versions of a key never go backwards, even across delete and re-create.
 *
 * @module
 */

/** A blob named by a record. `blob` is the bucket key relative to the tier prefix (`data/...`). */
export interface BlobRef {
  version: number;
  blob: string;
  size: number;
  /** crc32 (zlib) of the blob's bytes. */
  crc32: number;
}

/** The base payload of a version record. */
export interface BaseRef extends BlobRef {
  kind: "opaque" | "native";
  /** Rows of a native table. */
  rows?: number;
}

/** The JSON stored at `meta/{key}`. */
export interface VersionRecord {
  key: string;
  /** The latest version (base or patch). Never decreases for a key. */
  version: number;
  /** The base payload (null only on a tombstone). */
  base: BaseRef | null;
  /** Patches applied on top of the base, oldest first. */
  patches: BlobRef[];
  /** True on a tombstone: the object is deleted, `version` is the last one handed out. */
  deleted?: true;
  /** ISO time of the last change. */
  modified: string;
}

// deno-lint-ignore no-control-regex -- control characters are exactly what a segment must not contain
const SEGMENT = /^[^/\x00-\x1f]+$/;

/**
 * Check a tier key or selector: 1 to 3 non-empty `/`-separated segments, none `.` or `..`, no control
 * characters. (The protocol layer validates object keys more strictly; this guards the bucket layout.)
 */
export function checkKey(key: string, what = "key"): string {
  const parts = key.split("/");
  if (
    parts.length < 1 || parts.length > 3 || parts.some((p) => !SEGMENT.test(p) || p === "." || p === "..")
  ) {
    throw new TypeError(`invalid tier ${what} "${key}"`);
  }
  return key;
}

/** The tier layout under a bucket prefix (`""` or ending with `/`). */
export class Layout {
  readonly prefix: string;

  constructor(prefix = "") {
    const trimmed = prefix.replace(/^\/+|\/+$/g, "");
    this.prefix = trimmed ? `${trimmed}/` : "";
  }

  /** Bucket key of the version record of `key`. */
  recordKey(key: string): string {
    return `${this.prefix}meta/${key}`;
  }

  /** Bucket key prefix of every record under `selector` (a key, `app/session` or `app`). */
  recordPrefix(selector: string): string {
    return `${this.prefix}meta/${selector}/`;
  }

  /** The object key of a record's bucket key. */
  keyOfRecord(bucketKey: string): string {
    return bucketKey.slice(`${this.prefix}meta/`.length);
  }

  /** A fresh blob name for `key` (relative to the prefix, as stored in records). */
  newBlob(key: string): string {
    const id = crypto.getRandomValues(new Uint8Array(12));
    const hex = Array.from(id, (b) => b.toString(16).padStart(2, "0")).join("");
    return `data/${key}/${Date.now().toString(36)}-${hex}`;
  }

  /** Bucket key of a blob name from a record. */
  blobKey(blob: string): string {
    return `${this.prefix}${blob}`;
  }

  /** Bucket key prefix of every blob under `selector`. */
  blobPrefix(selector: string): string {
    return `${this.prefix}data/${selector}/`;
  }

  /** The blob name (relative) of a blob's bucket key. */
  blobOfKey(bucketKey: string): string {
    return bucketKey.slice(this.prefix.length);
  }

  /** The object key a blob name belongs to (`data/{key}/{id}` -> `{key}`). */
  keyOfBlob(blob: string): string {
    return blob.slice("data/".length, blob.lastIndexOf("/"));
  }
}

/** Parse and check a record read from the bucket; throws on a malformed one. */
export function parseRecord(text: string, expectedKey: string): VersionRecord {
  const r = JSON.parse(text) as VersionRecord;
  if (
    r?.key !== expectedKey || !Number.isSafeInteger(r.version) || r.version < 0 ||
    !Array.isArray(r.patches) ||
    (r.base === null) !== (r.deleted === true)
  ) {
    throw new Error(`malformed tier record for "${expectedKey}"`);
  }
  return r;
}

/** Every blob a record names. */
export function blobsOf(record: VersionRecord): string[] {
  return [...(record.base ? [record.base.blob] : []), ...record.patches.map((p) => p.blob)];
}
