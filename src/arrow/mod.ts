/**
 * Arrow IPC for flame-cache, without trusting its input:
 *
 * - **Validation** of untrusted IPC messages: a bounds-checked flatbuffer reader (`flatbuf.ts`),
 *   message and schema parsing ({@link parseMessage}), record batch checks against the body
 *   ({@link validateRecordBatch}) and bounded ZSTD decompression ({@link decompressBatch}). Nothing
 *   untrusted reaches apache-arrow before passing through these; every problem is an {@link IpcError}
 *   whose message is safe to return to a client.
 * - **Flame's fixed schemas**: the opaque upload rows `{version, data}` ({@link opaqueRows}), the read
 *   rows `{version, kind, data}` of DoGet replies ({@link encodeReadRow}), and native tables tagged
 *   `flame.cache.format = arrow-table-v1` ({@link isNativeSchema}).
 * - **Encoding** schemas and messages with the module's own flatbuffer writer, so a parsed schema is
 *   re-encoded losslessly with changed metadata ({@link withSchemaMetadata}); row headers are patched
 *   templates, so encoding a row never touches its payload.
 * - **The IPC file format** used for storage: object files written as lists of parts (payloads are not
 *   copied) and read whole or footer-only ({@link readIpcFile}, {@link readFooter}), plus the IPC stream
 *   reader ({@link readIpcStream}).
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
