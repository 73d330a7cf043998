/**
 * Reading Flame's opaque `{version UInt64, data Binary}` rows out of a validated record batch.
 *
 * @module
 */

import { MAX_BUFFER_BYTES } from "./batch.ts";
import { bufferBytes } from "./compression.ts";
import { IpcError } from "./errors.ts";
import { isOpaqueSchema } from "./schema.ts";
import { type BatchInfo, type SchemaInfo, TypeId } from "./types.ts";

function requireOpaque(schema: SchemaInfo): void {
  if (!isOpaqueSchema(schema)) {
    const got = schema.fields.slice(0, 2).map((f) => f.typeName).join(", ") || "no columns";
    throw new IpcError(
      `Expected an opaque object schema (column 0 UInt64, column 1 Binary) but got ${got}.`,
    );
  }
}

function isValid(validity: Uint8Array | undefined, i: number): boolean {
  return !validity || (validity[i >> 3] & (1 << (i & 7))) !== 0;
}

/**
 * The `data` values of each row: views into `body`, or freshly decompressed bytes when the batch is
 * ZSTD-compressed (LZ4: IpcError "LZ4 compression is not supported."). Validates the offsets fully
 * (non-decreasing, inside the values buffer). Null rows give empty arrays. Call after
 * {@link validateRecordBatch}. `maxBytes` caps the declared decompressed size of each buffer (default
 * 2 GiB; pass the server's object size limit, since a small ZSTD buffer can declare and expand to a lot).
 * Throws {@link IpcError}.
 */
export function opaqueRows(
  schema: SchemaInfo,
  batch: BatchInfo,
  body: Uint8Array,
  maxBytes: number = MAX_BUFFER_BYTES,
): Uint8Array[] {
  requireOpaque(schema);
  if (batch.compression === "lz4") throw new IpcError("LZ4 compression is not supported.");
  const node = batch.nodes[1];
  if (!node) throw new IpcError("The record batch has no node for the data column.");
  const n = node.length;
  if (n === 0) return [];
  const width = schema.fields[1].typeId === TypeId.LargeBinary ? 8 : 4;
  // Column 0 owns buffers 0-1; the data column has validity 2, offsets 3, values 4.
  const validity = node.nullCount > 0 ? bufferBytes(batch, body, 2, maxBytes) : undefined;
  const offsets = bufferBytes(batch, body, 3, maxBytes);
  const values = bufferBytes(batch, body, 4, maxBytes);
  if (validity && validity.byteLength < Math.ceil(n / 8)) {
    throw new IpcError("The data column's validity bitmap is too short.");
  }
  if (offsets.byteLength < (n + 1) * width) {
    throw new IpcError("The data column's offsets buffer is too short.");
  }
  const dv = new DataView(offsets.buffer, offsets.byteOffset, offsets.byteLength);
  const max = values.byteLength;
  const at = width === 4 ? (i: number) => dv.getInt32(4 * i, true) : (i: number) => {
    const v = dv.getBigInt64(8 * i, true);
    return v < 0n || v > BigInt(max) ? -1 : Number(v);
  };
  let prev = at(0);
  if (prev < 0 || prev > max) throw new IpcError("The data column's first offset points outside its values.");
  const out: Uint8Array[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const next = at(i + 1);
    if (next < prev || next > max) {
      throw new IpcError("The data column's offsets decrease or point past the end of its values.");
    }
    out[i] = isValid(validity, i) ? values.subarray(prev, next) : new Uint8Array(0);
    prev = next;
  }
  return out;
}

/** The version column (UInt64) of an opaque batch as bigints; nulls read as 0n. Throws {@link IpcError}. */
export function opaqueVersions(schema: SchemaInfo, batch: BatchInfo, body: Uint8Array): bigint[] {
  requireOpaque(schema);
  if (batch.compression === "lz4") throw new IpcError("LZ4 compression is not supported.");
  const node = batch.nodes[0];
  if (!node) throw new IpcError("The record batch has no node for the version column.");
  const n = node.length;
  if (n === 0) return [];
  const validity = node.nullCount > 0 ? bufferBytes(batch, body, 0) : undefined;
  const values = bufferBytes(batch, body, 1);
  if (validity && validity.byteLength < Math.ceil(n / 8)) {
    throw new IpcError("The version column's validity bitmap is too short.");
  }
  if (values.byteLength < n * 8) throw new IpcError("The version column's values buffer is too short.");
  const dv = new DataView(values.buffer, values.byteOffset, values.byteLength);
  const out: bigint[] = new Array(n);
  for (let i = 0; i < n; i++) out[i] = isValid(validity, i) ? dv.getBigUint64(8 * i, true) : 0n;
  return out;
}
