/**
 * Turning FlightInfo answers (ListFlights, GetFlightInfo) into object
 * descriptions: key, size, records, kind, and the version when the server
 * reports one (native tables carry `flame.cache.version` in their schema; a
 * BSON ObjectRef in FlightInfo.app_metadata is used when present).
 *
 * @module
 */
import { BSON } from "bson";
import { isNativeSchema, parseMessage, type SchemaInfo } from "../arrow/mod.ts";
import type { FlightInfo } from "./flight.ts";
import { nativeVersion } from "./reply.ts";
import { rowLayout } from "./rows.ts";

/** A column of a native table. */
export interface ColumnInfo {
  /** Column name. */
  name: string;
  /** Arrow type, e.g. `Int32`, `Utf8`. */
  type: string;
  /** Whether nulls are allowed. */
  nullable: boolean;
}

/** What the server says about an object. */
export interface ObjectInfo {
  /** Full key `app/session/object`. */
  key: string;
  /** Where the object lives (the server's advertised endpoint), when given. */
  endpoint?: string;
  /** Current version, when the server reports it. */
  version?: number;
  /** Payload bytes (base + patches); -1 when the server does not know. */
  size: number;
  /** Rows (opaque: base + patches; native: table rows); -1 when unknown. */
  records: number;
  /** `opaque` bytes or a `native` Arrow table, when the schema tells. */
  kind?: "opaque" | "native";
  /** Columns of a native table. */
  columns?: ColumnInfo[];
}

const utf8 = new TextDecoder();

/** Parse FlightInfo.schema: a framed IPC schema message, or the bare flatbuffer Flame's Rust server sends. */
export function flightInfoSchema(bytes: Uint8Array): SchemaInfo | undefined {
  if (bytes.length < 8) return undefined;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let header = bytes;
  if (dv.getUint32(0, true) === 0xffffffff) {
    const len = dv.getInt32(4, true);
    if (len <= 0 || len > bytes.length - 8) return undefined;
    header = bytes.subarray(8, 8 + len);
  }
  try {
    const msg = parseMessage(header);
    return msg.kind === "schema" ? msg.schema : undefined;
  } catch {
    return undefined;
  }
}

function refVersion(meta: Uint8Array): number | undefined {
  if (meta.length < 5) return undefined;
  try {
    const doc = BSON.deserialize(meta, { useBigInt64: true });
    const v = doc.version;
    if (typeof v === "bigint") return Number(v);
    if (typeof v === "number" && Number.isInteger(v) && v >= 0) return v;
  } catch { /* not a BSON ObjectRef */ }
  return undefined;
}

/** Describe an object from its FlightInfo. */
export function objectInfo(info: FlightInfo): ObjectInfo {
  const ep = info.endpoints[0];
  const key = info.descriptor?.path[0] ?? (ep ? utf8.decode(ep.ticket) : "");
  const out: ObjectInfo = { key, size: info.totalBytes, records: info.totalRecords };
  if (ep?.locations[0]) out.endpoint = ep.locations[0];
  const schema = flightInfoSchema(info.schema);
  if (schema && isNativeSchema(schema)) {
    out.kind = "native";
    out.version = nativeVersion(schema);
    out.columns = schema.fields.map((f) => ({ name: f.name, type: f.typeName, nullable: f.nullable }));
  } else if (schema && rowLayout(schema)) {
    out.kind = "opaque";
  }
  const v = refVersion(info.appMetadata) ?? (ep ? refVersion(ep.appMetadata) : undefined);
  if (v !== undefined) out.version = v;
  return out;
}
