/**
 * Reading a whole Arrow IPC *stream* (framed messages, optional end-of-stream marker) with every
 * framing length checked and every batch validated against the stream's schema.
 *
 * @module
 */

import { validateRecordBatch } from "./batch.ts";
import { IpcError } from "./errors.ts";
import { parseMessage } from "./message.ts";
import { dictionarySchema } from "./schema.ts";
import type { IpcMessage, SchemaInfo } from "./types.ts";

/** A validated IPC stream. Headers and bodies are views into the input. */
export interface IpcStream {
  /** The schema message header (a view into the input). */
  schemaHeader: Uint8Array;
  /** The parsed schema. */
  schema: SchemaInfo;
  /** Dictionary and record batches in stream order. */
  messages: { header: Uint8Array; body: Uint8Array; message: IpcMessage }[];
}

/**
 * Read a complete IPC stream: a schema message, then dictionary and record batches, optionally ended by
 * the end-of-stream marker (nothing may follow it). Accepts the legacy framing without continuation
 * marker. Throws {@link IpcError}.
 */
export function readIpcStream(bytes: Uint8Array): IpcStream {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const size = bytes.byteLength;
  let pos = 0;
  let schema: SchemaInfo | undefined;
  let schemaHeader: Uint8Array | undefined;
  const messages: IpcStream["messages"] = [];
  while (pos < size) {
    if (size - pos < 4) throw new IpcError("The stream ends inside a message length.");
    let len = dv.getInt32(pos, true);
    pos += 4;
    if (len === -1) {
      if (size - pos < 4) throw new IpcError("The stream ends inside a message length.");
      len = dv.getInt32(pos, true);
      pos += 4;
    }
    if (len === 0) {
      if (pos !== size) throw new IpcError("The stream has data after its end-of-stream marker.");
      break;
    }
    if (len < 0 || len > size - pos) {
      throw new IpcError("A message length in the stream points past its end.");
    }
    const header = bytes.subarray(pos, pos + len);
    pos += len;
    const message = parseMessage(header);
    if (message.bodyLength > size - pos) throw new IpcError("A message body in the stream is truncated.");
    const body = bytes.subarray(pos, pos + message.bodyLength);
    pos += message.bodyLength;
    if (message.kind === "schema") {
      if (schema) throw new IpcError("The stream has more than one schema message.");
      schema = message.schema;
      schemaHeader = header;
      continue;
    }
    if (!schema) throw new IpcError("The stream does not start with a schema message.");
    const s = message.kind === "dictionaryBatch" ? dictionarySchema(schema, message.id) : schema;
    validateRecordBatch(s, message.batch, body);
    messages.push({ header, body, message });
  }
  if (!schema || !schemaHeader) throw new IpcError("The stream has no schema message.");
  return { schemaHeader, schema, messages };
}
