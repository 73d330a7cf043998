/**
 * Arrow IPC for flame-cache: a validator for untrusted IPC messages (nothing untrusted may reach
 * apache-arrow before passing through it), encoders for Flame's fixed schemas and one-row batches,
 * and the IPC file format used for storage.
 *
 * Deviations from the original interface brief (all additive; no required signature changed):
 * - `BatchInfo` has optional `variadicBufferCounts`, `bodyLength` and `metadataVersion`. parseMessage
 *   sets `bodyLength`, and validateRecordBatch then requires `body.length === bodyLength` (decision:
 *   exact equality, as every Flight/IPC writer sends exactly the declared, padded body).
 * - `FieldInfo` has optional type parameters (`unit`, `precision`, `scale`, `timezone`, `unionMode`,
 *   `typeIds`, `listSize`, `keysSorted`, `dictionary`, `metadata`) and `SchemaInfo` optional `features`,
 *   so a parsed schema can be re-encoded losslessly. withSchemaMetadata therefore re-encodes with this
 *   module's own flatbuffer writer instead of apache-arrow (which drops types it does not know).
 * - decompressBatch's `maxBytes` caps the whole decompressed body (hence also each buffer); an
 *   uncompressed batch is returned unchanged.
 * - opaqueRows has an optional 4th parameter `maxBytes` (default 2 GiB) capping each decompressed
 *   buffer: a few KiB of ZSTD can declare and expand to 2 GiB, so pass the server's object size limit.
 * - isOpaqueSchema accepts extra columns after the first two (like Flame's Rust server, which checks
 *   columns 0 and 1 by position only).
 * - readFooter's return type is named `FooterInfo`; readIpcFile's schemaHeader is re-encoded from the
 *   footer schema (the same bytes readFooter returns). Footers whose blocks add up to more than the
 *   file (overlapping or repeated blocks) are refused, which keeps reading O(file size).
 * - Extra exports: readIpcStream, dictionarySchema, dictionaryIds, encodeSchemaMessage, bufferBytes,
 *   READ_SCHEMA, OPAQUE_SCHEMA, crc32Hex, TypeId, MetadataVersion, limits.
 *
 * @module
 */

export { IpcError, TailTooShort } from "./errors.ts";
export {
  type BatchInfo,
  type BufferInfo,
  type DictionaryInfo,
  type FieldInfo,
  type IpcMessage,
  MetadataVersion,
  type NodeInfo,
  type SchemaInfo,
  TypeId,
} from "./types.ts";
export {
  CHECKSUM_KEY,
  dictionaryIds,
  dictionarySchema,
  isNativeSchema,
  isOpaqueSchema,
  MAX_FIELD_DEPTH,
  MAX_FIELDS,
  NATIVE_FORMAT,
  NATIVE_FORMAT_KEY,
  NATIVE_VERSION_KEY,
} from "./schema.ts";
export { parseMessage } from "./message.ts";
export { MAX_BUFFER_BYTES, validateRecordBatch } from "./batch.ts";
export { bufferBytes, decompressBatch } from "./compression.ts";
export { opaqueRows, opaqueVersions } from "./opaque.ts";
export { encodeSchemaForFlight, encodeSchemaMessage, frameMessage, withSchemaMetadata } from "./encode.ts";
export {
  type EncodedRow,
  encodeOpaqueRow,
  encodeReadRow,
  MAX_BINARY_LENGTH,
  OPAQUE_SCHEMA,
  OPAQUE_SCHEMA_HEADER,
  READ_SCHEMA,
  READ_SCHEMA_HEADER,
} from "./rows.ts";
export {
  crc32Hex,
  type FileBlock,
  type FooterInfo,
  type IpcFile,
  nativeFileParts,
  opaqueFileParts,
  readFooter,
  readIpcFile,
} from "./file.ts";
export { type IpcStream, readIpcStream } from "./stream.ts";
