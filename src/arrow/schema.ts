/**
 * Parsing and inspecting Arrow schemas (the `Schema` table of Schema.fbs).
 *
 * Parsing validates the type of every field (known type tag, sane parameters, the right number of
 * children) so that later layout checks can trust a {@link SchemaInfo}.
 *
 * @module
 */

import { IpcError } from "./errors.ts";
import type { FbTable } from "./flatbuf.ts";
import { type DictionaryInfo, type FieldInfo, MAX_TYPE_ID, type SchemaInfo, TypeId } from "./types.ts";

/** Maximum nesting depth of fields (a struct of lists of ... counts one level per field). */
export const MAX_FIELD_DEPTH = 64;
/** Maximum number of fields in a schema, all nesting levels counted. */
export const MAX_FIELDS = 10_000;

/** Schema metadata key whose value {@link NATIVE_FORMAT} marks a native Arrow table object. */
export const NATIVE_FORMAT_KEY = "flame.cache.format";
/** Value of {@link NATIVE_FORMAT_KEY} for native Arrow table objects. */
export const NATIVE_FORMAT = "arrow-table-v1";
/** Schema metadata key carrying the object version (decimal). */
export const NATIVE_VERSION_KEY = "flame.cache.version";
/** Schema metadata key carrying the crc32 of the stored payload (8 lowercase hex digits). */
export const CHECKSUM_KEY = "flame.cache.crc32";

const TYPE_NAMES: string[] = [
  "NONE",
  "Null",
  "Int",
  "FloatingPoint",
  "Binary",
  "Utf8",
  "Bool",
  "Decimal",
  "Date",
  "Time",
  "Timestamp",
  "Interval",
  "List",
  "Struct",
  "Union",
  "FixedSizeBinary",
  "FixedSizeList",
  "Map",
  "Duration",
  "LargeBinary",
  "LargeUtf8",
  "LargeList",
  "RunEndEncoded",
  "BinaryView",
  "Utf8View",
  "ListView",
  "LargeListView",
];

const UNITS = ["Second", "Millisecond", "Microsecond", "Nanosecond"];
const INTERVAL_UNITS = ["YearMonth", "DayTime", "MonthDayNano"];

/** Readable name of a field's type, e.g. "UInt64", "Float64", "Timestamp[Millisecond]". */
export function typeNameOf(f: Omit<FieldInfo, "typeName" | "children">): string {
  let name: string;
  switch (f.typeId) {
    case TypeId.Int:
      name = `${f.isSigned ? "Int" : "UInt"}${f.bitWidth}`;
      break;
    case TypeId.FloatingPoint:
      name = `Float${f.bitWidth}`;
      break;
    case TypeId.Decimal:
      name = `Decimal${f.bitWidth}(${f.precision}, ${f.scale})`;
      break;
    case TypeId.Date:
      name = f.unit === 0 ? "Date32" : "Date64";
      break;
    case TypeId.Time:
      name = `Time${f.bitWidth}[${UNITS[f.unit ?? 0]}]`;
      break;
    case TypeId.Timestamp:
      name = `Timestamp[${UNITS[f.unit ?? 0]}${f.timezone ? `, ${f.timezone}` : ""}]`;
      break;
    case TypeId.Duration:
      name = `Duration[${UNITS[f.unit ?? 0]}]`;
      break;
    case TypeId.Interval:
      name = `Interval[${INTERVAL_UNITS[f.unit ?? 0]}]`;
      break;
    case TypeId.FixedSizeBinary:
      name = `FixedSizeBinary(${f.byteWidth})`;
      break;
    case TypeId.FixedSizeList:
      name = `FixedSizeList(${f.listSize})`;
      break;
    case TypeId.Union:
      name = f.unionMode === "dense" ? "DenseUnion" : "SparseUnion";
      break;
    default:
      name = TYPE_NAMES[f.typeId] ?? `Type#${f.typeId}`;
  }
  if (f.dictionary) {
    const index = `${f.dictionary.indexSigned ? "Int" : "UInt"}${f.dictionary.indexBitWidth}`;
    return `Dictionary<${index}, ${name}>`;
  }
  return name;
}

/** Reads a `[KeyValue]` vector into a Map (later duplicates win, order of first appearance kept). */
export function parseKeyValues(t: FbTable, slot: number): Map<string, string> {
  const out = new Map<string, string>();
  for (const kv of t.tables(slot, "metadata entry")) {
    out.set(kv.string(0, "metadata key") ?? "", kv.string(1, "metadata value") ?? "");
  }
  return out;
}

/** Parses a `Schema` table. Throws {@link IpcError} on anything invalid or unsupported. */
export function parseSchemaTable(t: FbTable): SchemaInfo {
  if (t.i16(0, 0) !== 0) throw new IpcError("Big-endian Arrow data is not supported.");
  const count = { n: 0 };
  const fields = t.tables(1, "field").map((f) => parseField(f, 1, count));
  const metadata = parseKeyValues(t, 2);
  const features = t.i64s(3, "feature list");
  const schema: SchemaInfo = { fields, metadata };
  if (features && features.length) schema.features = features;
  return schema;
}

function bad(name: string, detail: string): never {
  throw new IpcError(`Field "${clip(name)}" ${detail}.`);
}

function clip(s: string): string {
  return s.length > 64 ? `${s.slice(0, 61)}...` : s;
}

const UNIT_TYPES: ReadonlySet<number> = new Set([
  TypeId.Date,
  TypeId.Time,
  TypeId.Timestamp,
  TypeId.Interval,
  TypeId.Duration,
]);

function parseField(t: FbTable, depth: number, count: { n: number }): FieldInfo {
  if (depth > MAX_FIELD_DEPTH) {
    throw new IpcError(`The schema nests fields deeper than ${MAX_FIELD_DEPTH} levels.`);
  }
  if (++count.n > MAX_FIELDS) throw new IpcError(`The schema has more than ${MAX_FIELDS} fields.`);
  const name = t.string(0, "field name") ?? "";
  const nullable = t.bool(1, false);
  const typeId = t.u8(2, 0);
  if (typeId === TypeId.NONE) bad(name, "has no type");
  if (typeId > MAX_TYPE_ID) bad(name, `has an unknown type (tag ${typeId})`);
  const typeTable = t.table(3, "field type");
  const f: FieldInfo = { name, nullable, typeId, typeName: "", children: [] };
  readTypeParams(f, typeTable);

  const dict = t.table(4, "dictionary encoding");
  if (dict) f.dictionary = parseDictionary(name, dict);
  if (f.dictionary) f.dictionaryId = f.dictionary.id;

  f.children = t.tables(5, "field").map((c) => parseField(c, depth + 1, count));
  const metadata = parseKeyValues(t, 6);
  if (metadata.size) f.metadata = metadata;
  checkChildren(f);
  f.typeName = typeNameOf(f);
  return f;
}

function parseDictionary(name: string, d: FbTable): DictionaryInfo {
  const id = d.i64(0, 0n);
  const index = d.table(1, "dictionary index type");
  // Schema.fbs: an absent index type means signed 32-bit.
  const indexBitWidth = index ? index.i32(0, 0) : 32;
  const indexSigned = index ? index.bool(1, false) : true;
  if (![8, 16, 32, 64].includes(indexBitWidth)) {
    bad(name, `has an invalid dictionary index width ${indexBitWidth}`);
  }
  return { id, indexBitWidth, indexSigned, isOrdered: d.bool(2, false) };
}

// Reads the parameters of the type table into `f`, validating them. An absent type table reads as
// all-defaults, which is only valid for the parameterless types.
function readTypeParams(f: FieldInfo, t: FbTable | undefined): void {
  const i32 = (slot: number, d: number) => t ? t.i32(slot, d) : d;
  const i16 = (slot: number, d: number) => t ? t.i16(slot, d) : d;
  const name = f.name;
  if (UNIT_TYPES.has(f.typeId)) {
    // Defaults from Schema.fbs: Date/Time/Duration default to Millisecond, Timestamp/Interval to 0.
    const dflt = f.typeId === TypeId.Timestamp || f.typeId === TypeId.Interval ? 0 : 1;
    f.unit = i16(0, dflt);
  }
  switch (f.typeId) {
    case TypeId.Int:
      f.bitWidth = i32(0, 0);
      f.isSigned = t ? t.bool(1, false) : false;
      if (![8, 16, 32, 64].includes(f.bitWidth)) bad(name, `has an invalid integer width ${f.bitWidth}`);
      break;
    case TypeId.FloatingPoint: {
      f.precision = i16(0, 0);
      const w = [16, 32, 64][f.precision];
      if (w === undefined) bad(name, `has an invalid floating point precision ${f.precision}`);
      f.bitWidth = w;
      break;
    }
    case TypeId.Decimal:
      f.precision = i32(0, 0);
      f.scale = i32(1, 0);
      f.bitWidth = i32(2, 128);
      if (![32, 64, 128, 256].includes(f.bitWidth)) bad(name, `has an invalid decimal width ${f.bitWidth}`);
      if (f.precision < 1) bad(name, `has an invalid decimal precision ${f.precision}`);
      break;
    case TypeId.Date:
      if (f.unit !== 0 && f.unit !== 1) bad(name, `has an invalid date unit ${f.unit}`);
      f.bitWidth = f.unit === 0 ? 32 : 64;
      break;
    case TypeId.Time:
      f.bitWidth = i32(1, 32);
      checkTimeUnit(f);
      // Seconds and milliseconds are 32-bit, micro- and nanoseconds 64-bit.
      if (f.bitWidth !== (f.unit! < 2 ? 32 : 64)) bad(name, `has an invalid time width ${f.bitWidth}`);
      break;
    case TypeId.Timestamp:
      checkTimeUnit(f);
      f.bitWidth = 64;
      if (t) {
        const tz = t.string(1, "time zone");
        if (tz !== undefined) f.timezone = tz;
      }
      break;
    case TypeId.Duration:
      checkTimeUnit(f);
      f.bitWidth = 64;
      break;
    case TypeId.Interval: {
      const w = [32, 64, 128][f.unit ?? -1];
      if (w === undefined) bad(name, `has an invalid interval unit ${f.unit}`);
      f.bitWidth = w;
      break;
    }
    case TypeId.FixedSizeBinary:
      f.byteWidth = i32(0, 0);
      if (f.byteWidth < 0) bad(name, `has a negative byte width ${f.byteWidth}`);
      break;
    case TypeId.FixedSizeList:
      f.listSize = i32(0, 0);
      if (f.listSize < 0) bad(name, `has a negative list size ${f.listSize}`);
      break;
    case TypeId.Map:
      f.keysSorted = t ? t.bool(0, false) : false;
      break;
    case TypeId.Union: {
      const mode = i16(0, 0);
      if (mode !== 0 && mode !== 1) bad(name, `has an invalid union mode ${mode}`);
      f.unionMode = mode === 1 ? "dense" : "sparse";
      const ids = t?.i32s(1, "union type id list");
      if (ids) {
        if (ids.some((id) => id < 0 || id > 127)) bad(name, "has a union type id outside 0..127");
        if (new Set(ids).size !== ids.length) bad(name, "has duplicate union type ids");
        f.typeIds = ids;
      }
      break;
    }
  }
}

function checkTimeUnit(f: FieldInfo): void {
  const u = f.unit ?? -1;
  if (u < 0 || u > 3) bad(f.name, `has an invalid time unit ${u}`);
}

function checkChildren(f: FieldInfo): void {
  const n = f.children.length;
  const want = (k: number) => {
    if (n !== k) bad(f.name, `of type ${TYPE_NAMES[f.typeId]} must have ${k} child field(s), not ${n}`);
  };
  switch (f.typeId) {
    case TypeId.List:
    case TypeId.LargeList:
    case TypeId.ListView:
    case TypeId.LargeListView:
    case TypeId.FixedSizeList:
      want(1);
      break;
    case TypeId.Map: {
      want(1);
      const entries = f.children[0];
      if (entries.typeId !== TypeId.Struct_ || entries.children.length !== 2 || entries.dictionary) {
        bad(f.name, "of type Map must have a struct child with two fields");
      }
      break;
    }
    case TypeId.RunEndEncoded: {
      want(2);
      const ends = f.children[0];
      if (ends.typeId !== TypeId.Int || !ends.isSigned || ends.bitWidth === 8 || ends.dictionary) {
        bad(f.name, "of type RunEndEncoded must have Int16, Int32 or Int64 run ends");
      }
      break;
    }
    case TypeId.Struct_:
      break;
    case TypeId.Union:
      if (f.typeIds && f.typeIds.length !== n) bad(f.name, "has a different number of type ids and children");
      if (!f.typeIds && n > 128) bad(f.name, "has more than 128 union members");
      break;
    default:
      want(0);
  }
}

/** True when column 0 is UInt64 and column 1 is Binary or LargeBinary (by position, names ignored). */
export function isOpaqueSchema(schema: SchemaInfo): boolean {
  const [v, d] = schema.fields;
  return !!v && !!d && !v.dictionary && !d.dictionary && v.typeId === TypeId.Int && v.bitWidth === 64 &&
    v.isSigned === false && (d.typeId === TypeId.Binary || d.typeId === TypeId.LargeBinary);
}

/** True when the schema metadata marks a native Arrow table (`flame.cache.format = arrow-table-v1`). */
export function isNativeSchema(schema: SchemaInfo): boolean {
  return schema.metadata.get(NATIVE_FORMAT_KEY) === NATIVE_FORMAT;
}

/**
 * The one-column schema a DictionaryBatch with dictionary id `id` must match: the dictionary-encoded
 * field's value type (its own encoding removed; nested dictionaries stay encoded). Throws
 * {@link IpcError} when no field uses that id.
 */
export function dictionarySchema(schema: SchemaInfo, id: bigint): SchemaInfo {
  const found = findDictionaryField(schema.fields, id);
  if (!found) throw new IpcError(`The schema has no dictionary with id ${id}.`);
  const value: FieldInfo = { ...found, dictionary: undefined, dictionaryId: undefined };
  delete value.dictionary;
  delete value.dictionaryId;
  value.typeName = typeNameOf(value);
  return { fields: [value], metadata: new Map() };
}

function findDictionaryField(fields: FieldInfo[], id: bigint): FieldInfo | undefined {
  for (const f of fields) {
    if (f.dictionary && f.dictionary.id === id) return f;
    const inner = findDictionaryField(f.children, id);
    if (inner) return inner;
  }
  return undefined;
}

/** Every dictionary id used by the schema, in depth-first order. */
export function dictionaryIds(schema: SchemaInfo): bigint[] {
  const out: bigint[] = [];
  const walk = (fields: FieldInfo[]) => {
    for (const f of fields) {
      if (f.dictionary) out.push(f.dictionary.id);
      walk(f.children);
    }
  };
  walk(schema.fields);
  return out;
}
