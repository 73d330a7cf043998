/**
 * Object files as bytes: encoding bases and patches as Arrow IPC files with a checksum, and decoding
 * (validating, decompressing, checksum-verifying) the files this engine, Flame's Rust server and
 * flamepy's local-storage mode write.
 *
 * - Opaque: schema `{version: UInt64, data: Binary}`, metadata `flame.cache.version` and
 *   `flame.cache.crc32` (crc32 of the payload, 8 lowercase hex digits), one batch with one row.
 * - Native: the stored schema header (it carries `flame.cache.version`) plus `flame.cache.crc32` over the
 *   message bodies concatenated in file order, then the messages as stored.
 * - Foreign files: ZSTD-compressed bodies are decompressed; files without `flame.cache.crc32` are
 *   accepted unverified; opaque files without `flame.cache.version` take the version column's value.
 *
 * @module
 */
import { crc32 } from "node:zlib";
import {
  CHECKSUM_KEY,
  crc32Hex,
  decompressBatch,
  encodeSchemaMessage,
  IpcError,
  isNativeSchema,
  isOpaqueSchema,
  NATIVE_VERSION_KEY,
  nativeFileParts,
  opaqueFileParts,
  opaqueRows,
  opaqueVersions,
  readIpcFile,
  type SchemaInfo,
  withSchemaMetadata,
} from "../../arrow/mod.ts";
import type { Delta, IpcPart, ObjectBody, StoredObject } from "../types.ts";
import { allocBytes } from "./_io.ts";

/** Largest decompressed body accepted from a compressed file. */
const MAX_DECOMPRESSED = 2 ** 32;

/** The bytes are a well-formed file whose content does not match its stored checksum. */
export class ChecksumMismatch extends Error {
  constructor(expected: string, actual: string) {
    super(`checksum mismatch: file says ${expected}, content is ${actual}`);
    this.name = "ChecksumMismatch";
  }
}

/** crc32 of several byte arrays as if concatenated. */
export function crcOf(chunks: Iterable<Uint8Array>): number {
  let c = 0;
  for (const b of chunks) c = crc32(b, c);
  return c >>> 0;
}

/** Parts of the file holding the base of `obj`. */
export function encodeBase(obj: StoredObject): Uint8Array[] {
  const body = obj.body;
  if (body.type === "opaque") {
    return opaqueFileParts(obj.baseVersion, [body.data], body.data.byteLength, crcOf([body.data]));
  }
  if (body.type === "file") throw new Error("a base left on disk cannot be written again");
  const crc = crcOf(body.messages.map((m) => m.body));
  const header = withMetadata(body.schemaHeader, CHECKSUM_KEY, crc32Hex(crc));
  return nativeFileParts(header, body.messages);
}

/** Parts of the file holding one patch. */
export function encodeDelta(delta: Delta): Uint8Array[] {
  return opaqueFileParts(delta.version, [delta.data], delta.data.byteLength, crcOf([delta.data]));
}

function withMetadata(header: Uint8Array, key: string, value: string): Uint8Array {
  return withSchemaMetadata(header, { [key]: value });
}

/** Version text of `flame.cache.version`: a decimal integer, else undefined. */
export function parseVersionText(text: string | undefined): number | undefined {
  if (text === undefined || !/^\s*[0-9]{1,16}\s*$/.test(text)) return undefined;
  const n = Number(text.trim());
  return Number.isSafeInteger(n) ? n : undefined;
}

/** A decoded, verified object file. */
export interface DecodedFile {
  /** Version from `flame.cache.version`, else the opaque version column, else 0. */
  version: number;
  body: ObjectBody;
  /** True when the file carried a checksum that was verified. */
  verified: boolean;
}

function checkCrc(schema: SchemaInfo, chunks: Uint8Array[]): boolean {
  const want = schema.metadata.get(CHECKSUM_KEY);
  if (want === undefined) return false;
  const got = crc32Hex(crcOf(chunks));
  if (want.trim().toLowerCase() !== got) throw new ChecksumMismatch(want, got);
  return true;
}

/** A copy of `b` in memory owned by the object (shared when large). */
function owned(b: Uint8Array): Uint8Array {
  const out = allocBytes(b.byteLength);
  out.set(b);
  return out;
}

/**
 * Decode a whole object file. Throws {@link IpcError} when it is not a valid Arrow IPC file holding an
 * opaque or native object, {@link ChecksumMismatch} when its content does not match its checksum.
 * Uncompressed payloads are views into `bytes`.
 */
export function decodeObjectFile(bytes: Uint8Array): DecodedFile {
  const file = readIpcFile(bytes);
  const schema = file.schema;
  const metaVersion = parseVersionText(schema.metadata.get(NATIVE_VERSION_KEY));
  if (isNativeSchema(schema)) {
    // File order = stream order (the footer lists dictionaries first).
    const stored = [...file.messages].sort((a, b) => a.header.byteOffset - b.header.byteOffset);
    const verified = checkCrc(schema, stored.map((m) => m.body));
    let rows = 0;
    const messages: IpcPart[] = stored.map((m) => {
      if (m.message.kind === "schema") throw new IpcError("A file block points at a schema message.");
      const isDictionary = m.message.kind === "dictionaryBatch";
      if (!isDictionary) rows += m.message.batch.length;
      if (m.message.batch.compression === "none") return { header: m.header, body: m.body, isDictionary };
      const plain = decompressBatch(m.header, m.message.batch, m.body, MAX_DECOMPRESSED);
      return { header: plain.header, body: owned(plain.body), isDictionary };
    });
    let schemaHeader = file.schemaHeader;
    if (schema.metadata.has(CHECKSUM_KEY)) {
      const metadata = new Map(schema.metadata);
      metadata.delete(CHECKSUM_KEY);
      schemaHeader = encodeSchemaMessage({ ...schema, metadata });
    }
    return { version: metaVersion ?? 0, body: { type: "native", schemaHeader, messages, rows }, verified };
  }
  if (!isOpaqueSchema(schema)) {
    throw new IpcError("The file holds neither an opaque object nor a native table (flame.cache.format).");
  }
  const chunks: Uint8Array[] = [];
  let column: bigint | undefined;
  let compressed = false;
  for (const m of file.messages) {
    if (m.message.kind !== "recordBatch") throw new IpcError("An opaque object file has a dictionary batch.");
    const batch = m.message.batch;
    if (batch.length === 0) continue;
    compressed ||= batch.compression !== "none";
    column ??= opaqueVersions(schema, batch, m.body)[0];
    chunks.push(...opaqueRows(schema, batch, m.body));
  }
  if (chunks.length === 0) throw new IpcError("The opaque object file has no rows.");
  const verified = checkCrc(schema, chunks);
  let data: Uint8Array;
  if (chunks.length === 1) {
    data = compressed ? owned(chunks[0]) : chunks[0];
  } else {
    data = allocBytes(chunks.reduce((n, c) => n + c.byteLength, 0));
    let pos = 0;
    for (const c of chunks) {
      data.set(c, pos);
      pos += c.byteLength;
    }
  }
  if (metaVersion !== undefined && column !== undefined && BigInt(metaVersion) !== column) {
    throw new IpcError(`The version metadata (${metaVersion}) and the version column (${column}) disagree.`);
  }
  const version = metaVersion ??
    (column !== undefined && column <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(column) : 0);
  return { version, body: { type: "opaque", data }, verified };
}
