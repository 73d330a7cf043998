/**
 * Interpreting a DoGet reply the way flamepy 0.6.0 does (`_fetch_object_data`):
 * a schema with no rows = not modified; `{version, kind, data}` rows = a full
 * object (one base row first, then patches) or patches only; legacy
 * `{version, data}` batches = base then patches; a schema tagged
 * `flame.cache.format=arrow-table-v1` = a native table. Every IPC message is
 * validated by the shared Arrow checks before anything reads it.
 *
 * @module
 */
import {
  type BatchInfo,
  decompressBatch,
  dictionarySchema,
  frameMessage,
  type IpcMessage,
  isNativeSchema,
  NATIVE_VERSION_KEY,
  parseMessage,
  type SchemaInfo,
  validateRecordBatch,
} from "../arrow/mod.ts";
import { concat } from "../bytes.ts";
import { EOS_MARKER } from "../arrow/encode.ts";
import type { FlightData } from "../flight/messages.ts";
import { badReply } from "./errors.ts";
import { type ReplyRow, replyRows, type RowLayout, rowLayout } from "./rows.ts";

/** A patch: its version and payload. */
export interface Patch {
  /** The version this patch created. */
  version: number;
  /** Its payload. */
  data: Uint8Array;
}

/** An IPC message of a native table, as received. */
export interface NativeMessage {
  header: Uint8Array;
  body: Uint8Array;
  message: IpcMessage;
}

/** What a DoGet reply means. */
export type GetReply =
  | { kind: "not-modified" }
  | { kind: "full"; version: number; base: Uint8Array; patches: Patch[] }
  | { kind: "patches"; version: number; patches: Patch[] }
  | {
    kind: "native";
    version: number;
    schemaHeader: Uint8Array;
    schema: SchemaInfo;
    messages: NativeMessage[];
  };

/** Parse a native schema's `flame.cache.version` (0 when missing or not a number, like flamepy). */
export function nativeVersion(schema: SchemaInfo): number {
  const v = schema.metadata.get(NATIVE_VERSION_KEY);
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : 0;
}

/**
 * Check the order of reply rows (flamepy's rules) and classify them: at most one
 * base row, at index 0; patch versions strictly increasing. Throws on violations.
 */
export function classifyRows(rows: ReplyRow[]): GetReply {
  if (rows.length === 0) return { kind: "not-modified" };
  let last = -1;
  const patches: Patch[] = [];
  let base: ReplyRow | undefined;
  rows.forEach((r, i) => {
    if (r.kind === "base") {
      if (i !== 0) throw new Error("base row is not the first row");
      base = r;
      return;
    }
    if (r.version <= last) throw new Error("patch versions are not strictly increasing");
    last = r.version;
    patches.push({ version: r.version, data: r.data });
  });
  if (!base) return { kind: "patches", version: last, patches };
  const version = Math.max(base.version, ...patches.map((p) => p.version));
  return { kind: "full", version, base: base.data, patches };
}

/** Accumulates the FlightData messages of one DoGet reply. */
export class ReplyReader {
  private schema: SchemaInfo | undefined;
  private schemaHeader: Uint8Array | undefined;
  private native = false;
  private layout: RowLayout | null = null;
  private readonly rows: ReplyRow[] = [];
  private readonly natives: NativeMessage[] = [];
  private batches = 0;

  /** `maxBytes` caps decompressed buffers (ZSTD replies from Flame's Rust server). */
  constructor(private readonly maxBytes = 2 ** 31) {}

  /** Consume one reply message. Throws a "malformed reply" error on invalid input. */
  push(fd: FlightData): void {
    if (fd.dataHeader.length === 0) return; // metadata-only message
    let msg: IpcMessage;
    try {
      msg = parseMessage(fd.dataHeader);
    } catch (err) {
      throw badReply("IPC message header", err);
    }
    if (msg.kind === "schema") {
      if (this.schema) throw badReply("more than one schema message");
      this.schema = msg.schema;
      this.schemaHeader = fd.dataHeader;
      this.native = isNativeSchema(msg.schema);
      if (!this.native) {
        this.layout = rowLayout(msg.schema);
        if (!this.layout) {
          const cols = msg.schema.fields.map((f) => `${f.name}: ${f.typeName}`).join(", ");
          throw badReply(`unexpected reply schema (${cols})`);
        }
      }
      return;
    }
    const schema = this.schema;
    if (!schema) throw badReply("record batch before the schema");
    try {
      const against = msg.kind === "dictionaryBatch" ? dictionarySchema(schema, msg.id) : schema;
      validateRecordBatch(against, msg.batch, fd.dataBody);
      if (this.native) {
        this.natives.push({ header: fd.dataHeader, body: fd.dataBody, message: msg });
        return;
      }
      if (msg.kind !== "recordBatch") throw new Error("dictionary batch in a row reply");
      const legacy = this.batches++ === 0 ? "base" : "patch";
      for (const r of replyRows(this.layout!, schema, msg.batch, fd.dataBody, this.maxBytes, legacy)) {
        this.rows.push(r);
      }
    } catch (err) {
      throw badReply("record batch", err);
    }
  }

  /** The meaning of everything pushed. */
  finish(): GetReply {
    if (!this.schema || !this.schemaHeader) throw badReply("no schema message");
    if (this.native) {
      return {
        kind: "native",
        version: nativeVersion(this.schema),
        schemaHeader: this.schemaHeader,
        schema: this.schema,
        messages: this.natives,
      };
    }
    try {
      return classifyRows(this.rows);
    } catch (err) {
      throw badReply("rows", err);
    }
  }
}

/**
 * An uncompressed IPC stream (schema, dictionaries, batches, end marker) of a
 * validated native reply, for apache-arrow. ZSTD batches are decompressed with
 * the size cap; LZ4 is refused.
 */
export function nativeIpcStream(
  reply: { schemaHeader: Uint8Array; messages: NativeMessage[] },
  maxBytes = 2 ** 31,
): Uint8Array {
  const parts: Uint8Array[] = [frameMessage(reply.schemaHeader)];
  for (const m of reply.messages) {
    if (m.message.kind === "schema") continue;
    const batch: BatchInfo = m.message.batch;
    let header = m.header;
    let body = m.body;
    if (batch.compression !== "none") {
      try {
        ({ header, body } = decompressBatch(m.header, batch, m.body, maxBytes));
      } catch (err) {
        throw badReply("compressed record batch", err);
      }
    }
    parts.push(frameMessage(header), body);
  }
  parts.push(EOS_MARKER);
  return concat(parts);
}
