/**
 * The Arrow IPC *file* format used for storage: writing opaque and native object files as lists of parts
 * (payloads are never copied) and reading/validating whole files or just their footers.
 *
 * Layout: "ARROW1\0\0", framed schema message, framed dictionary and record batch messages with their
 * bodies (each padded to 8 bytes), end-of-stream marker, Footer flatbuffer, int32 footer length, "ARROW1".
 *
 * @module
 */

import { validateRecordBatch } from "./batch.ts";
import { encodeSchemaMessage, EOS_MARKER, frameMessage, pad8, schemaTable } from "./encode.ts";
import { IpcError, TailTooShort } from "./errors.ts";
import { encodeFlatbuffer, fb } from "./fbwrite.ts";
import { FbReader, type FbTable } from "./flatbuf.ts";
import { parseMessage, parseMessageFull } from "./message.ts";
import { encodeOpaqueRow, OPAQUE_SCHEMA } from "./rows.ts";
import { CHECKSUM_KEY, dictionarySchema, NATIVE_VERSION_KEY, parseSchemaTable } from "./schema.ts";
import { type IpcMessage, MetadataVersion, type SchemaInfo } from "./types.ts";

/** Location of one message in a file (a footer `Block`). */
export interface FileBlock {
  /** File offset of the message's framing (continuation marker). */
  offset: number;
  /** Length of framing + header + padding. */
  metaDataLength: number;
  /** Length of the body that follows. */
  bodyLength: number;
}

/** A fully read and validated IPC file. Bodies are kept as stored (see `message.batch.compression`). */
export interface IpcFile {
  /** Schema Message header (re-encoded from the footer schema). */
  schemaHeader: Uint8Array;
  /** The parsed schema. */
  schema: SchemaInfo;
  /** Dictionary batches then record batches, in footer order; header and body are views into the file. */
  messages: { header: Uint8Array; body: Uint8Array; message: IpcMessage }[];
}

/** The footer of a file, read without touching the messages. */
export interface FooterInfo {
  /** The parsed footer schema. */
  schema: SchemaInfo;
  /** Schema Message header encoded from the footer schema. */
  schemaHeader: Uint8Array;
  /** Record batch blocks in file order. */
  recordBatches: FileBlock[];
  /** Dictionary batch blocks in file order. */
  dictionaries: FileBlock[];
}

const MAGIC = new TextEncoder().encode("ARROW1");
/** Leading file magic, padded to 8 bytes. */
const HEAD = new Uint8Array([...MAGIC, 0, 0]);
const BLOCK_SIZE = 24;
// Footer length field plus trailing magic.
const TRAILER = 10;

function blocksBytes(blocks: FileBlock[]): Uint8Array {
  const out = new Uint8Array(BLOCK_SIZE * blocks.length);
  const dv = new DataView(out.buffer);
  blocks.forEach((b, i) => {
    dv.setBigInt64(BLOCK_SIZE * i, BigInt(b.offset), true);
    dv.setInt32(BLOCK_SIZE * i + 8, b.metaDataLength, true);
    dv.setBigInt64(BLOCK_SIZE * i + 16, BigInt(b.bodyLength), true);
  });
  return out;
}

// End-of-stream marker, footer, footer length and magic, as one part.
function tail(schema: SchemaInfo, dictionaries: FileBlock[], recordBatches: FileBlock[]): Uint8Array {
  const footer = encodeFlatbuffer([
    fb.i16(MetadataVersion.V5),
    fb.table(schemaTable(schema)),
    fb.structs(BLOCK_SIZE, blocksBytes(dictionaries)),
    fb.structs(BLOCK_SIZE, blocksBytes(recordBatches)),
  ]);
  const out = new Uint8Array(EOS_MARKER.length + footer.length + TRAILER);
  out.set(EOS_MARKER, 0);
  out.set(footer, EOS_MARKER.length);
  new DataView(out.buffer).setInt32(EOS_MARKER.length + footer.length, footer.length, true);
  out.set(MAGIC, out.length - MAGIC.length);
  return out;
}

/** crc32 as the 8 lowercase hex digits stored under {@link CHECKSUM_KEY}. */
export function crc32Hex(crc: number): string {
  return (crc >>> 0).toString(16).padStart(8, "0");
}

/**
 * Parts to write, in order, for an opaque object file: magic, framed schema (opaque schema with metadata
 * flame.cache.version and flame.cache.crc32), one record batch with one row (version, payload), footer.
 * The payload chunks appear in the result as they are (not copied); their total must be payloadLength.
 * Throws {@link IpcError} when the payload is 2 GiB or larger or the chunks do not add up.
 */
export function opaqueFileParts(
  version: bigint | number,
  payload: Uint8Array[],
  payloadLength: number,
  crc32: number,
): Uint8Array[] {
  const sum = payload.reduce((n, p) => n + p.byteLength, 0);
  if (sum !== payloadLength) throw new IpcError("The payload chunks do not add up to the payload length.");
  const row = encodeOpaqueRow(version, payloadLength);
  const schema: SchemaInfo = {
    fields: OPAQUE_SCHEMA.fields,
    metadata: new Map([[NATIVE_VERSION_KEY, BigInt(version).toString()], [CHECKSUM_KEY, crc32Hex(crc32)]]),
  };
  const framedSchema = frameMessage(encodeSchemaMessage(schema));
  const framedRow = frameMessage(row.header);
  const block = {
    offset: HEAD.length + framedSchema.length,
    metaDataLength: framedRow.length,
    bodyLength: row.bodyLength,
  };
  const parts = [HEAD, framedSchema, framedRow, row.bodyPrefix, ...payload];
  if (row.bodyPadding) parts.push(new Uint8Array(row.bodyPadding));
  parts.push(tail(schema, [], [block]));
  return parts;
}

/**
 * Parts for a native table file: the stored schema header (metadata already set by the caller), then
 * the dictionary and record batches as given (framed; bodies as-is, padded to 8 bytes), then the footer.
 * The inputs are trusted (already validated); the schema header is parsed for the footer schema.
 */
export function nativeFileParts(
  schemaHeader: Uint8Array,
  messages: { header: Uint8Array; body: Uint8Array; isDictionary: boolean }[],
): Uint8Array[] {
  const parsed = parseMessage(schemaHeader);
  if (parsed.kind !== "schema") throw new IpcError("The schema header is not a schema message.");
  const framedSchema = frameMessage(schemaHeader);
  const parts: Uint8Array[] = [HEAD, framedSchema];
  let pos = HEAD.length + framedSchema.length;
  const dictionaries: FileBlock[] = [];
  const recordBatches: FileBlock[] = [];
  for (const m of messages) {
    const framed = frameMessage(m.header);
    const block = { offset: pos, metaDataLength: framed.length, bodyLength: m.body.byteLength };
    (m.isDictionary ? dictionaries : recordBatches).push(block);
    parts.push(framed, m.body);
    const pad = pad8(m.body.byteLength) - m.body.byteLength;
    if (pad) parts.push(new Uint8Array(pad));
    pos += framed.length + m.body.byteLength + pad;
  }
  parts.push(tail(parsed.schema, dictionaries, recordBatches));
  return parts;
}

function readBlocks(t: FbTable, slot: number, what: string, limit: number): FileBlock[] {
  const v = t.vector(slot, BLOCK_SIZE, `${what} block list`);
  if (!v) return [];
  const dv = t.r.dv;
  const out: FileBlock[] = [];
  for (let i = 0; i < v.length; i++) {
    const p = v.pos + BLOCK_SIZE * i;
    const offset = dv.getBigInt64(p, true);
    const metaDataLength = dv.getInt32(p + 8, true);
    const bodyLength = dv.getBigInt64(p + 16, true);
    // Messages lie between the leading magic and the footer.
    if (
      offset < BigInt(HEAD.length) || metaDataLength < 8 || bodyLength < 0n ||
      offset + BigInt(metaDataLength) + bodyLength > BigInt(limit)
    ) {
      throw new IpcError(`A ${what} block of the file footer points outside the file.`);
    }
    out.push({ offset: Number(offset), metaDataLength, bodyLength: Number(bodyLength) });
  }
  return out;
}

function parseFooter(footer: Uint8Array, footerStart: number): FooterInfo {
  const r = new FbReader(footer, "The file footer");
  const t = r.root("footer");
  const version = t.i16(0, 0);
  if (version !== MetadataVersion.V4 && version !== MetadataVersion.V5) {
    throw new IpcError("The file's Arrow metadata version is not supported (only V4 and V5 are).");
  }
  const s = t.table(1, "footer schema");
  if (!s) throw new IpcError("The file footer has no schema.");
  const schema = parseSchemaTable(s);
  const dictionaries = readBlocks(t, 2, "dictionary", footerStart);
  const recordBatches = readBlocks(t, 3, "record batch", footerStart);
  // Blocks of a real file never overlap; bounding their total size keeps readIpcFile's work O(file size)
  // even when a footer lists the same large message many times.
  let total = 0;
  for (const b of [...dictionaries, ...recordBatches]) total += b.metaDataLength + b.bodyLength;
  if (total > footerStart - HEAD.length) throw new IpcError("The file footer lists overlapping blocks.");
  let header: Uint8Array | undefined;
  return {
    schema,
    get schemaHeader() {
      return header ??= encodeSchemaMessage(schema, { version });
    },
    dictionaries,
    recordBatches,
  };
}

function hasMagic(bytes: Uint8Array, at: number): boolean {
  for (let i = 0; i < MAGIC.length; i++) if (bytes[at + i] !== MAGIC[i]) return false;
  return true;
}

/**
 * Read only the schema and block list from the footer, given the file's last `tail.length` bytes
 * (at least 10) and the file size. If the footer does not fit in `tail`, throws {@link TailTooShort}
 * with the number of tail bytes required. Throws {@link IpcError} on anything invalid.
 */
export function readFooter(tail: Uint8Array, fileSize: number): FooterInfo {
  if (!Number.isSafeInteger(fileSize) || fileSize < HEAD.length + TRAILER || tail.byteLength > fileSize) {
    throw new IpcError("The file is too short to be an Arrow IPC file.");
  }
  if (tail.byteLength < TRAILER) throw new TailTooShort(TRAILER);
  if (!hasMagic(tail, tail.byteLength - MAGIC.length)) {
    throw new IpcError("The file does not end with ARROW1.");
  }
  const footerLength = new DataView(tail.buffer, tail.byteOffset + tail.byteLength - TRAILER, 4).getInt32(
    0,
    true,
  );
  if (footerLength <= 0 || footerLength > fileSize - HEAD.length - TRAILER) {
    throw new IpcError("The file footer length is invalid.");
  }
  const required = footerLength + TRAILER;
  if (tail.byteLength < required) throw new TailTooShort(required);
  const footer = tail.subarray(tail.byteLength - required, tail.byteLength - TRAILER);
  return parseFooter(footer, fileSize - required);
}

function messageAt(bytes: Uint8Array, b: FileBlock): Uint8Array {
  const dv = new DataView(bytes.buffer, bytes.byteOffset + b.offset, b.metaDataLength);
  // Since Arrow 0.15 messages start with 0xFFFFFFFF then the length; before that, just the length.
  const framed = dv.getUint32(0, true) === 0xffffffff;
  const start = framed ? 8 : 4;
  const len = dv.getInt32(start - 4, true);
  if (len < 0 || len > b.metaDataLength - start) {
    throw new IpcError("A message in the file is longer than its footer block.");
  }
  return bytes.subarray(b.offset + start, b.offset + start + len);
}

/**
 * Read a whole IPC file from bytes, fully validated: magic at both ends, footer, every block in range,
 * every message parsed and checked against the schema (dictionary batches against their dictionary's
 * value type). Headers and bodies are views into `bytes`. Throws {@link IpcError}.
 */
export function readIpcFile(bytes: Uint8Array): IpcFile {
  if (bytes.byteLength < HEAD.length + TRAILER || !hasMagic(bytes, 0)) {
    throw new IpcError("The file does not start with ARROW1.");
  }
  const footer = readFooter(bytes, bytes.byteLength);
  const messages: IpcFile["messages"] = [];
  const read = (b: FileBlock, dictionary: boolean) => {
    const header = messageAt(bytes, b);
    const message = parseMessageFull(header).message;
    const body = bytes.subarray(b.offset + b.metaDataLength, b.offset + b.metaDataLength + b.bodyLength);
    if (message.kind === "schema") throw new IpcError("A footer block points at a schema message.");
    if ((message.kind === "dictionaryBatch") !== dictionary) {
      throw new IpcError("A footer block points at the wrong kind of batch.");
    }
    const schema = message.kind === "dictionaryBatch"
      ? dictionarySchema(footer.schema, message.id)
      : footer.schema;
    validateRecordBatch(schema, message.batch, body);
    messages.push({ header, body, message });
  };
  for (const b of footer.dictionaries) read(b, true);
  for (const b of footer.recordBatches) read(b, false);
  return { schemaHeader: footer.schemaHeader, schema: footer.schema, messages };
}
