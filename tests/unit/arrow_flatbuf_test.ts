// The bounds-checked flatbuffer reader and the small writer, and the schema limits built on them.
import assert from "node:assert/strict";
import { encodeFlatbuffer, fb } from "../../src/arrow/fbwrite.ts";
import { FbReader } from "../../src/arrow/flatbuf.ts";
import {
  encodeSchemaMessage,
  type FieldInfo,
  MAX_FIELD_DEPTH,
  MAX_FIELDS,
  parseMessage,
  type SchemaInfo,
  TypeId,
} from "../../src/arrow/mod.ts";
import { throwsIpc } from "../helpers/bytes.ts";

const sample = () =>
  encodeFlatbuffer([
    fb.u8(200),
    fb.bool(true),
    fb.i16(-2),
    fb.i32(-70000),
    fb.i64(-(2n ** 40n)),
    fb.string("héllo"),
    fb.table([fb.i32(7), undefined, fb.string("inner")]),
    fb.tables([[fb.i32(1)], [fb.i32(2)], []]),
    fb.i32s([1, -2, 3]),
    fb.i64s([5n, -6n]),
    fb.structs(16, new Uint8Array(32).fill(9)),
  ]);

Deno.test("writer output reads back through the checked reader", () => {
  const buf = sample();
  const r = new FbReader(buf, "The sample");
  const t = r.root("root");
  assert.equal(t.u8(0), 200);
  assert.equal(t.bool(1), true);
  assert.equal(t.i16(2), -2);
  assert.equal(t.i32(3), -70000);
  assert.equal(t.i64(4), -(2n ** 40n));
  assert.equal(t.string(5, "s"), "héllo");
  const inner = t.table(6, "inner")!;
  assert.equal(inner.i32(0), 7);
  assert.equal(inner.i32(1, 42), 42, "absent field reads the default");
  assert.equal(inner.string(2, "s"), "inner");
  assert.deepEqual(t.tables(7, "x").map((x) => x.i32(0, -1)), [1, 2, -1]);
  assert.deepEqual(t.i32s(8, "x"), [1, -2, 3]);
  assert.deepEqual(t.i64s(9, "x"), [5n, -6n]);
  const v = t.vector(10, 16, "structs")!;
  assert.equal(v.length, 2);
  assert.equal(v.pos % 8, 0, "struct vectors are 8-aligned");
  assert.equal(t.i64s(20, "absent"), undefined);
  assert.equal(t.fieldPos(4, 8) % 8, 0, "int64 fields are 8-aligned");
});

Deno.test("reader rejects every out-of-range reference", () => {
  const buf = sample();
  const dv = new DataView(buf.buffer);
  const mutate = (f: (b: Uint8Array, d: DataView) => void) => {
    const b = buf.slice();
    f(b, new DataView(b.buffer));
    return new FbReader(b, "The sample");
  };
  const rootPos = dv.getUint32(0, true);
  throwsIpc(() => mutate((_, d) => d.setUint32(0, buf.length)).root("root"), /root lies outside/);
  throwsIpc(() => mutate((_, d) => d.setInt32(rootPos, rootPos + 1)).root("root"), /vtable outside/);
  throwsIpc(() => mutate((_, d) => d.setInt32(rootPos, -buf.length)).root("root"), /vtable outside/);
  const vt = rootPos - dv.getInt32(rootPos, true);
  throwsIpc(() => mutate((_, d) => d.setUint16(vt, 5)).root("root"), /invalid vtable/);
  throwsIpc(() => mutate((_, d) => d.setUint16(vt, 0xfffe)).root("root"), /invalid vtable/);
  throwsIpc(() => mutate((_, d) => d.setUint16(vt + 2, 0xffff)).root("root"), /extends past/);
  throwsIpc(() => mutate((_, d) => d.setUint16(vt + 4, 0xff00)).root("root").u8(0), /outside it/);
  const strField = rootPos + dv.getUint16(vt + 4 + 2 * 5, true);
  const str = strField + dv.getUint32(strField, true);
  throwsIpc(() => mutate((_, d) => d.setUint32(str, 0xffffffff)).root("r").string(5, "name"), /longer than/);
  throwsIpc(() => mutate((b) => b[str + 4 + 6] = 1).root("r").string(5, "name"), /NUL-terminated/);
  throwsIpc(() => mutate((b) => b[str + 4] = 0xff).root("r").string(5, "name"), /UTF-8/);
  throwsIpc(() => mutate((_, d) => d.setUint32(strField, buf.length)).root("r").string(5, "name"), /outside/);
  const vecField = rootPos + dv.getUint16(vt + 4 + 2 * 8, true);
  const vec = vecField + dv.getUint32(vecField, true);
  // A huge element count is refused before anything is allocated.
  throwsIpc(() => mutate((_, d) => d.setUint32(vec, 0x7fffffff)).root("r").i32s(8, "list"), /longer than/);
  const tabField = rootPos + dv.getUint16(vt + 4 + 2 * 7, true);
  const tabs = tabField + dv.getUint32(tabField, true);
  throwsIpc(() => mutate((_, d) => d.setUint32(tabs + 4, buf.length)).root("r").tables(7, "x"), /outside/);
  throwsIpc(() => new FbReader(new Uint8Array(4), "The x").root("r"), /too short/);
});

Deno.test("shared sub-objects cannot multiply the work (budget)", () => {
  // A schema message whose 40,000 metadata entries are patched to all point at one entry with a 1 KB key.
  const n = 40_000;
  const entries = Array.from(
    { length: n },
    (_, i) => [fb.string(i === 0 ? "k".repeat(1000) : ""), fb.string("")],
  );
  const header = encodeFlatbuffer([
    fb.i16(4),
    fb.u8(1),
    fb.table([undefined, fb.tables([]), fb.tables(entries)]),
    fb.i64(0),
  ]);
  assert.equal((parseMessage(header) as { schema: SchemaInfo }).schema.metadata.size, 2);
  const r = new FbReader(header, "x");
  const vec = r.root("m").table(2, "s")!.vector(2, 4, "md")!;
  const dv = new DataView(header.buffer);
  const first = vec.pos + dv.getUint32(vec.pos, true);
  for (let i = 1; i < n; i++) dv.setUint32(vec.pos + 4 * i, first - (vec.pos + 4 * i), true);
  const start = performance.now();
  throwsIpc(() => parseMessage(header), /references more data than it contains/);
  assert.ok(performance.now() - start < 500);
});

function nested(depth: number): FieldInfo {
  let f: FieldInfo = {
    name: "leaf",
    nullable: true,
    typeId: TypeId.Int,
    typeName: "",
    bitWidth: 8,
    isSigned: true,
    children: [],
  };
  for (let i = 1; i < depth; i++) {
    f = { name: `l${i}`, nullable: true, typeId: TypeId.List, typeName: "", children: [f] };
  }
  return f;
}

Deno.test("field depth and count limits", () => {
  const ok = parseMessage(encodeSchemaMessage({ fields: [nested(MAX_FIELD_DEPTH)], metadata: new Map() }));
  assert.equal(ok.kind, "schema");
  throwsIpc(
    () => parseMessage(encodeSchemaMessage({ fields: [nested(MAX_FIELD_DEPTH + 1)], metadata: new Map() })),
    /deeper than 64/,
  );
  const wide = (n: number): SchemaInfo => ({
    fields: Array.from({ length: n }, (_, i) => ({
      name: `c${i}`,
      nullable: false,
      typeId: TypeId.Null,
      typeName: "",
      children: [],
    })),
    metadata: new Map(),
  });
  assert.equal(parseMessage(encodeSchemaMessage(wide(MAX_FIELDS))).kind, "schema");
  throwsIpc(() => parseMessage(encodeSchemaMessage(wide(MAX_FIELDS + 1))), /more than 10000 fields/);
});

Deno.test("schema type checks", () => {
  const one = (f: Partial<FieldInfo>) =>
    parseMessage(encodeSchemaMessage({
      fields: [{ name: "f", nullable: true, typeId: TypeId.Int, typeName: "", children: [], ...f }],
      metadata: new Map(),
    }));
  throwsIpc(() => one({ bitWidth: 12, isSigned: true }), /invalid integer width 12/);
  throwsIpc(() => one({ typeId: TypeId.List }), /must have 1 child/);
  throwsIpc(() => one({ typeId: 99 }), /unknown type \(tag 99\)/);
  throwsIpc(() => one({ typeId: 0 }), /has no type/);
  throwsIpc(() => one({ typeId: TypeId.Time, unit: 3, bitWidth: 32 }), /invalid time width/);
  throwsIpc(() => one({ typeId: TypeId.Decimal, precision: 10, scale: 2, bitWidth: 100 }), /decimal width/);
  throwsIpc(() => one({ typeId: TypeId.FixedSizeBinary, byteWidth: -1 }), /negative byte width/);
  const int8 = {
    name: "k",
    nullable: false,
    typeId: TypeId.Int,
    typeName: "",
    bitWidth: 8,
    isSigned: true,
    children: [],
  };
  throwsIpc(() => one({ typeId: TypeId.Map, children: [int8] }), /struct child/);
  throwsIpc(() => one({ typeId: TypeId.RunEndEncoded, children: [int8, int8] }), /run ends/);
  throwsIpc(() => one({ typeId: TypeId.Union, typeIds: [1, 1], children: [int8, int8] }), /duplicate union/);
  throwsIpc(
    () =>
      one({
        bitWidth: 32,
        isSigned: true,
        dictionary: { id: 1n, indexBitWidth: 7, indexSigned: true, isOrdered: false },
      }),
    /dictionary index width/,
  );
  assert.equal(parseMessage(encodeSchemaMessage({ fields: [], metadata: new Map() })).kind, "schema");
});
