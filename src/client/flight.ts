/**
 * Flight.proto messages from the client's side: encoders for requests
 * (Ticket, Criteria, Action, FlightDescriptor, FlightData, HandshakeRequest with
 * BasicAuth) and decoders for replies (FlightInfo, PutResult, Result,
 * HandshakeResponse). Reuses the server's protobuf reader/writer; decoding
 * errors become INTERNAL "malformed reply" errors.
 *
 * @module
 */
import { fields, ProtoWriter } from "../flight/protobuf.ts";
import {
  decodeDescriptor,
  decodeFlightData,
  DescriptorType,
  encodeBytesMessage,
  encodeDescriptor,
  encodeFlightDataPrefix,
  FLIGHT_SERVICE,
  type FlightData,
  type FlightDescriptor,
} from "../flight/messages.ts";
import { decodeObjectRef, type ObjectRef } from "../flight/object_ref.ts";
import { badReply } from "./errors.ts";

export { DescriptorType, type FlightData, type FlightDescriptor, type ObjectRef };

/** Method path prefix of the Flight service. */
export { FLIGHT_SERVICE };

const enc = new TextEncoder();
const utf8 = new TextDecoder("utf-8", { fatal: true });
const EMPTY: Uint8Array = new Uint8Array(0);

/** Run a reply decoder, turning its errors into "malformed reply" client errors. */
function decoding<T>(what: string, f: () => T): T {
  try {
    return f();
  } catch (err) {
    throw badReply(what, err);
  }
}

/** A Ticket carrying `text` (e.g. `app/ssn/oid:3`). */
export function encodeTicket(text: string): Uint8Array {
  return encodeBytesMessage(enc.encode(text));
}

/** Criteria for ListFlights (this server filters by key prefix). */
export function encodeCriteria(prefix: string): Uint8Array {
  return encodeBytesMessage(enc.encode(prefix));
}

/** An Action (`type`, `body`). */
export function encodeAction(type: string, body: Uint8Array): Uint8Array {
  return new ProtoWriter(body.length + type.length + 16).string(1, type).bytes(2, body).finish();
}

/** A PATH descriptor `[path]`. */
export function pathDescriptor(path: string): FlightDescriptor {
  return { type: DescriptorType.PATH, cmd: EMPTY, path: [path] };
}

/** A CMD descriptor `PATCH:<key>` (Flame's patch upload). */
export function patchDescriptor(key: string): FlightDescriptor {
  return { type: DescriptorType.CMD, cmd: enc.encode(`PATCH:${key}`), path: [] };
}

/** A FlightDescriptor message (for GetFlightInfo). */
export function encodeDescriptorMessage(d: FlightDescriptor): Uint8Array {
  return encodeDescriptor(d).slice();
}

/**
 * A FlightData as parts to write back to back: optional descriptor, IPC header,
 * then the body given as views (`body`, whose lengths add up to `bodyLength`).
 */
export function flightDataParts(
  header: Uint8Array,
  body: Uint8Array[],
  bodyLength: number,
  descriptor?: FlightDescriptor,
): Uint8Array[] {
  const parts: Uint8Array[] = [];
  if (descriptor) parts.push(new ProtoWriter(64).bytes(1, encodeDescriptor(descriptor), true).finish());
  parts.push(encodeFlightDataPrefix(header, bodyLength));
  for (const b of body) if (b.length > 0) parts.push(b);
  return parts;
}

/** A HandshakeRequest whose payload is Flight's BasicAuth `{username = 2, password = 3}`. */
export function encodeBasicHandshake(username: string, password: string): Uint8Array {
  const basic = new ProtoWriter().string(2, username).string(3, password).finish();
  return new ProtoWriter(basic.length + 8).bytes(2, basic).finish();
}

/** Decode a FlightData reply message (views into `buf`). */
export function decodeFlightDataReply(buf: Uint8Array): FlightData {
  return decoding("FlightData", () => decodeFlightData(buf));
}

/** Decode a PutResult: its app_metadata is Flame's BSON ObjectRef. */
export function decodePutResult(buf: Uint8Array): ObjectRef {
  return decoding("PutResult", () => {
    let meta = EMPTY;
    for (const f of fields(buf, "PutResult")) if (f.number === 1 && f.wireType === 2) meta = f.bytes;
    if (meta.length === 0) throw new Error("no ObjectRef in app_metadata");
    return decodeObjectRef(meta);
  });
}

/** Decode a Result (DoAction reply): its body. */
export function decodeResult(buf: Uint8Array): Uint8Array {
  return decoding("Result", () => {
    let body = EMPTY;
    for (const f of fields(buf, "Result")) if (f.number === 1 && f.wireType === 2) body = f.bytes;
    return body;
  });
}

/** Decode a HandshakeResponse: its payload. */
export function decodeHandshakeResponse(buf: Uint8Array): Uint8Array {
  return decoding("HandshakeResponse", () => {
    let payload = EMPTY;
    for (const f of fields(buf, "HandshakeResponse")) {
      if (f.number === 2 && f.wireType === 2) payload = f.bytes;
    }
    return payload;
  });
}

/** A decoded FlightInfo. */
export interface FlightInfo {
  /** IPC-encoded schema (may be empty, framed, or a bare flatbuffer). */
  schema: Uint8Array;
  descriptor?: FlightDescriptor;
  endpoints: { ticket: Uint8Array; locations: string[]; appMetadata: Uint8Array }[];
  /** -1 when unknown. */
  totalRecords: number;
  /** -1 when unknown. */
  totalBytes: number;
  ordered: boolean;
  appMetadata: Uint8Array;
}

// int64 -1 arrives as a 10-byte varint that the reader turns into ~2^64.
const int64 = (v: number) => (v >= 2 ** 63 ? -1 : v);

function decodeEndpoint(buf: Uint8Array): FlightInfo["endpoints"][number] {
  const e: FlightInfo["endpoints"][number] = { ticket: EMPTY, locations: [], appMetadata: EMPTY };
  for (const f of fields(buf, "FlightEndpoint")) {
    if (f.wireType !== 2) continue;
    if (f.number === 1) {
      for (const t of fields(f.bytes, "Ticket")) if (t.number === 1 && t.wireType === 2) e.ticket = t.bytes;
    } else if (f.number === 2) {
      for (const l of fields(f.bytes, "Location")) {
        if (l.number === 1 && l.wireType === 2) e.locations.push(utf8.decode(l.bytes));
      }
    } else if (f.number === 4) e.appMetadata = f.bytes;
  }
  return e;
}

/** Decode a FlightInfo. */
export function decodeFlightInfo(buf: Uint8Array): FlightInfo {
  return decoding("FlightInfo", () => {
    const info: FlightInfo = {
      schema: EMPTY,
      endpoints: [],
      totalRecords: -1,
      totalBytes: -1,
      ordered: false,
      appMetadata: EMPTY,
    };
    let records = 0;
    let bytes = 0;
    for (const f of fields(buf, "FlightInfo")) {
      if (f.number === 1 && f.wireType === 2) info.schema = f.bytes;
      else if (f.number === 2 && f.wireType === 2) info.descriptor = decodeDescriptor(f.bytes);
      else if (f.number === 3 && f.wireType === 2) info.endpoints.push(decodeEndpoint(f.bytes));
      else if (f.number === 4 && f.wireType === 0) records = int64(f.value);
      else if (f.number === 5 && f.wireType === 0) bytes = int64(f.value);
      else if (f.number === 6 && f.wireType === 0) info.ordered = f.value !== 0;
      else if (f.number === 7 && f.wireType === 2) info.appMetadata = f.bytes;
    }
    // proto3 omits zero: an absent field means 0.
    info.totalRecords = records;
    info.totalBytes = bytes;
    return info;
  });
}
