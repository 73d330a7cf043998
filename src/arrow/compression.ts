/**
 * Reading (decompressing) individual body buffers and whole compressed record batches.
 *
 * Arrow IPC body compression prefixes every non-empty buffer with its int64 uncompressed length (-1 when
 * the buffer is stored uncompressed). ZSTD is decoded with node:zlib, bounded by the declared length so
 * a small compressed buffer cannot expand without limit. LZ4 is not supported.
 *
 * @module
 */

import { zstdDecompressSync } from "node:zlib";
import { logicalBufferSize, MAX_BUFFER_BYTES } from "./batch.ts";
import { batchTable, encodeMessage, pad8 } from "./encode.ts";
import { IpcError } from "./errors.ts";
import { fb } from "./fbwrite.ts";
import { parseMessageFull } from "./message.ts";
import { type BatchInfo, type BufferInfo, MessageHeaderType } from "./types.ts";

function checkInBody(batch: BatchInfo, body: Uint8Array, i: number): void {
  const b = batch.buffers[i];
  if (!b) throw new IpcError(`The record batch has no buffer ${i}.`);
  if (b.offset > body.byteLength || b.length > body.byteLength - b.offset) {
    throw new IpcError(`Buffer ${i} lies outside the message body.`);
  }
}

/**
 * The uncompressed bytes of buffer `i`: a view into `body` when the body is uncompressed (or the buffer
 * is stored uncompressed), else freshly decompressed bytes. A declared size above `maxBytes` is refused
 * before decompressing. Throws {@link IpcError} (LZ4: "LZ4 compression is not supported.").
 */
export function bufferBytes(
  batch: BatchInfo,
  body: Uint8Array,
  i: number,
  maxBytes = MAX_BUFFER_BYTES,
): Uint8Array {
  checkInBody(batch, body, i);
  const b = batch.buffers[i];
  const raw = body.subarray(b.offset, b.offset + b.length);
  if (batch.compression === "none" || b.length === 0) return raw;
  if (batch.compression === "lz4") throw new IpcError("LZ4 compression is not supported.");
  const n = logicalBufferSize(batch, body, i);
  const stored = new DataView(raw.buffer, raw.byteOffset, 8).getBigInt64(0, true) === -1n;
  if (stored) return raw.subarray(8);
  if (n > maxBytes) {
    throw new IpcError(`A compressed buffer declares ${n} bytes, more than the limit of ${maxBytes}.`);
  }
  return zstd(raw.subarray(8), n);
}

function zstd(src: Uint8Array, n: number): Uint8Array {
  if (n === 0) return new Uint8Array(0);
  let out: Uint8Array;
  try {
    // maxOutputLength stops a bomb at the declared size instead of after expanding it.
    out = zstdDecompressSync(src, { maxOutputLength: n });
  } catch {
    throw new IpcError(
      "A ZSTD-compressed buffer could not be decompressed (corrupt, or larger than declared).",
    );
  }
  if (out.byteLength !== n) {
    throw new IpcError("A ZSTD-compressed buffer decompressed to a different size than it declares.");
  }
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/**
 * Decompress a ZSTD-compressed record or dictionary batch into an uncompressed `{header, body, batch}`
 * (new header without compression, buffers re-laid 8-byte aligned; message version, custom metadata,
 * dictionary id and isDelta kept). `maxBytes` caps the whole decompressed body (and so each buffer);
 * it is checked against the declared sizes before anything is decompressed. An uncompressed input is
 * returned unchanged. `batch` must be the parse result of `header`. Throws {@link IpcError}.
 */
export function decompressBatch(
  header: Uint8Array,
  batch: BatchInfo,
  body: Uint8Array,
  maxBytes: number,
): { header: Uint8Array; body: Uint8Array; batch: BatchInfo } {
  if (batch.compression === "none") return { header, body, batch };
  if (batch.compression === "lz4") throw new IpcError("LZ4 compression is not supported.");
  const parsed = parseMessageFull(header);
  const msg = parsed.message;
  if (msg.kind === "schema") throw new IpcError("A schema message has no body to decompress.");

  let total = 0;
  for (let i = 0; i < batch.buffers.length; i++) {
    checkInBody(batch, body, i);
    total += pad8(logicalBufferSize(batch, body, i));
    if (total > maxBytes) {
      throw new IpcError(
        `The decompressed record batch would be larger than the limit of ${maxBytes} bytes.`,
      );
    }
  }
  const out = new Uint8Array(total);
  const buffers: BufferInfo[] = [];
  let pos = 0;
  for (let i = 0; i < batch.buffers.length; i++) {
    const bytes = bufferBytes(batch, body, i, maxBytes);
    out.set(bytes, pos);
    buffers.push({ offset: pos, length: bytes.byteLength });
    pos += pad8(bytes.byteLength);
  }
  const plain: BatchInfo = { ...batch, buffers, compression: "none", bodyLength: total };
  const options = { version: parsed.version, customMetadata: parsed.customMetadata };
  const newHeader = msg.kind === "recordBatch"
    ? encodeMessage(MessageHeaderType.RecordBatch, batchTable(plain), total, options)
    : encodeMessage(
      MessageHeaderType.DictionaryBatch,
      [fb.i64(msg.id), fb.table(batchTable(plain)), fb.bool(msg.isDelta)],
      total,
      options,
    );
  return { header: newHeader, body: out, batch: plain };
}
