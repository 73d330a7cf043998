/**
 * Parsing and validating IPC `Message` flatbuffers (Message.fbs) such as `FlightData.data_header`.
 *
 * @module
 */

import { IpcError } from "./errors.ts";
import { FbReader, type FbTable } from "./flatbuf.ts";
import { parseKeyValues, parseSchemaTable } from "./schema.ts";
import {
  type BatchInfo,
  type BufferInfo,
  type IpcMessage,
  MessageHeaderType,
  type NodeInfo,
} from "./types.ts";

/** A parsed message plus the parts needed to re-encode it faithfully. */
export interface ParsedMessage {
  /** The message itself. */
  message: IpcMessage;
  /** MetadataVersion (3 = V4, 4 = V5). */
  version: number;
  /** Message-level custom metadata (usually empty). */
  customMetadata: Map<string, string>;
}

const CONTINUATION = 0xffffffff;

/** Converts a wire int64 to a number, rejecting negatives and values above 2^53. */
export function toSafeNumber(v: bigint, what: string): number {
  if (v < 0n) throw new IpcError(`The ${what} is negative.`);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new IpcError(`The ${what} is too large.`);
  return Number(v);
}

/**
 * Parse + validate a flatbuffer Message (FlightData.data_header, no continuation marker or length
 * prefix). Rejects Tensor/SparseTensor and metadata versions other than V4 and V5. Throws
 * {@link IpcError}.
 */
export function parseMessage(header: Uint8Array): IpcMessage {
  return parseMessageFull(header).message;
}

/** Like {@link parseMessage}, also returning the metadata version and message custom metadata. */
export function parseMessageFull(header: Uint8Array): ParsedMessage {
  if (header.byteLength >= 8) {
    const dv = new DataView(header.buffer, header.byteOffset, header.byteLength);
    if (dv.getUint32(0, true) === CONTINUATION) {
      throw new IpcError(
        "The message header starts with the IPC continuation marker; it must be the bare flatbuffer Message.",
      );
    }
  }
  const r = new FbReader(header, "The message header");
  const m = r.root("message");
  const version = m.i16(0, 0);
  if (version !== 3 && version !== 4) {
    const name = version >= 0 && version <= 4 ? `V${version + 1}` : `${version}`;
    throw new IpcError(`Arrow metadata version ${name} is not supported (only V4 and V5 are).`);
  }
  const type = m.u8(1, 0);
  const bodyLength = toSafeNumber(m.i64(3, 0n), "message body length");
  const customMetadata = parseKeyValues(m, 4);
  if (type === MessageHeaderType.NONE) throw new IpcError("The message has no header type.");
  if (type === MessageHeaderType.Tensor) throw new IpcError("Tensor messages are not supported.");
  if (type === MessageHeaderType.SparseTensor) throw new IpcError("SparseTensor messages are not supported.");
  if (type > MessageHeaderType.SparseTensor) {
    throw new IpcError(`The message header type ${type} is unknown.`);
  }
  const h = m.table(2, "message content");
  if (!h) throw new IpcError("The message has no content table.");

  let message: IpcMessage;
  if (type === MessageHeaderType.Schema) {
    message = { kind: "schema", schema: parseSchemaTable(h), bodyLength };
  } else if (type === MessageHeaderType.RecordBatch) {
    message = { kind: "recordBatch", batch: parseBatchTable(h, version, bodyLength), bodyLength };
  } else {
    const data = h.table(1, "dictionary batch data");
    if (!data) throw new IpcError("The dictionary batch has no record batch.");
    message = {
      kind: "dictionaryBatch",
      id: h.i64(0, 0n),
      isDelta: h.bool(2, false),
      batch: parseBatchTable(data, version, bodyLength),
      bodyLength,
    };
  }
  return { message, version, customMetadata };
}

/** Parses a `RecordBatch` table (without checking it against a schema). */
export function parseBatchTable(t: FbTable, version: number, bodyLength?: number): BatchInfo {
  const length = toSafeNumber(t.i64(0, 0n), "record batch row count");
  const dv = t.r.dv;
  const nodes: NodeInfo[] = [];
  const nv = t.vector(1, 16, "field node list");
  if (nv) {
    for (let i = 0; i < nv.length; i++) {
      const p = nv.pos + 16 * i;
      nodes.push({
        length: toSafeNumber(dv.getBigInt64(p, true), "field node length"),
        nullCount: toSafeNumber(dv.getBigInt64(p + 8, true), "field node null count"),
      });
    }
  }
  const buffers: BufferInfo[] = [];
  const bv = t.vector(2, 16, "buffer list");
  if (bv) {
    for (let i = 0; i < bv.length; i++) {
      const p = bv.pos + 16 * i;
      buffers.push({
        offset: toSafeNumber(dv.getBigInt64(p, true), "buffer offset"),
        length: toSafeNumber(dv.getBigInt64(p + 8, true), "buffer length"),
      });
    }
  }
  let compression: BatchInfo["compression"] = "none";
  const c = t.table(3, "body compression");
  if (c) {
    const codec = c.u8(0, 0); // Message.fbs default: LZ4_FRAME
    if (codec === 0) compression = "lz4";
    else if (codec === 1) compression = "zstd";
    else throw new IpcError(`The body compression codec ${codec} is unknown.`);
    if (c.u8(1, 0) !== 0) throw new IpcError("Only per-buffer body compression is supported.");
  }
  const batch: BatchInfo = { length, nodes, buffers, compression, metadataVersion: version };
  const variadic = t.i64s(4, "variadic buffer count list");
  if (variadic) batch.variadicBufferCounts = variadic.map((v) => toSafeNumber(v, "variadic buffer count"));
  if (bodyLength !== undefined) batch.bodyLength = bodyLength;
  return batch;
}
