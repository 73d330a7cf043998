/**
 * How objects are kept as tier blobs, and how version records read as index metadata.
 *
 * - Opaque bases and every patch: the payload bytes as they are. Nothing is framed around them, so a
 *   large upload goes from its staging file to the bucket in one stream and comes back as a plain file
 *   range for a get; the record carries size and crc32.
 * - Native tables: an Arrow IPC file holding the stored schema and messages (the same file the `fs`
 *   engine writes), without a version: the version is the record's, stamped into the schema metadata
 *   when the blob is read (a blob is written before its version is known).
 *
 * @module
 */
import { NATIVE_VERSION_KEY, withSchemaMetadata } from "../arrow/mod.ts";
import { concat } from "../bytes.ts";
import { decodeObjectFile, encodeBase } from "../store/fs/mod.ts";
import type { NativeBody, ObjectBody, ObjectStat } from "../store/types.ts";
import { dataLoss } from "../errors.ts";
import type { VersionRecord } from "../tier/tier.ts";

/** The blob bytes of a native table. */
export function nativeBlob(body: NativeBody): Uint8Array {
  return concat(encodeBase({ key: "", baseVersion: 0, body, deltas: [] }));
}

/** The body stored in a base blob, as of `version`. */
export function bodyOfBlob(
  kind: "opaque" | "native",
  bytes: Uint8Array,
  version: number,
  key: string,
): ObjectBody {
  if (kind === "opaque") return { type: "opaque", data: bytes };
  let decoded;
  try {
    decoded = decodeObjectFile(bytes);
  } catch (err) {
    throw dataLoss(`stored table ${key} is damaged in the tier: ${(err as Error).message}`);
  }
  if (decoded.body.type !== "native") throw dataLoss(`stored table ${key} is not a table in the tier`);
  const schemaHeader = withSchemaMetadata(decoded.body.schemaHeader, {
    [NATIVE_VERSION_KEY]: String(version),
  });
  return { ...decoded.body, schemaHeader };
}

/** Index metadata of a live record. */
export function statOfRecord(record: VersionRecord): ObjectStat {
  const base = record.base!;
  let size = base.size;
  for (const p of record.patches) size += p.size;
  return {
    key: record.key,
    version: record.version,
    baseVersion: base.version,
    size,
    deltaCount: record.patches.length,
    kind: base.kind,
    rows: base.kind === "native" ? (base.rows ?? 0) : 1,
    modified: Date.parse(record.modified) || 0,
  };
}
