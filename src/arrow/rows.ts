/**
 * Flame's fixed schemas and one-row record batches (server replies, client uploads, opaque files).
 *
 * Row headers come from a template encoded once and patched in place, so encoding a row costs the same
 * for 1 byte or 1 GiB: the payload itself is never touched. The payload is the last buffer of the body
 * so that it can be sent as a view after a small prefix.
 *
 * @module
 */

import { encodeBatchMessage, encodeSchemaMessage, pad8 } from "./encode.ts";
import { IpcError } from "./errors.ts";
import { allocateTransient } from "../bytes.ts";
import { FbReader } from "./flatbuf.ts";
import { type BatchInfo, type FieldInfo, type SchemaInfo, TypeId } from "./types.ts";

const u64Field = (name: string): FieldInfo => ({
  name,
  nullable: false,
  typeId: TypeId.Int,
  typeName: "UInt64",
  bitWidth: 64,
  isSigned: false,
  children: [],
});
const utf8Field = (name: string): FieldInfo => ({
  name,
  nullable: false,
  typeId: TypeId.Utf8,
  typeName: "Utf8",
  children: [],
});
const binaryField = (name: string): FieldInfo => ({
  name,
  nullable: false,
  typeId: TypeId.Binary,
  typeName: "Binary",
  children: [],
});

/** The read (response) schema: version UInt64, kind Utf8, data Binary, all non-null, no metadata. */
export const READ_SCHEMA: SchemaInfo = {
  fields: [u64Field("version"), utf8Field("kind"), binaryField("data")],
  metadata: new Map(),
};

/** The opaque upload/file schema: version UInt64, data Binary, non-null, no metadata. */
export const OPAQUE_SCHEMA: SchemaInfo = {
  fields: [u64Field("version"), binaryField("data")],
  metadata: new Map(),
};

/** Message header bytes of {@link READ_SCHEMA} (bare flatbuffer, computed once). */
export const READ_SCHEMA_HEADER: Uint8Array = encodeSchemaMessage(READ_SCHEMA);

/** Message header bytes of {@link OPAQUE_SCHEMA} (bare flatbuffer, computed once). */
export const OPAQUE_SCHEMA_HEADER: Uint8Array = encodeSchemaMessage(OPAQUE_SCHEMA);

/**
 * A one-row record batch: send `header`, and as the body `bodyPrefix`, then the payload bytes, then
 * `bodyPadding` zero bytes; `bodyLength` is the total body size.
 */
export interface EncodedRow {
  /** Bare RecordBatch Message flatbuffer. */
  header: Uint8Array;
  /** Body bytes before the payload (the fixed-size buffers). */
  bodyPrefix: Uint8Array;
  /** Zero bytes to send after the payload (0-7). */
  bodyPadding: number;
  /** Total body length: bodyPrefix + payload + padding. */
  bodyLength: number;
}

/** Largest payload of a Binary value (int32 offsets). */
export const MAX_BINARY_LENGTH = 2 ** 31 - 1;

interface Template {
  header: Uint8Array;
  buffersPos: number; // absolute position of buffer 0 in the buffers vector
  bodyLengthPos: number; // absolute position of Message.bodyLength
}

// Encodes a one-row batch with placeholder sizes and finds where the values to patch live.
function makeTemplate(batch: BatchInfo): Template {
  const header = encodeBatchMessage(batch, 0);
  const r = new FbReader(header, "The row template");
  const m = r.root("message");
  const rb = m.table(2, "record batch")!;
  return {
    header,
    buffersPos: rb.vector(2, 16, "buffers")!.pos,
    bodyLengthPos: m.fieldPos(3, 8),
  };
}

const one = { length: 1, nullCount: 0 };
const buf = (offset: number, length: number) => ({ offset, length });

const READ_TEMPLATE = makeTemplate({
  length: 1,
  nodes: [one, one, one],
  buffers: [buf(0, 0), buf(0, 8), buf(8, 0), buf(8, 8), buf(16, 0), buf(24, 0), buf(24, 8), buf(32, 0)],
  compression: "none",
});

const OPAQUE_TEMPLATE = makeTemplate({
  length: 1,
  nodes: [one, one],
  buffers: [buf(0, 0), buf(0, 8), buf(8, 0), buf(8, 8), buf(16, 0)],
  compression: "none",
});

function toU64(v: bigint | number): bigint {
  const b = typeof v === "bigint" ? v : Number.isSafeInteger(v) ? BigInt(v) : -1n;
  if (b < 0n || b >= 1n << 64n) throw new IpcError("The version must be an integer between 0 and 2^64-1.");
  return b;
}

function checkDataLength(n: number): void {
  if (!Number.isSafeInteger(n) || n < 0 || n > MAX_BINARY_LENGTH) {
    throw new IpcError("A Binary value must be smaller than 2 GiB.");
  }
}

function patch(t: Template, sizes: [number, number][], bodyLength: number): Uint8Array {
  // Encoded rows are written (to a socket or a file) and dropped: carved from the transient slab.
  const h = allocateTransient(t.header.length);
  h.set(t.header);
  const dv = new DataView(h.buffer, h.byteOffset, h.byteLength);
  for (const [i, length] of sizes) dv.setBigInt64(t.buffersPos + 16 * i + 8, BigInt(length), true);
  dv.setBigInt64(t.bodyLengthPos, BigInt(bodyLength), true);
  return h;
}

const KINDS = { base: new TextEncoder().encode("base"), patch: new TextEncoder().encode("patch") };

/**
 * One-row record batch of the read schema (version, kind, data) for a payload of `dataLength` bytes.
 * Body = bodyPrefix (32 bytes: version, kind offsets, kind text, data offsets) ++ data ++ padding.
 * Uncompressed. Throws {@link IpcError} when dataLength >= 2^31 or the version is out of range.
 */
export function encodeReadRow(
  version: bigint | number,
  kind: "base" | "patch",
  dataLength: number,
): EncodedRow {
  checkDataLength(dataLength);
  const text = kind === "base" ? KINDS.base : kind === "patch" ? KINDS.patch : undefined;
  if (!text) throw new IpcError(`The row kind must be "base" or "patch".`);
  const prefix = allocateTransient(32);
  const dv = new DataView(prefix.buffer, prefix.byteOffset, 32);
  dv.setBigUint64(0, toU64(version), true);
  dv.setInt32(12, text.length, true); // kind offsets [0, len]
  prefix.set(text, 16);
  dv.setInt32(28, dataLength, true); // data offsets [0, dataLength]
  const bodyPadding = pad8(dataLength) - dataLength;
  const bodyLength = 32 + dataLength + bodyPadding;
  const header = patch(READ_TEMPLATE, [[4, text.length], [7, dataLength]], bodyLength);
  return { header, bodyPrefix: prefix, bodyPadding, bodyLength };
}

/**
 * One-row record batch of the opaque schema (version, data) for a payload of `dataLength` bytes.
 * Body = bodyPrefix (16 bytes: version, data offsets) ++ data ++ padding. Uncompressed.
 */
export function encodeOpaqueRow(version: bigint | number, dataLength: number): EncodedRow {
  checkDataLength(dataLength);
  const prefix = allocateTransient(16);
  const dv = new DataView(prefix.buffer, prefix.byteOffset, 16);
  dv.setBigUint64(0, toU64(version), true);
  dv.setInt32(12, dataLength, true);
  const bodyPadding = pad8(dataLength) - dataLength;
  const bodyLength = 16 + dataLength + bodyPadding;
  const header = patch(OPAQUE_TEMPLATE, [[4, dataLength]], bodyLength);
  return { header, bodyPrefix: prefix, bodyPadding, bodyLength };
}
