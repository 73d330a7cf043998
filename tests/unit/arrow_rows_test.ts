// Encoding Flame's rows and schemas, and reading opaque rows back; apache-arrow/pyarrow as the reference.
import assert from "node:assert/strict";
import { Binary, LargeBinary, Table, tableFromIPC, tableToIPC, Uint64, vectorFromArray } from "apache-arrow";
import {
  type BatchInfo,
  encodeOpaqueRow,
  encodeReadRow,
  encodeSchemaForFlight,
  frameMessage,
  OPAQUE_SCHEMA_HEADER,
  opaqueRows,
  opaqueVersions,
  parseMessage,
  READ_SCHEMA_HEADER,
  readIpcFile,
  readIpcStream,
  type SchemaInfo,
  validateRecordBatch,
  withSchemaMetadata,
} from "../../src/arrow/mod.ts";
import { bytes, concat, throwsIpc } from "../helpers/bytes.ts";
import { findPyarrowPython, NO_PYARROW } from "../helpers/python.ts";
import { skipUnless } from "../helpers/skip.ts";

const VECTORS = new URL("../vectors/ipc/", import.meta.url);
const EOS = new Uint8Array([255, 255, 255, 255, 0, 0, 0, 0]);

// A stream: schema, then one row per payload, as the server sends it.
function readStream(rows: { version: bigint; kind: "base" | "patch"; data: Uint8Array }[]): Uint8Array {
  const parts = [frameMessage(READ_SCHEMA_HEADER)];
  for (const r of rows) {
    const row = encodeReadRow(r.version, r.kind, r.data.length);
    assert.equal(row.bodyLength, row.bodyPrefix.length + r.data.length + row.bodyPadding);
    assert.equal(row.bodyLength % 8, 0);
    parts.push(frameMessage(row.header), row.bodyPrefix, r.data, new Uint8Array(row.bodyPadding));
  }
  parts.push(EOS);
  return concat(parts);
}

const PY = findPyarrowPython();

async function python(script: string, input: Uint8Array): Promise<string> {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/in.bin`;
    await Deno.writeFile(path, input);
    const out = await new Deno.Command(PY!, { args: ["-c", script, path], stdout: "piped", stderr: "piped" })
      .output();
    if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
    return new TextDecoder().decode(out.stdout).trim();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("encodeReadRow rows decode in apache-arrow", () => {
  const rows = [0, 1, 7, 8, 13, 1000].map((n, i) => ({
    version: BigInt(i + 1) * 1_000_000_007n,
    kind: (i % 2 ? "patch" : "base") as "base" | "patch",
    data: bytes(n, i),
  }));
  rows.push({ version: 2n ** 64n - 1n, kind: "patch", data: bytes(3) });
  const stream = readStream(rows);
  const t = tableFromIPC(stream);
  assert.deepEqual(t.schema.fields.map((f) => [f.name, String(f.type), f.nullable]), [
    ["version", "Uint64", false],
    ["kind", "Utf8", false],
    ["data", "Binary", false],
  ]);
  assert.equal(t.schema.metadata.size, 0);
  assert.equal(t.numRows, rows.length);
  rows.forEach((r, i) => {
    const got = t.get(i)!.toJSON();
    assert.equal(got.version, r.version);
    assert.equal(got.kind, r.kind);
    assert.deepEqual(got.data, r.data);
  });
  // Our own reader agrees and validates every batch.
  const s = readIpcStream(stream);
  assert.equal(s.messages.length, rows.length);
});

Deno.test("encodeOpaqueRow rows decode in apache-arrow and through opaqueRows", () => {
  const payloads = [bytes(0), bytes(5), bytes(4096, 3)];
  const parts = [frameMessage(OPAQUE_SCHEMA_HEADER)];
  payloads.forEach((p, i) => {
    const row = encodeOpaqueRow(i + 10, p.length);
    parts.push(frameMessage(row.header), row.bodyPrefix, p, new Uint8Array(row.bodyPadding));
  });
  const stream = concat([...parts, EOS]);
  const t = tableFromIPC(stream);
  assert.equal(t.numRows, 3);
  payloads.forEach((p, i) => {
    assert.equal(t.get(i)!.toJSON().version, BigInt(i + 10));
    assert.deepEqual(t.get(i)!.toJSON().data, p);
  });
  const s = readIpcStream(stream);
  s.messages.forEach((m, i) => {
    const b = (m.message as { batch: BatchInfo }).batch;
    assert.deepEqual(opaqueVersions(s.schema, b, m.body), [BigInt(i + 10)]);
    const [row] = opaqueRows(s.schema, b, m.body);
    assert.deepEqual(row, payloads[i]);
    assert.equal(row.buffer, stream.buffer, "rows are views into the body");
  });
});

Deno.test("row encoding is O(1) in the payload size and range-checked", () => {
  const big = encodeReadRow(1, "base", 2 ** 31 - 1);
  assert.equal(big.bodyLength, 32 + 2 ** 31);
  const m = parseMessage(big.header) as { batch: BatchInfo; bodyLength: number };
  assert.equal(m.bodyLength, big.bodyLength);
  assert.deepEqual(m.batch.buffers.at(-1), { offset: 32, length: 2 ** 31 - 1 });
  const start = performance.now();
  for (let i = 0; i < 20_000; i++) encodeOpaqueRow(i, i * 1000);
  assert.ok(performance.now() - start < 1000, "20k row headers should take well under a second");
  throwsIpc(() => encodeReadRow(1, "base", 2 ** 31), /2 GiB/);
  throwsIpc(() => encodeOpaqueRow(1, -1), /2 GiB/);
  throwsIpc(() => encodeOpaqueRow(1, 1.5), /2 GiB/);
  throwsIpc(() => encodeOpaqueRow(-1, 1), /version/);
  throwsIpc(() => encodeOpaqueRow(2n ** 64n, 1), /version/);
  throwsIpc(() => encodeReadRow(1, "other" as "base", 1), /kind/);
});

Deno.test("frameMessage pads to 8 bytes with the continuation marker", () => {
  for (const n of [1, 7, 8, 9, 100]) {
    const h = bytes(n);
    const f = frameMessage(h);
    assert.equal(f.length % 8, 0);
    assert.equal(f.length, 8 + Math.ceil(n / 8) * 8);
    const dv = new DataView(f.buffer);
    assert.equal(dv.getUint32(0, true), 0xffffffff);
    assert.equal(dv.getInt32(4, true), f.length - 8);
    assert.deepEqual(f.subarray(8, 8 + n), h);
    assert.ok(f.subarray(8 + n).every((b) => b === 0));
  }
  assert.deepEqual(encodeSchemaForFlight(READ_SCHEMA_HEADER), frameMessage(READ_SCHEMA_HEADER));
});

Deno.test("opaqueRows handles nulls, many rows, LargeBinary and multi-column batches", () => {
  const values = [bytes(3), null, bytes(0), bytes(17, 2), null, bytes(1)];
  for (const type of [new Binary(), new LargeBinary()]) {
    const t = new Table({
      v: vectorFromArray(values.map((_, i) => i % 3 === 1 ? null : BigInt(i * 5)), new Uint64()),
      d: vectorFromArray(values, type),
    });
    const s = readIpcStream(tableToIPC(t, "stream"));
    const m = s.messages[0];
    const b = (m.message as { batch: BatchInfo }).batch;
    const rows = opaqueRows(s.schema, b, m.body);
    assert.deepEqual(rows, values.map((v) => v ?? new Uint8Array(0)));
    assert.deepEqual(
      opaqueVersions(s.schema, b, m.body),
      values.map((_, i) => i % 3 === 1 ? 0n : BigInt(i * 5)),
    );
  }
});

Deno.test("opaqueRows validates the offsets buffer", () => {
  const t = new Table({
    v: vectorFromArray([1n, 2n, 3n], new Uint64()),
    d: vectorFromArray([bytes(4), bytes(4), bytes(4)], new Binary()),
  });
  const s = readIpcStream(tableToIPC(t, "stream"));
  const m = s.messages[0];
  const b = (m.message as { batch: BatchInfo }).batch;
  const off = b.buffers[3];
  const corrupt = (i: number, v: number) => {
    const body = m.body.slice();
    new DataView(body.buffer).setInt32(off.offset + 4 * i, v, true);
    validateRecordBatch(s.schema, b, body); // lengths are fine; only contents are wrong
    return body;
  };
  assert.equal(opaqueRows(s.schema, b, corrupt(0, 0)).length, 3);
  throwsIpc(() => opaqueRows(s.schema, b, corrupt(0, -1)), /first offset/);
  throwsIpc(() => opaqueRows(s.schema, b, corrupt(1, 9)), /decrease/);
  throwsIpc(() => opaqueRows(s.schema, b, corrupt(3, b.buffers[4].length + 1)), /past the end/);
  throwsIpc(() => opaqueRows(s.schema, b, corrupt(3, 2 ** 31 - 1)), /past the end/);
  const notOpaque: SchemaInfo = { fields: s.schema.fields.slice().reverse(), metadata: new Map() };
  throwsIpc(
    () => opaqueRows(notOpaque, b, m.body),
    /Expected an opaque object schema \(.*\) but got Binary, UInt64/,
  );
  throwsIpc(
    () => opaqueRows(s.schema, { ...b, compression: "lz4" }, m.body),
    /^LZ4 compression is not supported\.$/,
  );
});

Deno.test("opaqueRows decompresses a pyarrow ZSTD batch", () => {
  const f = readIpcFile(Deno.readFileSync(new URL("opaque_zstd.arrow", VECTORS)));
  const m = f.messages[0];
  const b = (m.message as { batch: BatchInfo }).batch;
  assert.equal(b.compression, "zstd");
  const expected = new Uint8Array(5000).map((_, i) => (i * 7 + Math.floor(i / 13)) % 256);
  assert.deepEqual(opaqueRows(f.schema, b, m.body), [expected]);
  assert.deepEqual(opaqueVersions(f.schema, b, m.body), [3n]);
});

Deno.test({
  name: "pyarrow reads the read-row stream and Flight schemas",
  ignore: skipUnless("pyarrow", PY !== undefined, NO_PYARROW),
  async fn() {
    const stream = readStream([
      { version: 1n, kind: "base", data: bytes(10) },
      { version: 2n, kind: "patch", data: bytes(3, 5) },
    ]);
    const out = await python(
      `import sys, json, pyarrow as pa
t = pa.ipc.open_stream(open(sys.argv[1], 'rb').read()).read_all()
print(json.dumps({"schema": str(t.schema), "rows": [[r["version"], r["kind"], list(r["data"])] for r in t.to_pylist()]}))`,
      stream,
    );
    const got = JSON.parse(out);
    assert.equal(got.schema, "version: uint64 not null\nkind: string not null\ndata: binary not null");
    assert.deepEqual(got.rows, [[1, "base", [...bytes(10)]], [2, "patch", [...bytes(3, 5)]]]);

    const native = withSchemaMetadata(OPAQUE_SCHEMA_HEADER, { "flame.cache.format": "arrow-table-v1" });
    for (const header of [READ_SCHEMA_HEADER, native]) {
      const s = await python(
        `import sys, pyarrow as pa
s = pa.ipc.read_schema(pa.py_buffer(open(sys.argv[1], 'rb').read()))
print(s.names, s.metadata)`,
        encodeSchemaForFlight(header),
      );
      assert.match(s, /^\['version', ('kind', )?'data'\] /);
      if (header === native) assert.match(s, /b'flame.cache.format': b'arrow-table-v1'/);
    }
  },
});
