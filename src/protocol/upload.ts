/**
 * Decoding a DoPut stream into what to store: the target (from the first
 * descriptor) and an opaque payload or a native table. Every IPC message is
 * validated by our own checks before anything reads its buffers.
 *
 * @module
 */
import {
  type BatchInfo,
  dictionarySchema,
  IpcError,
  isNativeSchema,
  isOpaqueSchema,
  opaqueRows,
  parseMessage,
  type SchemaInfo,
  validateRecordBatch,
} from "../arrow/mod.ts";
import { CacheError, invalidArgument } from "../errors.ts";
import { type IncomingMessage, SHARED_THRESHOLD } from "../transport/framing.ts";
import { LargeMessage } from "../transport/large_message.ts";
import type { IpcPart, NativeBody, ObjectBody } from "../store/types.ts";
import { decodeFlightData, decodeUtf8, type FlightDescriptor } from "./messages.ts";

/** A decoded upload. */
export interface Upload {
  descriptor: FlightDescriptor;
  /** Set for `PATCH:<key>` commands. */
  patchKey?: string;
  body: ObjectBody;
}

/** Limits applied while decoding. */
export interface UploadLimits {
  maxObjectBytes: number;
}

const PATCH_PREFIX = "PATCH:";

/** Run an IPC check, turning its errors into INVALID_ARGUMENT. */
function ipc<T>(what: string, f: () => T): T {
  try {
    return f();
  } catch (err) {
    if (err instanceof IpcError) throw invalidArgument(`${what}: ${err.message}`);
    throw err;
  }
}

/** Read a whole DoPut request stream. */
export async function readUpload(messages: AsyncIterable<IncomingMessage>, limits: UploadLimits): Promise<Upload> {
  let descriptor: FlightDescriptor | undefined;
  let schema: SchemaInfo | undefined;
  let schemaHeader: Uint8Array | undefined;
  let native = false;
  const rows: Uint8Array[] = [];
  let rowBytes = 0;
  const parts: IpcPart[] = [];
  let nativeRows = 0;
  let nativeBytes = 0;
  let batches = 0;

  for await (const incoming of messages) {
    const message = incoming instanceof LargeMessage ? await incoming.readAll() : incoming;
    const fd = decodeFlightData(message);
    if (!descriptor && fd.descriptor) descriptor = fd.descriptor;
    if (fd.dataHeader.length === 0) continue; // metadata-only message
    const msg = ipc("Invalid IPC message", () => parseMessage(fd.dataHeader));
    if (msg.kind === "schema") {
      if (schema) throw invalidArgument("Invalid upload: more than one schema message");
      schema = msg.schema;
      schemaHeader = fd.dataHeader.slice();
      native = isNativeSchema(schema);
      if (!native && !isOpaqueSchema(schema)) {
        throw invalidArgument(
          `Invalid upload schema: expected columns {version: UInt64, data: Binary} or a table tagged ` +
            `flame.cache.format=arrow-table-v1, got (${
              schema.fields.map((f) => `${f.name}: ${f.typeName}`).join(", ")
            })`,
        );
      }
      continue;
    }
    if (!schema) throw invalidArgument("Invalid upload: record batch before schema");
    const body = fd.dataBody;
    if (body.length < msg.bodyLength) {
      throw invalidArgument(
        `Invalid IPC message: body has ${body.length} bytes, header says ${msg.bodyLength}`,
      );
    }
    const batch: BatchInfo = msg.batch;
    // A dictionary batch is a one-column batch of its dictionary's value type.
    const against = msg.kind === "dictionaryBatch"
      ? ipc("Invalid dictionary batch", () => dictionarySchema(schema!, msg.id))
      : schema;
    ipc("Invalid record batch", () => validateRecordBatch(against, batch, body));
    if (native) {
      nativeBytes += body.length;
      if (nativeBytes > limits.maxObjectBytes) throw tooLarge(nativeBytes, limits);
      parts.push({ header: fd.dataHeader, body, isDictionary: msg.kind === "dictionaryBatch" });
      if (msg.kind === "recordBatch") {
        nativeRows += batch.length;
        batches++;
      }
      continue;
    }
    if (msg.kind !== "recordBatch") {
      throw invalidArgument("Invalid upload: dictionary batch in an opaque object");
    }
    batches++;
    for (const row of ipc("Invalid record batch", () => opaqueRows(schema!, batch, body))) {
      rows.push(row);
      rowBytes += row.length;
      if (rowBytes > limits.maxObjectBytes) throw tooLarge(rowBytes, limits);
    }
  }

  if (!descriptor) throw invalidArgument("key must be provided in descriptor path or command");
  if (!schema || !schemaHeader) throw invalidArgument("No data received");
  const patchKey = patchTarget(descriptor);
  if (native) {
    if (patchKey) throw invalidArgument("Invalid PATCH: patches must be opaque {version, data} rows");
    const body: NativeBody = { type: "native", schemaHeader, messages: parts, rows: nativeRows };
    return { descriptor, body };
  }
  if (batches === 0) throw invalidArgument("No data received");
  if (rows.length === 0) throw invalidArgument("Expected at least one row");
  return { descriptor, patchKey, body: { type: "opaque", data: concat(rows, rowBytes) } };
}

function tooLarge(bytes: number, limits: UploadLimits): CacheError {
  return new CacheError(
    8,
    `object larger than the server limit of ${limits.maxObjectBytes} bytes (received ${bytes} so far)`,
  );
}

/** The key of a `PATCH:<key>` command, if the descriptor is one. */
function patchTarget(d: FlightDescriptor): string | undefined {
  if (d.cmd.length === 0) return undefined;
  const cmd = decodeUtf8(d.cmd, "Descriptor command");
  return cmd.startsWith(PATCH_PREFIX) ? cmd.slice(PATCH_PREFIX.length) : undefined;
}

/** Join row payloads; a single row stays a view (no copy). */
function concat(rows: Uint8Array[], total: number): Uint8Array {
  if (rows.length === 1) return rows[0];
  const out = total >= SHARED_THRESHOLD
    ? new Uint8Array(new SharedArrayBuffer(total))
    : new Uint8Array(total);
  let off = 0;
  for (const r of rows) {
    out.set(r, off);
    off += r.length;
  }
  return out;
}
