/**
 * Checking a record batch's field nodes and buffers against its schema and its actual body.
 *
 * After {@link validateRecordBatch} every buffer lies inside the body and is at least as large as the
 * layout of its field needs for the node's length, so a decoder that trusts the metadata cannot read
 * outside the body or be tricked into sizing allocations from lengths the body cannot back.
 *
 * @module
 */

import { IpcError } from "./errors.ts";
import {
  type BatchInfo,
  type FieldInfo,
  MetadataVersion,
  type NodeInfo,
  type SchemaInfo,
  TypeId,
} from "./types.ts";

/** Largest uncompressed size a compressed buffer may declare (2 GiB). */
export const MAX_BUFFER_BYTES = 2 ** 31;

interface Ctx {
  batch: BatchInfo;
  body: Uint8Array;
  dv: DataView;
  node: number;
  buffer: number;
  variadic: number;
}

/**
 * Check a record batch (or dictionary batch, with {@link dictionarySchema}) against its schema and body.
 *
 * - When `batch.bodyLength` is set (parseMessage sets it) it must equal `body.length` exactly: Flight
 *   and IPC writers always send the padded body whose length the header declares.
 * - The node count must equal the flattened field count (a dictionary-encoded field counts as its index
 *   column only) and the buffer count what the layout of each type needs.
 * - Every buffer must lie inside the body (8-byte alignment is not required) and be large enough for
 *   its node's length; top-level nodes must have exactly `batch.length` slots.
 * - For compressed bodies each non-empty buffer starts with an int64 uncompressed length, which must be
 *   -1 (stored uncompressed) or at most {@link MAX_BUFFER_BYTES}; it is used for the size checks.
 *
 * Does not decompress and does not read offsets buffers' contents (opaqueRows does, for its column).
 * Fields without buffers (Null, run-end encoded parents) and list children can claim lengths no buffer
 * backs; that is harmless for storing and forwarding, but decoders that allocate per row should not be
 * fed such batches. Throws {@link IpcError}.
 */
export function validateRecordBatch(schema: SchemaInfo, batch: BatchInfo, body: Uint8Array): void {
  if (batch.bodyLength !== undefined && batch.bodyLength !== body.byteLength) {
    throw new IpcError(
      `The message body is ${body.byteLength} bytes but its header declares ${batch.bodyLength}.`,
    );
  }
  batch.buffers.forEach((b, i) => {
    if (b.offset > body.byteLength || b.length > body.byteLength - b.offset) {
      throw new IpcError(
        `Buffer ${i} (offset ${b.offset}, length ${b.length}) lies outside the ${body.byteLength}-byte message body.`,
      );
    }
  });
  const c: Ctx = {
    batch,
    body,
    dv: new DataView(body.buffer, body.byteOffset, body.byteLength),
    node: 0,
    buffer: 0,
    variadic: 0,
  };
  for (const f of schema.fields) {
    const n = checkField(c, f);
    if (n.length !== batch.length) {
      throw new IpcError(
        `Column "${clip(f.name)}" has ${n.length} rows but the record batch has ${batch.length}.`,
      );
    }
  }
  if (c.node !== batch.nodes.length) {
    throw new IpcError(
      `The record batch has ${batch.nodes.length} field nodes but its schema needs ${c.node}.`,
    );
  }
  if (c.buffer !== batch.buffers.length) {
    throw new IpcError(
      `The record batch has ${batch.buffers.length} buffers but its schema needs ${c.buffer}.`,
    );
  }
  // An absent variadicBufferCounts vector reads as zero data buffers for every view column.
  const variadic = batch.variadicBufferCounts;
  if (variadic && variadic.length !== c.variadic) {
    throw new IpcError(
      `The record batch has ${variadic.length} variadic buffer counts but its schema has ${c.variadic} view columns.`,
    );
  }
}

function clip(s: string): string {
  return s.length > 64 ? `${s.slice(0, 61)}...` : s;
}

/**
 * Logical (uncompressed) size of buffer `i`: its length, or for a compressed body the int64 prefix
 * (-1 means stored uncompressed after the prefix). Assumes the buffer lies inside the body.
 */
export function logicalBufferSize(batch: BatchInfo, body: Uint8Array, i: number): number {
  const b = batch.buffers[i];
  if (batch.compression === "none" || b.length === 0) return b.length;
  if (b.length < 8) throw new IpcError(`Compressed buffer ${i} is shorter than its 8-byte length prefix.`);
  const dv = new DataView(body.buffer, body.byteOffset + b.offset, 8);
  const n = dv.getBigInt64(0, true);
  if (n === -1n) return b.length - 8;
  if (n < 0n) throw new IpcError(`Compressed buffer ${i} declares a negative uncompressed length.`);
  if (n > BigInt(MAX_BUFFER_BYTES)) {
    throw new IpcError(`Compressed buffer ${i} declares an uncompressed length above 2 GiB.`);
  }
  return Number(n);
}

function take(c: Ctx, f: FieldInfo, what: string, need: number, len: number): void {
  const i = c.buffer++;
  if (i >= c.batch.buffers.length) {
    throw new IpcError(
      `The record batch has ${c.batch.buffers.length} buffers, fewer than its schema needs.`,
    );
  }
  const size = logicalBufferSize(c.batch, c.body, i);
  if (size < need) {
    throw new IpcError(
      `The ${what} buffer of field "${clip(f.name)}" is ${size} bytes but ${len} values need ${need}.`,
    );
  }
}

function validity(c: Ctx, f: FieldInfo, n: NodeInfo): void {
  // A bitmap is only read when there are nulls; writers may send an empty buffer otherwise.
  take(c, f, "validity", n.nullCount > 0 ? Math.ceil(n.length / 8) : 0, n.length);
}

function offsets(c: Ctx, f: FieldInfo, len: number, width: number): void {
  take(c, f, "offsets", len === 0 ? 0 : (len + 1) * width, len);
}

// Long on purpose: one case per Arrow type, each a few bounds checks; a table of tiny functions would hide
// that every case consumes its buffers in the order the IPC format lays them out.
function checkField(c: Ctx, f: FieldInfo): NodeInfo {
  const i = c.node++;
  const node = c.batch.nodes[i];
  if (!node) {
    throw new IpcError(
      `The record batch has ${c.batch.nodes.length} field nodes, fewer than its schema needs.`,
    );
  }
  if (node.nullCount > node.length) throw new IpcError(`Field "${clip(f.name)}" has more nulls than values.`);
  const len = node.length;
  if (f.dictionary) {
    validity(c, f, node);
    take(c, f, "dictionary index", len * (f.dictionary.indexBitWidth / 8), len);
    return node;
  }
  const child = (k: number) => checkField(c, f.children[k]);
  const atLeast = (n: NodeInfo, want: number, k: number) => {
    if (n.length < want) {
      throw new IpcError(
        `Child ${k} of field "${clip(f.name)}" has ${n.length} values; at least ${want} are needed.`,
      );
    }
  };
  switch (f.typeId) {
    case TypeId.Null:
      break;
    case TypeId.Bool:
      validity(c, f, node);
      take(c, f, "values", Math.ceil(len / 8), len);
      break;
    case TypeId.Int:
    case TypeId.FloatingPoint:
    case TypeId.Decimal:
    case TypeId.Date:
    case TypeId.Time:
    case TypeId.Timestamp:
    case TypeId.Interval:
    case TypeId.Duration:
      validity(c, f, node);
      take(c, f, "values", len * (f.bitWidth! / 8), len);
      break;
    case TypeId.FixedSizeBinary:
      validity(c, f, node);
      take(c, f, "values", len * f.byteWidth!, len);
      break;
    case TypeId.Binary:
    case TypeId.Utf8:
    case TypeId.LargeBinary:
    case TypeId.LargeUtf8: {
      const large = f.typeId === TypeId.LargeBinary || f.typeId === TypeId.LargeUtf8;
      validity(c, f, node);
      offsets(c, f, len, large ? 8 : 4);
      take(c, f, "data", 0, len);
      break;
    }
    case TypeId.BinaryView:
    case TypeId.Utf8View: {
      validity(c, f, node);
      take(c, f, "views", len * 16, len);
      const k = c.variadic++;
      const extra = c.batch.variadicBufferCounts?.[k] ?? 0;
      if (extra > c.batch.buffers.length - c.buffer) {
        throw new IpcError(`Field "${clip(f.name)}" declares more data buffers than the record batch has.`);
      }
      for (let j = 0; j < extra; j++) take(c, f, "view data", 0, len);
      break;
    }
    case TypeId.List:
    case TypeId.Map:
    case TypeId.LargeList:
      validity(c, f, node);
      offsets(c, f, len, f.typeId === TypeId.LargeList ? 8 : 4);
      child(0);
      break;
    case TypeId.ListView:
    case TypeId.LargeListView: {
      const w = f.typeId === TypeId.LargeListView ? 8 : 4;
      validity(c, f, node);
      take(c, f, "offsets", len * w, len);
      take(c, f, "sizes", len * w, len);
      child(0);
      break;
    }
    case TypeId.FixedSizeList:
      validity(c, f, node);
      atLeast(child(0), len * f.listSize!, 0);
      break;
    case TypeId.Struct_:
      validity(c, f, node);
      f.children.forEach((_, k) => atLeast(child(k), len, k));
      break;
    case TypeId.Union:
      // Before V5 unions had a validity bitmap.
      if ((c.batch.metadataVersion ?? MetadataVersion.V5) < MetadataVersion.V5) validity(c, f, node);
      take(c, f, "type ids", len, len);
      if (f.unionMode === "dense") {
        take(c, f, "offsets", len * 4, len);
        f.children.forEach((_, k) => child(k));
      } else {
        f.children.forEach((_, k) => atLeast(child(k), len, k));
      }
      break;
    case TypeId.RunEndEncoded: {
      if (node.nullCount !== 0) {
        throw new IpcError(`Run-end encoded field "${clip(f.name)}" cannot have nulls.`);
      }
      const ends = child(0);
      const values = child(1);
      if (ends.length !== values.length) {
        throw new IpcError(`Run-end encoded field "${clip(f.name)}" has different run end and value counts.`);
      }
      break;
    }
    default:
      throw new IpcError(`Field "${clip(f.name)}" has an unsupported type.`);
  }
  return node;
}
