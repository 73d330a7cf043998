// parseMessage / validateRecordBatch / schema helpers, checked against apache-arrow and pyarrow output.
import assert from "node:assert/strict";
import {
  Binary,
  Bool,
  DateDay,
  Dictionary,
  Field,
  FixedSizeBinary,
  FixedSizeList,
  Float32,
  Float64,
  Int16,
  Int32,
  Int64,
  Int8,
  LargeBinary,
  LargeUtf8,
  List,
  Map_,
  Null,
  Struct,
  Table,
  tableFromIPC,
  tableToIPC,
  TimestampMillisecond,
  Uint16,
  Uint64,
  Utf8,
  vectorFromArray,
} from "apache-arrow";
import {
  type BatchInfo,
  dictionaryIds,
  dictionarySchema,
  encodeSchemaMessage,
  frameMessage,
  IpcError,
  type IpcMessage,
  isNativeSchema,
  isOpaqueSchema,
  NATIVE_FORMAT,
  NATIVE_FORMAT_KEY,
  OPAQUE_SCHEMA_HEADER,
  parseMessage,
  READ_SCHEMA_HEADER,
  readIpcFile,
  readIpcStream,
  type SchemaInfo,
  TypeId,
  validateRecordBatch,
  withSchemaMetadata,
} from "../../src/arrow/mod.ts";
import { encodeMessage } from "../../src/arrow/encode.ts";
import { fb } from "../../src/arrow/fbwrite.ts";
import { MessageHeaderType } from "../../src/arrow/types.ts";
import { concat, throwsIpc } from "../helpers/bytes.ts";

// Row values as comparable text (bigints and byte arrays included).
function json(t: Table): string {
  return JSON.stringify(
    t.toArray().map((r) => r.toJSON()),
    (_k, v) => typeof v === "bigint" ? `${v}n` : v instanceof Uint8Array ? [...v] : v,
  );
}

const VECTORS = new URL("../vectors/ipc/", import.meta.url);
const u8 = (...x: number[]) => new Uint8Array(x);

function manyTypesTable(): Table {
  return new Table({
    i8: vectorFromArray([1, null, 3], new Int8()),
    i16: vectorFromArray([1, 2, 3], new Int16()),
    u16: vectorFromArray([1, 2, null], new Uint16()),
    i64: vectorFromArray([1n, null, 3n], new Int64()),
    u64: vectorFromArray([1n, 2n, 3n], new Uint64()),
    f32: vectorFromArray([1.5, null, 3], new Float32()),
    f64: vectorFromArray([1.5, 2, 3], new Float64()),
    s: vectorFromArray(["a", null, "ccc"], new Utf8()),
    ls: vectorFromArray(["a", "bb", null], new LargeUtf8()),
    b: vectorFromArray([u8(1, 2), null, u8()], new Binary()),
    lb: vectorFromArray([u8(1, 2), u8(3), null], new LargeBinary()),
    bool: vectorFromArray([true, null, false], new Bool()),
    date: vectorFromArray([new Date(0), null, new Date(86400000)], new DateDay()),
    ts: vectorFromArray([0, 1000, null], new TimestampMillisecond()),
    list: vectorFromArray([[1, 2], null, []], new List(new Field("item", new Int32(), true))),
    st: vectorFromArray(
      [{ a: 1, b: "x" }, null, { a: 2, b: null }],
      new Struct([new Field("a", new Int32(), true), new Field("b", new Utf8(), true)]),
    ),
    fsl: vectorFromArray(
      [[1, 2], [3, 4], null],
      new FixedSizeList(2, new Field("item", new Float64(), true)),
    ),
    fsb: vectorFromArray([u8(1, 2), u8(3, 4), null], new FixedSizeBinary(2)),
    dict: vectorFromArray(["a", "b", "a"], new Dictionary(new Utf8(), new Int32())),
    map: vectorFromArray(
      [new Map([["a", 1]]), null, new Map()],
      new Map_<Utf8, Int32>(
        new Field(
          "entries",
          new Struct<{ key: Utf8; value: Int32 }>([
            new Field("key", new Utf8(), false),
            new Field("value", new Int32(), true),
          ]),
          false,
        ),
      ),
    ),
    nul: vectorFromArray([null, null, null], new Null()),
  });
}

function batchOf(m: IpcMessage): BatchInfo {
  assert.notEqual(m.kind, "schema");
  return (m as { batch: BatchInfo }).batch;
}

Deno.test("apache-arrow stream of many types parses and validates", () => {
  const ipc = tableToIPC(manyTypesTable(), "stream");
  const s = readIpcStream(ipc);
  assert.deepEqual(
    s.schema.fields.map((f) => f.typeName),
    [
      "Int8",
      "Int16",
      "UInt16",
      "Int64",
      "UInt64",
      "Float32",
      "Float64",
      "Utf8",
      "LargeUtf8",
      "Binary",
      "LargeBinary",
      "Bool",
      "Date32",
      "Timestamp[Millisecond]",
      "List",
      "Struct",
      "FixedSizeList(2)",
      "FixedSizeBinary(2)",
      "Dictionary<Int32, Utf8>",
      "Map",
      "Null",
    ],
  );
  const dict = s.schema.fields[18];
  assert.equal(dict.typeId, TypeId.Utf8);
  assert.equal(typeof dict.dictionaryId, "bigint");
  assert.deepEqual(dictionaryIds(s.schema), [dict.dictionaryId]);
  assert.deepEqual(s.messages.map((m) => m.message.kind), ["dictionaryBatch", "recordBatch"]);
  const rb = batchOf(s.messages[1].message);
  assert.equal(rb.length, 3);
  // Flattened: 21 columns + list child + 2 struct children + fsl child + map entries + key + value.
  assert.equal(rb.nodes.length, 21 + 1 + 2 + 1 + 3);
  assert.equal(rb.bodyLength, s.messages[1].body.length);

  // The same table as an IPC file.
  const f = readIpcFile(tableToIPC(manyTypesTable(), "file"));
  assert.deepEqual(f.messages.map((m) => m.message.kind), ["dictionaryBatch", "recordBatch"]);
});

Deno.test("pyarrow stream vector with every type validates", () => {
  const bytes = Deno.readFileSync(new URL("types.arrows", VECTORS));
  const meta = JSON.parse(Deno.readTextFileSync(new URL("types.json", VECTORS)));
  const s = readIpcStream(bytes);
  assert.deepEqual(s.schema.fields.map((f) => f.name), meta.columns);
  assert.equal(s.schema.metadata.get("origin"), "pyarrow");
  assert.ok(isNativeSchema(s.schema));
  const rows = s.messages.filter((m) => m.message.kind === "recordBatch").map((m) =>
    batchOf(m.message).length
  );
  assert.deepEqual(rows, meta.batchRows);
  const byName = new Map(s.schema.fields.map((f) => [f.name, f]));
  assert.equal(byName.get("ts")!.timezone, "UTC");
  assert.equal(byName.get("dec128")!.typeName, "Decimal128(10, 2)");
  assert.equal(byName.get("dunion")!.unionMode, "dense");
  assert.equal(byName.get("sview")!.typeId, TypeId.Utf8View);
  assert.equal(byName.get("lview")!.typeId, TypeId.ListView);
  assert.equal(byName.get("ree")!.typeId, TypeId.RunEndEncoded);
});

Deno.test("re-encoded schemas keep every type parameter", () => {
  for (const name of ["types.arrows"]) {
    const s = readIpcStream(Deno.readFileSync(new URL(name, VECTORS)));
    const again = parseMessage(encodeSchemaMessage(s.schema));
    assert.equal(again.kind, "schema");
    assert.deepEqual((again as { schema: SchemaInfo }).schema, s.schema);
  }
});

Deno.test("fixed schemas are recognised", () => {
  const read = parseMessage(READ_SCHEMA_HEADER) as { schema: SchemaInfo };
  const opaque = parseMessage(OPAQUE_SCHEMA_HEADER) as { schema: SchemaInfo };
  assert.deepEqual(read.schema.fields.map((f) => [f.name, f.typeName, f.nullable]), [
    ["version", "UInt64", false],
    ["kind", "Utf8", false],
    ["data", "Binary", false],
  ]);
  assert.ok(isOpaqueSchema(opaque.schema));
  assert.ok(!isOpaqueSchema(read.schema)); // column 1 is Utf8
  assert.ok(!isNativeSchema(opaque.schema));
  // pyarrow-style nullable opaque schema, LargeBinary data, names ignored.
  const t = new Table({
    x: vectorFromArray([1n], new Uint64()),
    y: vectorFromArray([u8(1)], new LargeBinary()),
  });
  assert.ok(isOpaqueSchema(readIpcStream(tableToIPC(t, "stream")).schema));
  const signed = new Table({
    x: vectorFromArray([1n], new Int64()),
    y: vectorFromArray([u8(1)], new Binary()),
  });
  assert.ok(!isOpaqueSchema(readIpcStream(tableToIPC(signed, "stream")).schema));
});

Deno.test("withSchemaMetadata keeps order, appends new keys, and apache-arrow reads it", () => {
  const withMeta = manyTypesTable();
  withMeta.schema.metadata.set("a", "1");
  withMeta.schema.metadata.set("b", "2");
  const s = readIpcStream(tableToIPC(withMeta, "stream"));
  const h = withSchemaMetadata(s.schemaHeader, { c: "3", a: "one", [NATIVE_FORMAT_KEY]: NATIVE_FORMAT });
  const parsed = parseMessage(h) as { schema: SchemaInfo };
  assert.deepEqual([...parsed.schema.metadata], [["a", "one"], ["b", "2"], ["c", "3"], [
    NATIVE_FORMAT_KEY,
    NATIVE_FORMAT,
  ]]);
  assert.ok(isNativeSchema(parsed.schema));
  assert.deepEqual(parsed.schema.fields, s.schema.fields);

  // apache-arrow decodes the re-encoded schema followed by the original batches.
  const parts = [frameMessage(h)];
  for (const m of s.messages) parts.push(frameMessage(m.header), m.body);
  const back = tableFromIPC(concat(parts));
  assert.equal(back.schema.metadata.get("a"), "one");
  assert.equal(back.schema.metadata.get(NATIVE_FORMAT_KEY), NATIVE_FORMAT);
  assert.deepEqual(
    back.schema.fields.map((f) => String(f.type)),
    withMeta.schema.fields.map((f) => String(f.type)),
  );
  assert.equal(json(back), json(withMeta));
  throwsIpc(() => withSchemaMetadata(s.messages[1].header, { a: "b" }), /not a schema/);
});

Deno.test("dictionarySchema gives the value type of a dictionary batch", () => {
  const s = readIpcStream(tableToIPC(manyTypesTable(), "stream"));
  const dm = s.messages[0].message as { id: bigint; batch: BatchInfo };
  const ds = dictionarySchema(s.schema, dm.id);
  assert.equal(ds.fields.length, 1);
  assert.equal(ds.fields[0].typeName, "Utf8");
  assert.equal(ds.fields[0].dictionaryId, undefined);
  validateRecordBatch(ds, dm.batch, s.messages[0].body);
  throwsIpc(() => validateRecordBatch(s.schema, dm.batch, s.messages[0].body));
  throwsIpc(() => dictionarySchema(s.schema, 999n), /no dictionary with id 999/);
});

function header(bytes: Uint8Array): Uint8Array {
  // Strip framing from a framed message.
  const len = new DataView(bytes.buffer, bytes.byteOffset).getInt32(4, true);
  return bytes.subarray(8, 8 + len);
}

Deno.test("parseMessage rejects framing, old versions, tensors and garbage", () => {
  const framed = tableToIPC(new Table({ a: vectorFromArray([1], new Int32()) }), "stream");
  throwsIpc(() => parseMessage(framed), /continuation marker/);
  const h = header(framed).slice();
  assert.equal(parseMessage(h).kind, "schema");
  throwsIpc(() => parseMessage(new Uint8Array(0)), /too short/);
  throwsIpc(() => parseMessage(new Uint8Array(16)));
  throwsIpc(() => parseMessage(encodeMessage(MessageHeaderType.Tensor, [], 0)), /Tensor messages/);
  throwsIpc(() => parseMessage(encodeMessage(MessageHeaderType.SparseTensor, [], 0)), /SparseTensor/);
  throwsIpc(() => parseMessage(encodeMessage(9, [], 0)), /unknown/);
  throwsIpc(() => parseMessage(encodeMessage(MessageHeaderType.RecordBatch, [fb.i64(-1)], 0)), /negative/);
  throwsIpc(
    () => parseMessage(encodeMessage(MessageHeaderType.RecordBatch, [fb.i64(2n ** 60n)], 0)),
    /too large/,
  );
  throwsIpc(() => parseMessage(encodeMessage(MessageHeaderType.RecordBatch, [], -8)), /negative/);

  // Version field is slot 0 (int16); find it by re-encoding with our encoder and patching.
  const schema = (parseMessage(h) as { schema: SchemaInfo }).schema;
  for (const [version, ok] of [[0, false], [2, false], [3, true], [4, true], [5, false]] as const) {
    const m = encodeSchemaMessage(schema, { version });
    if (ok) assert.equal(parseMessage(m).kind, "schema");
    else throwsIpc(() => parseMessage(m), /metadata version/);
  }
});

Deno.test("validateRecordBatch catches lies about lengths", () => {
  const t = new Table({
    v: vectorFromArray([1n, 2n, 3n], new Uint64()),
    d: vectorFromArray([u8(1, 2, 3), u8(4), null], new Binary()),
  });
  const s = readIpcStream(tableToIPC(t, "stream"));
  const { body, message } = s.messages[0];
  const good = batchOf(message);
  validateRecordBatch(s.schema, good, body);
  const clone = (): BatchInfo => structuredClone(good);

  let b = clone();
  b.bodyLength = body.length + 8;
  throwsIpc(() => validateRecordBatch(s.schema, b, body), /header declares/);
  b = clone();
  b.buffers[4].length = body.length;
  throwsIpc(() => validateRecordBatch(s.schema, b, body), /outside/);
  b = clone();
  b.nodes.pop();
  throwsIpc(() => validateRecordBatch(s.schema, b, body), /field nodes/);
  b = clone();
  b.nodes.push({ length: 0, nullCount: 0 });
  throwsIpc(() => validateRecordBatch(s.schema, b, body), /field nodes/);
  b = clone();
  b.buffers.pop();
  throwsIpc(() => validateRecordBatch(s.schema, b, body), /buffers/);
  b = clone();
  b.buffers.push({ offset: 0, length: 0 });
  throwsIpc(() => validateRecordBatch(s.schema, b, body), /buffers/);
  b = clone();
  b.length = 4;
  throwsIpc(() => validateRecordBatch(s.schema, b, body), /rows/);
  b = clone();
  b.length = 1000;
  b.nodes[0].length = 1000;
  b.nodes[1].length = 1000;
  throwsIpc(() => validateRecordBatch(s.schema, b, body), /bytes but 1000 values need/);
  b = clone();
  b.nodes[1].nullCount = 4;
  throwsIpc(() => validateRecordBatch(s.schema, b, body), /more nulls/);
  b = clone();
  b.buffers[1].length = 8; // 3 UInt64 values need 24 bytes
  throwsIpc(() => validateRecordBatch(s.schema, b, body), /values buffer/);
  b = clone();
  b.compression = "zstd"; // buffers now need a valid int64 length prefix
  assert.throws(() => validateRecordBatch(s.schema, b, body), IpcError);
});
