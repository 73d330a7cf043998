/**
 * Building DoPut request messages: Flame's opaque `{version UInt64, data Binary}`
 * rows (payloads sent as views, never copied) and native Arrow tables tagged
 * `flame.cache.format=arrow-table-v1`.
 *
 * @module
 */
import { type Table, tableToIPC } from "apache-arrow";
import {
  encodeOpaqueRow,
  IpcError,
  NATIVE_FORMAT,
  NATIVE_FORMAT_KEY,
  OPAQUE_SCHEMA_HEADER,
  readIpcStream,
  withSchemaMetadata,
} from "../arrow/mod.ts";
import { InvalidArgumentError } from "./errors.ts";
import { flightDataParts, type FlightDescriptor } from "./flight.ts";

/** Metadata key flamepy uses to pick the Python type of a native table. */
export const LOGICAL_TYPE_KEY = "flame.cache.logical_type";

/** Largest payload of one opaque row (Arrow Binary uses 32-bit offsets). */
export const MAX_ROW_BYTES = 2 ** 30;

const ZEROS = new Uint8Array(8);

/** The schema message of an opaque upload, carrying the descriptor (as pyarrow sends it). */
export function opaqueSchemaMessage(descriptor: FlightDescriptor): Uint8Array[] {
  return flightDataParts(OPAQUE_SCHEMA_HEADER, [], 0, descriptor);
}

/** One opaque row (`version` 0, the server assigns versions) carrying `data` as a view. */
export function opaqueRowMessage(data: Uint8Array): Uint8Array[] {
  const row = encodeOpaqueRow(0, data.length);
  const body = [row.bodyPrefix, data];
  if (row.bodyPadding > 0) body.push(ZEROS.subarray(0, row.bodyPadding));
  return flightDataParts(row.header, body, row.bodyLength);
}

/** Every message of an opaque upload of `data` (rows of at most {@link MAX_ROW_BYTES}). */
export function opaqueUpload(descriptor: FlightDescriptor, data: Uint8Array): Uint8Array[][] {
  const out = [opaqueSchemaMessage(descriptor)];
  if (data.length === 0) out.push(opaqueRowMessage(data));
  for (let off = 0; off < data.length; off += MAX_ROW_BYTES) {
    out.push(opaqueRowMessage(data.subarray(off, off + MAX_ROW_BYTES)));
  }
  return out;
}

/**
 * Every message of a native upload of `table`: its IPC stream (one copy, made by
 * apache-arrow) split into FlightData, the schema re-tagged with
 * `flame.cache.format=arrow-table-v1` (and `flame.cache.logical_type=pyarrow.table`
 * unless set, so flamepy reads it back as a `pyarrow.Table`).
 */
export function nativeUpload(descriptor: FlightDescriptor, table: Table): Uint8Array[][] {
  let stream;
  try {
    stream = readIpcStream(tableToIPC(table, "stream"));
  } catch (err) {
    if (err instanceof IpcError) throw new InvalidArgumentError(`cannot encode the table: ${err.message}`);
    throw err;
  }
  const set: Record<string, string> = { [NATIVE_FORMAT_KEY]: NATIVE_FORMAT };
  if (!stream.schema.metadata.has(LOGICAL_TYPE_KEY)) set[LOGICAL_TYPE_KEY] = "pyarrow.table";
  const schemaHeader = withSchemaMetadata(stream.schemaHeader, set);
  const out = [flightDataParts(schemaHeader, [], 0, descriptor)];
  for (const m of stream.messages) out.push(flightDataParts(m.header, [m.body], m.body.length));
  return out;
}
