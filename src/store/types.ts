/**
 * The object model shared by the Flight service, the cache core and the
 * storage engines.
 *
 * Payload bytes are `Uint8Array`s; large ones are views of SharedArrayBuffers so
 * they cross between the network thread and the store worker without copies.
 * Stored payloads are immutable: a new version gets new buffers.
 *
 * @module
 */

/** An IPC message kept as received: flatbuffer header and body. */
export interface IpcPart {
  header: Uint8Array;
  body: Uint8Array;
  isDictionary: boolean;
}

/** Flame's opaque object: the concatenated `data` bytes. */
export interface OpaqueBody {
  type: "opaque";
  data: Uint8Array;
}

/** A native Arrow table (`flame.cache.format = arrow-table-v1`), stored as sent. */
export interface NativeBody {
  type: "native";
  /** Schema message header; its `flame.cache.version` is the base version. */
  schemaHeader: Uint8Array;
  /** Dictionary and record batch messages in stream order. */
  messages: IpcPart[];
  /** Total row count of the record batches. */
  rows: number;
}

/** What a put stores as the base of an object. */
export type ObjectBody = OpaqueBody | NativeBody;

/**
 * A large opaque payload left on disk: the network thread streams it from the
 * file instead of the worker loading it (memory stays bounded).
 */
export interface FileBody {
  type: "file";
  path: string;
  /** Inode when the engine located it; the reader checks it to be sure it opened the same file. */
  ino: number | null;
  offset: number;
  length: number;
  /** CRC32 of the payload when the file carries one; checked as the bytes are sent. */
  crc32?: number;
}

/**
 * An opaque payload already written to a staging file by the network thread
 * (large uploads). The disk engine adopts the file instead of writing the
 * bytes again.
 */
export interface StagedPayload {
  type: "staged";
  /** Staging file path (same filesystem as the store). */
  path: string;
  /** Where the payload starts in the file (room left for the IPC head). */
  dataOffset: number;
  length: number;
  /** CRC32 (node:zlib) of the payload. */
  crc32: number;
}

/** An appended patch. */
export interface Delta {
  version: number;
  data: Uint8Array;
}

/** A whole object: base plus patches in ascending version. */
export interface StoredObject {
  key: string;
  baseVersion: number;
  body: ObjectBody | FileBody;
  deltas: Delta[];
}

/** Index metadata of an object (no payload). */
export interface ObjectStat {
  key: string;
  /** Current version: the last patch's version, else the base version. */
  version: number;
  baseVersion: number;
  /** Payload bytes: base data (or native bodies) plus patches. */
  size: number;
  deltaCount: number;
  kind: "opaque" | "native";
  /** Rows: 1 for opaque bases, the table's rows for native ones. */
  rows: number;
  /** Last write, ms since epoch. */
  modified: number;
}

/** Current version of a stored object. */
export function currentVersion(obj: StoredObject): number {
  return obj.deltas.length > 0 ? obj.deltas[obj.deltas.length - 1].version : obj.baseVersion;
}

/** Payload bytes of a body. */
export function bodySize(body: ObjectBody | FileBody): number {
  if (body.type === "opaque") return body.data.length;
  if (body.type === "file") return body.length;
  let n = 0;
  for (const m of body.messages) n += m.body.length;
  return n;
}

/** Build the index metadata of a stored object. */
export function statOf(obj: StoredObject, modified = Date.now()): ObjectStat {
  let size = bodySize(obj.body);
  for (const d of obj.deltas) size += d.data.length;
  return {
    key: obj.key,
    version: currentVersion(obj),
    baseVersion: obj.baseVersion,
    size,
    deltaCount: obj.deltas.length,
    kind: obj.body.type === "native" ? "native" : "opaque",
    rows: obj.body.type === "native" ? obj.body.rows : 1,
    modified,
  };
}

/** Which keys a delete or list applies to. */
export interface KeySelector {
  /** An exact key, or a prefix that matches `prefix/…` (and the key equal to it). */
  value: string;
  exact: boolean;
}

/** True when `key` is selected. */
export function selects(sel: KeySelector, key: string): boolean {
  if (key === sel.value) return true;
  return !sel.exact && (sel.value === "" || key.startsWith(sel.value + "/"));
}

/**
 * Streams one large upload into a staging file on the network thread (see
 * {@link Stager}); the worker later adopts the file as the object's base.
 */
export interface StagingWriter {
  write(chunk: Uint8Array): Promise<void>;
  /** Flush and close; the file is ready to be adopted by the store. */
  finish(): Promise<StagedPayload>;
  /** Remove the staging file. */
  abort(): Promise<void>;
}

/**
 * Opens one staging file per call, for the upload of `key` (the key or prefix the client named, for
 * error messages); only engines that keep files provide one.
 */
export type Stager = (key: string) => Promise<StagingWriter>;

/**
 * A payload read from storage in chunks (the shape of the transport's
 * `ByteSource`, which it is handed to): `release` gives a chunk's buffer back
 * for reuse once it is written.
 */
export interface PayloadChunks {
  readonly length: number;
  chunks(): AsyncIterable<Uint8Array>;
  release?(chunk: Uint8Array): void;
}
