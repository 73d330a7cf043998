/**
 * Flight.proto messages: decoders for what clients send, encoders for what the
 * server answers. FlightData bodies stay views into the received gRPC message.
 *
 * @module
 */
import { fields, ProtoWriter, varintSize } from "./protobuf.ts";
import { invalidArgument } from "../errors.ts";
import { allocateTransient } from "../bytes.ts";

const utf8 = new TextDecoder("utf-8", { fatal: true });
const EMPTY: Uint8Array = new Uint8Array(0);

/** The Flight service's method path prefix (`arrow.flight.protocol.FlightService`). */
export const FLIGHT_SERVICE = "/arrow.flight.protocol.FlightService/";

/** Decode UTF-8 strictly; invalid sequences are the client's error. */
export function decodeUtf8(bytes: Uint8Array, what: string): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw invalidArgument(`${what} is not valid UTF-8`);
  }
}

/** FlightDescriptor.DescriptorType */
export const DescriptorType = { UNKNOWN: 0, PATH: 1, CMD: 2 } as const;

/** A decoded FlightDescriptor. */
export interface FlightDescriptor {
  type: number;
  cmd: Uint8Array;
  path: string[];
}

/** A decoded FlightData: header and body are views into the gRPC message. */
export interface FlightData {
  descriptor?: FlightDescriptor;
  dataHeader: Uint8Array;
  appMetadata: Uint8Array;
  dataBody: Uint8Array;
}

/** Decode a FlightDescriptor message. */
export function decodeDescriptor(buf: Uint8Array): FlightDescriptor {
  const d: FlightDescriptor = { type: 0, cmd: EMPTY, path: [] };
  for (const f of fields(buf, "FlightDescriptor")) {
    if (f.number === 1 && f.wireType === 0) d.type = f.value;
    else if (f.number === 2 && f.wireType === 2) d.cmd = f.bytes;
    else if (f.number === 3 && f.wireType === 2) d.path.push(decodeUtf8(f.bytes, "Descriptor path"));
  }
  return d;
}

/** Decode a FlightData message. */
export function decodeFlightData(buf: Uint8Array): FlightData {
  const d: FlightData = { dataHeader: EMPTY, appMetadata: EMPTY, dataBody: EMPTY };
  for (const f of fields(buf, "FlightData")) {
    if (f.wireType !== 2) continue;
    if (f.number === 1) d.descriptor = decodeDescriptor(f.bytes);
    else if (f.number === 2) d.dataHeader = f.bytes;
    else if (f.number === 3) d.appMetadata = f.bytes;
    else if (f.number === 1000) d.dataBody = f.bytes;
  }
  return d;
}

/** Decode a message whose only interesting content is one bytes field (Ticket, Criteria). */
export function decodeBytesField(buf: Uint8Array, field: number, what: string): Uint8Array {
  let out = EMPTY;
  for (const f of fields(buf, what)) if (f.number === field && f.wireType === 2) out = f.bytes;
  return out;
}

/** A decoded Action. */
export interface Action {
  type: string;
  body: Uint8Array;
}

/** Decode an Action message. */
export function decodeAction(buf: Uint8Array): Action {
  const a: Action = { type: "", body: EMPTY };
  for (const f of fields(buf, "Action")) {
    if (f.number === 1 && f.wireType === 2) a.type = decodeUtf8(f.bytes, "Action type");
    else if (f.number === 2 && f.wireType === 2) a.body = f.bytes;
  }
  return a;
}

/** A decoded HandshakeRequest. */
export interface HandshakeRequest {
  protocolVersion: number;
  payload: Uint8Array;
}

/** Decode a HandshakeRequest message. */
export function decodeHandshakeRequest(buf: Uint8Array): HandshakeRequest {
  const h: HandshakeRequest = { protocolVersion: 0, payload: EMPTY };
  for (const f of fields(buf, "HandshakeRequest")) {
    if (f.number === 1 && f.wireType === 0) h.protocolVersion = f.value;
    else if (f.number === 2 && f.wireType === 2) h.payload = f.bytes;
  }
  return h;
}

/** Decode BasicAuth (Handshake payload of Flight's Basic auth). */
export function decodeBasicAuth(buf: Uint8Array): { username: string; password: string } {
  const out = { username: "", password: "" };
  for (const f of fields(buf, "BasicAuth")) {
    if (f.number === 2 && f.wireType === 2) out.username = decodeUtf8(f.bytes, "username");
    else if (f.number === 3 && f.wireType === 2) out.password = decodeUtf8(f.bytes, "password");
  }
  return out;
}

// ---------------------------------------------------------------- encoders

/** Encode a FlightDescriptor. */
export function encodeDescriptor(d: FlightDescriptor): Uint8Array {
  const w = new ProtoWriter().uint(1, d.type).bytes(2, d.cmd);
  for (const p of d.path) w.string(3, p, true);
  return w.finish();
}

/** Encode a message with a single bytes field 1 (PutResult, Result, SchemaResult, Ticket). */
export function encodeBytesMessage(value: Uint8Array): Uint8Array {
  return new ProtoWriter(value.length + 8).bytes(1, value).finish();
}

/** Encode an ActionType. */
export function encodeActionType(type: string, description: string): Uint8Array {
  return new ProtoWriter().string(1, type).string(2, description).finish();
}

/** Encode a HandshakeResponse. */
export function encodeHandshakeResponse(protocolVersion: number, payload: Uint8Array): Uint8Array {
  return new ProtoWriter().uint(1, protocolVersion).bytes(2, payload).finish();
}

/** Fields of a FlightInfo answer. */
export interface FlightInfo {
  schema: Uint8Array;
  descriptor?: FlightDescriptor;
  endpoints: { ticket: Uint8Array; locations: string[] }[];
  totalRecords: number;
  totalBytes: number;
  ordered?: boolean;
  appMetadata?: Uint8Array;
}

/** Encode a FlightInfo. */
export function encodeFlightInfo(info: FlightInfo): Uint8Array {
  const w = new ProtoWriter(256).bytes(1, info.schema);
  if (info.descriptor) w.bytes(2, encodeDescriptor(info.descriptor), true);
  for (const e of info.endpoints) {
    const ew = new ProtoWriter().bytes(1, encodeBytesMessage(e.ticket), true);
    for (const uri of e.locations) ew.bytes(2, new ProtoWriter().string(1, uri).finish(), true);
    w.bytes(3, ew.finish(), true);
  }
  // int64 fields: -1 means unknown and must be written (proto3 omits only 0).
  if (info.totalRecords !== 0) w.varint(4 * 8).varint(info.totalRecords);
  if (info.totalBytes !== 0) w.varint(5 * 8).varint(info.totalBytes);
  if (info.ordered) w.uint(6, 1);
  if (info.appMetadata) w.bytes(7, info.appMetadata);
  return w.finish();
}

/**
 * The protobuf bytes of a FlightData that come before its body: header field
 * and the tag/length of the body field. The body itself follows as views, so
 * large payloads are never copied into a message buffer.
 */
export function encodeFlightDataPrefix(dataHeader: Uint8Array, bodyLength: number): Uint8Array {
  // Sent once and dropped: carved from the transient slab (see allocateTransient).
  const w = new ProtoWriter(dataHeader.length + 16, allocateTransient).bytes(2, dataHeader);
  if (bodyLength > 0) w.varint(1000 * 8 + 2).varint(bodyLength);
  return w.finish();
}

/** Size of the protobuf encoding of FlightData with the given header and body length. */
export function flightDataSize(headerLength: number, bodyLength: number): number {
  let n = headerLength > 0 ? 1 + varintSize(headerLength) + headerLength : 0;
  if (bodyLength > 0) n += 2 + varintSize(bodyLength) + bodyLength;
  return n;
}
