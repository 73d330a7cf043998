/**
 * Reading Flame's row replies: the read schema `{version UInt64, kind Utf8,
 * data Binary}` (columns found by name, like flamepy) and the legacy
 * `{version, data}` schema. Columns are projected into the two-column shape
 * that the shared `opaqueRows` / `opaqueVersions` readers understand, so every
 * offset is bounds-checked and ZSTD bodies are decompressed with a size cap.
 *
 * @module
 */
import {
  type BatchInfo,
  type FieldInfo,
  opaqueRows,
  opaqueVersions,
  type SchemaInfo,
  TypeId,
} from "../arrow/mod.ts";

/** One row of a reply. */
export interface ReplyRow {
  version: number;
  kind: "base" | "patch";
  data: Uint8Array;
}

/** Where each needed column lives in a batch. */
export interface RowLayout {
  /** Schema field index of version, kind (-1 = legacy, no kind) and data. */
  version: number;
  kind: number;
  data: number;
  /** First buffer index of every top-level field. */
  firstBuffer: number[];
  /** Binary-typed copies of the fields, for projection. */
  fields: FieldInfo[];
}

const BINARY_LIKE = new Set<number>([TypeId.Binary, TypeId.LargeBinary, TypeId.Utf8, TypeId.LargeUtf8]);

function buffersOf(f: FieldInfo): number {
  if (f.dictionary || f.children.length > 0) return -1;
  if (f.typeId === TypeId.Int || f.typeId === TypeId.FloatingPoint || f.typeId === TypeId.Bool) return 2;
  if (BINARY_LIKE.has(f.typeId)) return 3;
  if (f.typeId === TypeId.Null) return 0;
  return -1;
}

function asBinary(f: FieldInfo): FieldInfo {
  const large = f.typeId === TypeId.LargeBinary || f.typeId === TypeId.LargeUtf8;
  return {
    ...f,
    typeId: large ? TypeId.LargeBinary : TypeId.Binary,
    typeName: large ? "LargeBinary" : "Binary",
  };
}

/**
 * The row layout of a reply schema, or `null` when the schema is neither the
 * read schema nor the legacy opaque schema.
 */
export function rowLayout(schema: SchemaInfo): RowLayout | null {
  const idx = (name: string) => schema.fields.findIndex((f) => f.name === name);
  let version = idx("version");
  let data = idx("data");
  const kind = idx("kind");
  if (version < 0 || data < 0) {
    if (schema.fields.length !== 2) return null;
    [version, data] = [0, 1]; // legacy columns by position, as Flame's server reads them
  }
  const v = schema.fields[version];
  if (v.typeId !== TypeId.Int || v.bitWidth !== 64 || v.dictionary) return null;
  if (!BINARY_LIKE.has(schema.fields[data].typeId) || schema.fields[data].dictionary) return null;
  if (kind >= 0 && (!BINARY_LIKE.has(schema.fields[kind].typeId) || schema.fields[kind].dictionary)) {
    return null;
  }
  const firstBuffer: number[] = [];
  let next = 0;
  const last = Math.max(version, data, kind);
  for (let i = 0; i <= last; i++) {
    firstBuffer.push(next);
    const n = buffersOf(schema.fields[i]);
    if (n < 0) return null; // a nested column before ours: not a Flame reply
    next += n;
  }
  return { version, kind, data, firstBuffer, fields: schema.fields.map((f) => asBinary(f)) };
}

/** A two-column `{version, <col>}` view of a batch that opaqueRows/opaqueVersions can read. */
function project(
  layout: RowLayout,
  schema: SchemaInfo,
  batch: BatchInfo,
  col: number,
): { schema: SchemaInfo; batch: BatchInfo } {
  const v = layout.version;
  const vb = layout.firstBuffer[v];
  const cb = layout.firstBuffer[col];
  return {
    schema: { fields: [schema.fields[v], layout.fields[col]], metadata: new Map() },
    batch: {
      ...batch,
      nodes: [batch.nodes[v], batch.nodes[col]],
      buffers: [
        batch.buffers[vb],
        batch.buffers[vb + 1],
        batch.buffers[cb],
        batch.buffers[cb + 1],
        batch.buffers[cb + 2],
      ],
      bodyLength: undefined,
    },
  };
}

/**
 * The rows of a validated batch (call `validateRecordBatch` first). Data values
 * are views into `body` for uncompressed batches. `maxBytes` caps decompressed
 * buffers. Legacy batches (no kind column) are `base` for the first batch of the
 * reply and `patch` afterwards: pass `legacyKind`.
 */
export function replyRows(
  layout: RowLayout,
  schema: SchemaInfo,
  batch: BatchInfo,
  body: Uint8Array,
  maxBytes: number,
  legacyKind: "base" | "patch",
): ReplyRow[] {
  const d = project(layout, schema, batch, layout.data);
  const data = opaqueRows(d.schema, d.batch, body, maxBytes);
  const versions = opaqueVersions(d.schema, d.batch, body);
  let kinds: string[] | undefined;
  if (layout.kind >= 0) {
    const k = project(layout, schema, batch, layout.kind);
    const dec = new TextDecoder();
    kinds = opaqueRows(k.schema, k.batch, body, maxBytes).map((b) => dec.decode(b));
  }
  const rows: ReplyRow[] = [];
  for (let i = 0; i < data.length; i++) {
    const kind = kinds ? kinds[i] : (i === 0 ? legacyKind : "patch");
    if (kind !== "base" && kind !== "patch") throw new Error(`unknown row kind '${kind}'`);
    const version = versions[i];
    if (version > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error("row version beyond 2^53");
    rows.push({ version: Number(version), kind, data: data[i] });
  }
  return rows;
}
