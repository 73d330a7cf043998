/**
 * Building DoGet replies: "not modified" (schema only), patch-only, full
 * (base row then patch rows) and native tables, exactly as Flame decides them.
 * Each FlightData is a list of byte parts; payloads stay views.
 *
 * @module
 */
import { encodeReadRow, READ_SCHEMA_HEADER } from "../arrow/mod.ts";
import { currentVersion, type StoredObject } from "../store/types.ts";
import { encodeFlightDataPrefix } from "../flight/messages.ts";
import type { ByteSource, MessagePart } from "../grpc/mod.ts";
import { fileSource } from "../store/mod.ts";

const ZEROS = new Uint8Array(8);

/** Reply shape, for logs and tests. */
export type ReplyKind = "not-modified" | "patch-only" | "full" | "native";

/** One FlightData message as parts to concatenate. */
export type FlightDataParts = MessagePart[];

/** FlightData with a header and no body (a schema message). */
export function schemaMessage(header: Uint8Array): FlightDataParts {
  return [encodeFlightDataPrefix(header, 0)];
}

/** FlightData for one read-schema row carrying `data` (bytes, or a source streamed from disk). */
function rowMessage(version: number, kind: "base" | "patch", data: Uint8Array | ByteSource): FlightDataParts {
  const row = encodeReadRow(version, kind, data.length);
  const parts: MessagePart[] = [encodeFlightDataPrefix(row.header, row.bodyLength), row.bodyPrefix];
  if (data.length > 0) parts.push(data);
  if (row.bodyPadding > 0) parts.push(ZEROS.subarray(0, row.bodyPadding));
  return parts;
}

/**
 * Decide and build the reply to a DoGet of `obj` by a client holding version
 * `clientVersion` (0 = nothing cached).
 */
export function buildReply(
  obj: StoredObject,
  clientVersion: number,
): { kind: ReplyKind; messages: FlightDataParts[] } {
  const current = currentVersion(obj);
  const base = obj.baseVersion;
  if (clientVersion !== 0 && clientVersion === current) {
    return { kind: "not-modified", messages: [schemaMessage(READ_SCHEMA_HEADER)] };
  }
  if (obj.body.type === "native") {
    const messages = [schemaMessage(obj.body.schemaHeader)];
    for (const m of obj.body.messages) {
      const parts = [encodeFlightDataPrefix(m.header, m.body.length)];
      if (m.body.length > 0) parts.push(m.body);
      messages.push(parts);
    }
    return { kind: "native", messages };
  }
  if (clientVersion !== 0 && clientVersion < current && base <= clientVersion) {
    const newer = obj.deltas.filter((d) => d.version > clientVersion);
    const consecutive = newer.length === current - clientVersion &&
      newer.every((d, i) => d.version === clientVersion + i + 1);
    if (consecutive) {
      const messages = [schemaMessage(READ_SCHEMA_HEADER)];
      for (const d of newer) messages.push(rowMessage(d.version, "patch", d.data));
      return { kind: "patch-only", messages };
    }
  }
  const data = obj.body.type === "file" ? fileSource(obj.body, obj.key) : obj.body.data;
  const messages = [schemaMessage(READ_SCHEMA_HEADER), rowMessage(base, "base", data)];
  for (const d of obj.deltas) messages.push(rowMessage(d.version, "patch", d.data));
  return { kind: "full", messages };
}
