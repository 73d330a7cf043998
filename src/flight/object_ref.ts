/**
 * The ObjectRef every put answers with: a BSON document
 * `{endpoint: string, key: string, version: int64}`, fields in that order,
 * nothing else (Flame's Python and Rust SDKs read it).
 *
 * @module
 */
import { BSON, Long } from "bson";

/** A reference to a stored object version. */
export interface ObjectRef {
  endpoint: string;
  key: string;
  version: number;
}

/** Encode an ObjectRef as Flame's BSON (version as int64). */
export function encodeObjectRef(ref: ObjectRef): Uint8Array {
  return BSON.serialize({ endpoint: ref.endpoint, key: ref.key, version: Long.fromNumber(ref.version) });
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
