/**
 * FlightInfo messages of a listing (ListFlights), encoded directly into one buffer each: the same bytes as
 * `encodeFlightInfo` with a path descriptor, one endpoint and an ObjectRef (BSON) as app metadata, at a
 * fraction of the cost (one UTF-8 encoding of the key instead of four, no intermediate writers), because a
 * listing sends thousands of them.
 *
 * @module
 */
import { DescriptorType } from "./messages.ts";

const encoder = new TextEncoder();

function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

/** One listed object. */
export interface ListedObject {
  key: string;
  version: number;
  /** total_records of the FlightInfo. */
  records: number;
  /** total_bytes of the FlightInfo. */
  bytes: number;
  /** The IPC schema of what DoGet returns (empty when unknown without reading the object). */
  schema: Uint8Array;
}

/** Encodes the FlightInfo of listed objects for one endpoint. */
export class ListingEncoder {
  private readonly endpoint: Uint8Array;
  /** Location message `{1: uri}`. */
  private readonly location: Uint8Array;

  constructor(endpoint: string) {
    this.endpoint = encoder.encode(endpoint);
    const u = this.endpoint;
    this.location = new Uint8Array(1 + varintSize(u.length) + u.length);
    let p = 0;
    this.location[p++] = 0x0a;
    p = writeVarint(this.location, p, u.length);
    this.location.set(u, p);
  }

  /** The FlightInfo message of `o`. */
  encode(o: ListedObject): Uint8Array {
    const k = encoder.encode(o.key);
    const K = k.length;
    const U = this.endpoint.length;
    const L = this.location.length;
    const descriptor = 2 + 1 + varintSize(K) + K; // type PATH, path[0]
    const ticket = 1 + varintSize(K) + K;
    const endpoint = 1 + varintSize(ticket) + ticket + 1 + varintSize(L) + L;
    const bson = 4 + (1 + 9 + 4 + U + 1) + (1 + 4 + 4 + K + 1) + (1 + 8 + 8) + 1;
    const S = o.schema.length;
    let size = (S > 0 ? 1 + varintSize(S) + S : 0) +
      1 + varintSize(descriptor) + descriptor +
      1 + varintSize(endpoint) + endpoint +
      1 + varintSize(bson) + bson;
    if (o.records !== 0) size += 1 + varintSize64(o.records);
    if (o.bytes !== 0) size += 1 + varintSize64(o.bytes);
    const out = new Uint8Array(size);
    const dv = new DataView(out.buffer);
    let p = 0;
    if (S > 0) {
      out[p++] = 0x0a;
      p = writeVarint(out, p, S);
      out.set(o.schema, p);
      p += S;
    }
    // 2: FlightDescriptor { 1: type, 3: path }
    out[p++] = 0x12;
    p = writeVarint(out, p, descriptor);
    out[p++] = 0x08;
    out[p++] = DescriptorType.PATH;
    out[p++] = 0x1a;
    p = writeVarint(out, p, K);
    out.set(k, p);
    p += K;
    // 3: FlightEndpoint { 1: Ticket { 1: key }, 2: Location { 1: uri } }
    out[p++] = 0x1a;
    p = writeVarint(out, p, endpoint);
    out[p++] = 0x0a;
    p = writeVarint(out, p, ticket);
    out[p++] = 0x0a;
    p = writeVarint(out, p, K);
    out.set(k, p);
    p += K;
    out[p++] = 0x12;
    p = writeVarint(out, p, L);
    out.set(this.location, p);
    p += L;
    // 4, 5: total_records, total_bytes (int64)
    if (o.records !== 0) {
      out[p++] = 0x20;
      p = writeVarint64(out, p, o.records);
    }
    if (o.bytes !== 0) {
      out[p++] = 0x28;
      p = writeVarint64(out, p, o.bytes);
    }
    // 7: app_metadata = ObjectRef as BSON {endpoint: string, key: string, version: int64}
    out[p++] = 0x3a;
    p = writeVarint(out, p, bson);
    dv.setInt32(p, bson, true);
    p += 4;
    p = bsonString(out, dv, p, ENDPOINT_NAME, this.endpoint);
    p = bsonString(out, dv, p, KEY_NAME, k);
    out[p++] = 0x12;
    out.set(VERSION_NAME, p);
    p += VERSION_NAME.length;
    dv.setBigInt64(p, BigInt(o.version), true);
    p += 8;
    out[p++] = 0;
    return out;
  }
}

const ENDPOINT_NAME = encoder.encode("endpoint\0");
const KEY_NAME = encoder.encode("key\0");
const VERSION_NAME = encoder.encode("version\0");

function bsonString(out: Uint8Array, dv: DataView, p: number, name: Uint8Array, value: Uint8Array): number {
  out[p++] = 0x02;
  out.set(name, p);
  p += name.length;
  dv.setInt32(p, value.length + 1, true);
  p += 4;
  out.set(value, p);
  p += value.length;
  out[p++] = 0;
  return p;
}

function writeVarint(out: Uint8Array, p: number, n: number): number {
  while (n >= 0x80) {
    out[p++] = (n % 128) | 0x80;
    n = Math.floor(n / 128);
  }
  out[p++] = n;
  return p;
}

/** An int64 as protobuf writes it: negative numbers take 10 bytes (two's complement). */
function varintSize64(n: number): number {
  return n < 0 ? 10 : varintSize(n);
}

function writeVarint64(out: Uint8Array, p: number, n: number): number {
  if (n >= 0) return writeVarint(out, p, n);
  let v = BigInt.asUintN(64, BigInt(n));
  while (v >= 0x80n) {
    out[p++] = Number(v & 0x7fn) | 0x80;
    v >>= 7n;
  }
  out[p++] = Number(v);
  return p;
}
