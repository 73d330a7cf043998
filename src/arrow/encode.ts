/**
 * Encoding schemas, messages and footers as flatbuffers, and the IPC message framing.
 *
 * Schemas are encoded from a {@link SchemaInfo} (which keeps every parameter Schema.fbs defines), so a
 * parsed schema can be re-encoded with changed metadata without going through apache-arrow.
 *
 * @module
 */

import { IpcError } from "./errors.ts";
import { encodeFlatbuffer, fb, type FbObject } from "./fbwrite.ts";
import { parseMessageFull } from "./message.ts";
import {
  type BatchInfo,
  type FieldInfo,
  MessageHeaderType,
  MetadataVersion,
  type SchemaInfo,
  TypeId,
} from "./types.ts";

/** Rounds `n` up to a multiple of 8. */
export function pad8(n: number): number {
  return Math.ceil(n / 8) * 8;
}

function keyValues(m: Map<string, string> | undefined): FbObject[] | undefined {
  if (!m || m.size === 0) return undefined;
  return [...m].map(([k, v]) => [fb.string(k), fb.string(v)]);
}

function intTable(bitWidth: number, signed: boolean): FbObject {
  return [fb.i32(bitWidth), fb.bool(signed)];
}

function typeTable(f: FieldInfo): FbObject {
  const unit = (dflt: number) => fb.i16(f.unit ?? dflt);
  switch (f.typeId) {
    case TypeId.Int:
      return intTable(f.bitWidth ?? 32, f.isSigned ?? true);
    case TypeId.FloatingPoint:
      return [fb.i16(f.precision ?? ({ 16: 0, 32: 1 } as Record<number, number>)[f.bitWidth ?? 64] ?? 2)];
    case TypeId.Decimal:
      return [fb.i32(f.precision ?? 38), fb.i32(f.scale ?? 0), fb.i32(f.bitWidth ?? 128)];
    case TypeId.Date:
      return [unit(f.bitWidth === 32 ? 0 : 1)];
    case TypeId.Time:
      return [unit(1), fb.i32(f.bitWidth ?? 32)];
    case TypeId.Timestamp:
      return [unit(0), f.timezone !== undefined ? fb.string(f.timezone) : undefined];
    case TypeId.Interval:
      return [unit(0)];
    case TypeId.Duration:
      return [unit(1)];
    case TypeId.FixedSizeBinary:
      return [fb.i32(f.byteWidth ?? 0)];
    case TypeId.FixedSizeList:
      return [fb.i32(f.listSize ?? 0)];
    case TypeId.Map:
      return [fb.bool(f.keysSorted ?? false)];
    case TypeId.Union:
      return [fb.i16(f.unionMode === "dense" ? 1 : 0), f.typeIds ? fb.i32s(f.typeIds) : undefined];
    default:
      return [];
  }
}

function fieldTable(f: FieldInfo): FbObject {
  const dictId = f.dictionary?.id ?? f.dictionaryId;
  const dict = dictId === undefined ? undefined : fb.table([
    fb.i64(dictId),
    fb.table(intTable(f.dictionary?.indexBitWidth ?? 32, f.dictionary?.indexSigned ?? true)),
    fb.bool(f.dictionary?.isOrdered ?? false),
  ]);
  const md = keyValues(f.metadata);
  return [
    fb.string(f.name),
    fb.bool(f.nullable),
    fb.u8(f.typeId),
    fb.table(typeTable(f)),
    dict,
    fb.tables(f.children.map(fieldTable)), // Arrow C++ requires the children vector to be present
    md && fb.tables(md),
  ];
}

/** The `Schema` table of `schema` (little-endian). */
export function schemaTable(schema: SchemaInfo): FbObject {
  const md = keyValues(schema.metadata);
  return [
    undefined, // endianness: Little is the default
    fb.tables(schema.fields.map(fieldTable)),
    md && fb.tables(md),
    schema.features?.length ? fb.i64s(schema.features) : undefined,
  ];
}

/** The `RecordBatch` table of `batch`. */
export function batchTable(batch: BatchInfo): FbObject {
  const nodes = new Uint8Array(16 * batch.nodes.length);
  const ndv = new DataView(nodes.buffer);
  batch.nodes.forEach((n, i) => {
    ndv.setBigInt64(16 * i, BigInt(n.length), true);
    ndv.setBigInt64(16 * i + 8, BigInt(n.nullCount), true);
  });
  const buffers = new Uint8Array(16 * batch.buffers.length);
  const bdv = new DataView(buffers.buffer);
  batch.buffers.forEach((b, i) => {
    bdv.setBigInt64(16 * i, BigInt(b.offset), true);
    bdv.setBigInt64(16 * i + 8, BigInt(b.length), true);
  });
  const compression = batch.compression === "none"
    ? undefined
    : fb.table([fb.u8(batch.compression === "zstd" ? 1 : 0), fb.u8(0)]);
  return [
    fb.i64(batch.length),
    fb.structs(16, nodes),
    fb.structs(16, buffers),
    compression,
    batch.variadicBufferCounts ? fb.i64s(batch.variadicBufferCounts.map(BigInt)) : undefined,
  ];
}

/** Encodes a Message flatbuffer (no framing) around an already-built header table. */
export function encodeMessage(
  headerType: number,
  header: FbObject,
  bodyLength: number,
  options: { version?: number; customMetadata?: Map<string, string> } = {},
): Uint8Array {
  const md = keyValues(options.customMetadata);
  return encodeFlatbuffer([
    fb.i16(options.version ?? MetadataVersion.V5),
    fb.u8(headerType),
    fb.table(header),
    fb.i64(bodyLength),
    md && fb.tables(md),
  ]);
}

/** Encodes a schema Message header (no framing) for `schema`. */
export function encodeSchemaMessage(
  schema: SchemaInfo,
  options: { version?: number; customMetadata?: Map<string, string> } = {},
): Uint8Array {
  return encodeMessage(MessageHeaderType.Schema, schemaTable(schema), 0, options);
}

/** Encodes a RecordBatch Message header (no framing). */
export function encodeBatchMessage(batch: BatchInfo, bodyLength: number): Uint8Array {
  return encodeMessage(MessageHeaderType.RecordBatch, batchTable(batch), bodyLength);
}

/**
 * Re-encode a schema Message header with some metadata keys set: existing keys keep their position,
 * new keys are appended in the order given, other keys are kept. Message version and message-level
 * metadata are kept. Output is a bare Message flatbuffer. Throws {@link IpcError} if the input is not
 * a valid schema message.
 */
export function withSchemaMetadata(schemaHeader: Uint8Array, set: Record<string, string>): Uint8Array {
  const parsed = parseMessageFull(schemaHeader);
  if (parsed.message.kind !== "schema") throw new IpcError("The message is not a schema message.");
  const schema = parsed.message.schema;
  const metadata = new Map(schema.metadata);
  for (const [k, v] of Object.entries(set)) metadata.set(k, v);
  return encodeSchemaMessage({ ...schema, metadata }, {
    version: parsed.version,
    customMetadata: parsed.customMetadata,
  });
}

/**
 * Prefix a Message header for the IPC stream/file framing: 0xFFFFFFFF, int32 little-endian metadata
 * length (padded so that header + 8 is a multiple of 8), the header, zero padding.
 */
export function frameMessage(header: Uint8Array): Uint8Array {
  const len = pad8(header.byteLength);
  const out = new Uint8Array(8 + len);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, 0xffffffff, true);
  dv.setInt32(4, len, true);
  out.set(header, 8);
  return out;
}

/**
 * IPC encoding of a schema for FlightInfo.schema / SchemaResult.schema: the framed schema message and
 * nothing after it (what Arrow C++/pyarrow and arrow-rs read back as a schema).
 */
export function encodeSchemaForFlight(schemaHeader: Uint8Array): Uint8Array {
  return frameMessage(schemaHeader);
}

/** The 8-byte end-of-stream marker (continuation + zero length). */
export const EOS_MARKER: Uint8Array = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);
