/**
 * The ObjectRef every put answers with: a BSON document
 * `{endpoint: string, key: string, version: int64}`, fields in that order,
 * nothing else (Flame's Python and Rust SDKs read it).
 *
 * @module
 */
import { BSON } from "bson";

/** A reference to a stored object version. */
export interface ObjectRef {
  endpoint: string;
  key: string;
  version: number;
}

const UTF8 = new TextEncoder();
const STRING = 0x02, INT64 = 0x12;
const ENDPOINT_NAME = UTF8.encode("endpoint\0"), KEY_NAME = UTF8.encode("key\0");
const VERSION_NAME = UTF8.encode("version\0");

/**
 * Encode an ObjectRef as Flame's BSON (version as int64). Written directly, not through the bson
 * package: this runs once per put, and the generic serializer cost ~2.6 µs of a ~100 µs small put;
 * the bytes are the same (checked against the package in tests/unit/object_ref_test.ts).
 */
export function encodeObjectRef(ref: ObjectRef): Uint8Array {
  const endpoint = UTF8.encode(ref.endpoint), key = UTF8.encode(ref.key);
  const size = 4 + (1 + ENDPOINT_NAME.length + 4 + endpoint.length + 1) +
    (1 + KEY_NAME.length + 4 + key.length + 1) + (1 + VERSION_NAME.length + 8) + 1;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  view.setInt32(0, size, true);
  let pos = 4;
  const name = (type: number, bytes: Uint8Array) => {
    out[pos++] = type;
    out.set(bytes, pos);
    pos += bytes.length;
  };
  const string = (bytes: Uint8Array) => {
    view.setInt32(pos, bytes.length + 1, true);
    out.set(bytes, pos + 4);
    pos += 4 + bytes.length + 1; // the terminating NUL is already 0
  };
  name(STRING, ENDPOINT_NAME);
  string(endpoint);
  name(STRING, KEY_NAME);
  string(key);
  name(INT64, VERSION_NAME);
  view.setBigInt64(pos, BigInt(ref.version), true);
  return out; // the document's final NUL is already 0
}

/** Decode an ObjectRef (accepts int32 or int64 versions, as the SDKs do). */
export function decodeObjectRef(bytes: Uint8Array): ObjectRef {
  const doc = BSON.deserialize(bytes, { useBigInt64: true });
  const v = doc.version;
  return {
    endpoint: String(doc.endpoint),
    key: String(doc.key),
    version: typeof v === "bigint" ? Number(v) : Number(v ?? 0),
  };
}

/** The JSON metadata the seed protocol's PUT/UPDATE actions answer with. */
export function encodeLegacyMetadata(ref: ObjectRef, size: number): Uint8Array {
  return new TextEncoder().encode(
    JSON.stringify({ endpoint: ref.endpoint, key: ref.key, version: ref.version, size }),
  );
}
