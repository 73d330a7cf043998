// The IPC file format: writing opaque/native files, reading files and footers, decompression.
import assert from "node:assert/strict";
import { crc32, zstdCompressSync } from "node:zlib";
import {
  Dictionary,
  Int32,
  RecordBatchFileReader,
  Table,
  tableFromIPC,
  tableToIPC,
  Utf8,
  vectorFromArray,
} from "apache-arrow";
import {
  type BatchInfo,
  CHECKSUM_KEY,
  crc32Hex,
  decompressBatch,
  IpcError,
  NATIVE_FORMAT,
  NATIVE_FORMAT_KEY,
  NATIVE_VERSION_KEY,
  nativeFileParts,
  opaqueFileParts,
  opaqueRows,
  opaqueVersions,
  parseMessage,
  readFooter,
  readIpcFile,
  readIpcStream,
  TailTooShort,
  validateRecordBatch,
  withSchemaMetadata,
} from "../../src/arrow/mod.ts";
import { schemaTable } from "../../src/arrow/encode.ts";
import { encodeFlatbuffer, fb } from "../../src/arrow/fbwrite.ts";
import { bytes, concat, throwsIpc } from "../helpers/bytes.ts";
import { findPyarrowPython, NO_PYARROW } from "../helpers/python.ts";
import { skipUnless } from "../helpers/skip.ts";

const VECTORS = new URL("../vectors/ipc/", import.meta.url);

function batchOf(m: { message: unknown }): BatchInfo {
  return (m.message as { batch: BatchInfo }).batch;
}

const PY = findPyarrowPython();

async function python(script: string, ...files: Uint8Array[]): Promise<string> {
  const dir = await Deno.makeTempDir();
  try {
    const paths = files.map((_, i) => `${dir}/in${i}.arrow`);
    for (let i = 0; i < files.length; i++) await Deno.writeFile(paths[i], files[i]);
    const out = await new Deno.Command(PY!, {
      args: ["-c", script, ...paths],
      cwd: new URL(".", VECTORS).pathname,
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
    return new TextDecoder().decode(out.stdout).trim();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function opaqueFile(
  version: bigint,
  payload: Uint8Array,
  chunk = 1000,
): { parts: Uint8Array[]; file: Uint8Array } {
  const chunks: Uint8Array[] = [];
  for (let i = 0; i < payload.length; i += chunk) chunks.push(payload.subarray(i, i + chunk));
  const parts = opaqueFileParts(version, chunks, payload.length, crc32(payload));
  for (const c of chunks) assert.ok(parts.includes(c), "payload chunks are passed through, not copied");
  return { parts, file: concat(parts) };
}

Deno.test("opaque files are read by apache-arrow and by readIpcFile", () => {
  for (const n of [0, 1, 8, 1000, 100_003]) {
    const payload = bytes(n, n);
    const version = BigInt(n) + 1n;
    const { file } = opaqueFile(version, payload);
    const footerLength = new DataView(file.buffer).getInt32(file.length - 10, true);
    assert.equal((file.length - 10 - footerLength) % 8, 0, "the footer starts 8-aligned");

    const t = tableFromIPC(file);
    assert.equal(t.numRows, 1);
    assert.equal(t.get(0)!.toJSON().version, version);
    assert.deepEqual(t.get(0)!.toJSON().data, payload);
    assert.equal(t.schema.metadata.get(NATIVE_VERSION_KEY), String(version));
    assert.equal(t.schema.metadata.get(CHECKSUM_KEY), crc32Hex(crc32(payload)));
    assert.match(t.schema.metadata.get(CHECKSUM_KEY)!, /^[0-9a-f]{8}$/);
    const reader = RecordBatchFileReader.from(file).open();
    assert.equal(reader.numRecordBatches, 1);
    const [rb] = [...reader];
    assert.deepEqual(rb.get(0)!.toJSON().data, payload);

    const f = readIpcFile(file);
    assert.equal(f.messages.length, 1);
    const b = batchOf(f.messages[0]);
    assert.deepEqual(opaqueRows(f.schema, b, f.messages[0].body), [payload]);
    assert.deepEqual(opaqueVersions(f.schema, b, f.messages[0].body), [version]);
    assert.equal(f.schema.metadata.get(NATIVE_VERSION_KEY), String(version));
    assert.equal(parseMessage(f.schemaHeader).kind, "schema");
  }
  throwsIpc(() => opaqueFileParts(1, [bytes(3)], 4, 0), /add up/);
});

Deno.test("readFooter reads from the tail and asks for more bytes when needed", () => {
  const payload = bytes(50_000);
  const { file } = opaqueFile(7n, payload);
  const full = readFooter(file, file.length);
  assert.equal(full.recordBatches.length, 1);
  assert.equal(full.dictionaries.length, 0);
  assert.equal(full.schema.metadata.get(NATIVE_VERSION_KEY), "7");
  const [block] = full.recordBatches;
  assert.ok(block.offset >= 8 && block.offset % 8 === 0);
  assert.ok(block.bodyLength >= payload.length);

  assert.throws(() => readFooter(file.subarray(file.length - 4), file.length), (e: unknown) => {
    assert.ok(e instanceof TailTooShort);
    assert.equal(e.required, 10);
    return true;
  });
  let required = 0;
  try {
    readFooter(file.subarray(file.length - 16), file.length);
  } catch (e) {
    assert.ok(e instanceof TailTooShort && e instanceof IpcError);
    required = e.required;
  }
  assert.ok(required > 16 && required < 1000);
  const fromTail = readFooter(file.subarray(file.length - required), file.length);
  assert.deepEqual(fromTail, full);

  const bad = file.slice();
  bad[bad.length - 1] = 0;
  throwsIpc(() => readFooter(bad, bad.length), /ARROW1/);
  const huge = file.slice();
  new DataView(huge.buffer).setInt32(huge.length - 10, 1 << 30, true);
  throwsIpc(() => readFooter(huge, huge.length), /footer length/);
  throwsIpc(() => readFooter(file.subarray(1000), file.length - 1000), /points outside/);
  throwsIpc(() => readFooter(file, file.length - 1000), /too short/);
});

Deno.test("readIpcFile rejects broken files", () => {
  const { file } = opaqueFile(1n, bytes(100));
  const head = file.slice();
  head[0] = 0;
  throwsIpc(() => readIpcFile(head), /start with ARROW1/);
  throwsIpc(() => readIpcFile(file.subarray(0, file.length - 1)), /ARROW1/);
  throwsIpc(() => readIpcFile(file.subarray(0, 12)));
  // readIpcFile checks lengths, not offsets' contents: a data offset past the values is caught by opaqueRows.
  const f = readIpcFile(file);
  const b = batchOf(f.messages[0]);
  const lying = file.slice();
  const offsetsAt = f.messages[0].body.byteOffset + b.buffers[3].offset;
  new DataView(lying.buffer).setInt32(offsetsAt + 4, 1000, true);
  const g = readIpcFile(lying);
  throwsIpc(() => opaqueRows(g.schema, batchOf(g.messages[0]), g.messages[0].body), /past the end/);
});

function withBlocks(
  file: Uint8Array,
  blocks: { offset: number; metaDataLength: number; bodyLength: number }[],
) {
  const footerLength = new DataView(file.buffer, file.byteOffset).getInt32(file.length - 10, true);
  const start = file.length - 10 - footerLength;
  const raw = new Uint8Array(24 * blocks.length);
  const dv = new DataView(raw.buffer);
  blocks.forEach((b, i) => {
    dv.setBigInt64(24 * i, BigInt(b.offset), true);
    dv.setInt32(24 * i + 8, b.metaDataLength, true);
    dv.setBigInt64(24 * i + 16, BigInt(b.bodyLength), true);
  });
  const schema = readFooter(file, file.length).schema;
  const footer = encodeFlatbuffer([
    fb.i16(4),
    fb.table(schemaTable(schema)),
    fb.structs(24, new Uint8Array(0)),
    fb.structs(24, raw),
  ]);
  const trailer = new Uint8Array(10);
  new DataView(trailer.buffer).setInt32(0, footer.length, true);
  trailer.set(new TextEncoder().encode("ARROW1"), 4);
  return concat([file.subarray(0, start), footer, trailer]);
}

Deno.test("footers listing a block twice or out of range are refused", () => {
  const { file } = opaqueFile(1n, bytes(100_000));
  const [block] = readFooter(file, file.length).recordBatches;
  assert.equal(readIpcFile(withBlocks(file, [block])).messages.length, 1);
  throwsIpc(() => readIpcFile(withBlocks(file, [block, block])), /overlapping/);
  throwsIpc(
    () => readIpcFile(withBlocks(file, [{ ...block, bodyLength: block.bodyLength + 8 }])),
    /outside|declares/,
  );
  throwsIpc(() => readIpcFile(withBlocks(file, [{ ...block, offset: 0 }])), /outside/);
  throwsIpc(() => readIpcFile(withBlocks(file, [{ ...block, metaDataLength: 4 }])), /outside/);
  throwsIpc(
    () => readIpcFile(withBlocks(file, [{ ...block, offset: 8 }])),
    /longer than its footer block/,
  );
  const schemaBlock = { offset: 8, metaDataLength: block.offset - 8, bodyLength: 0 };
  throwsIpc(() => readIpcFile(withBlocks(file, [schemaBlock])), /points at a schema message/);
});

Deno.test("native files from apache-arrow messages round-trip, dictionaries included", () => {
  const t = new Table({
    n: vectorFromArray([1, 2, null, 4], new Int32()),
    s: vectorFromArray(["x", "y", "x", "z"], new Dictionary(new Utf8(), new Int32())),
  });
  const s = readIpcStream(tableToIPC(t, "stream"));
  const header = withSchemaMetadata(s.schemaHeader, {
    [NATIVE_FORMAT_KEY]: NATIVE_FORMAT,
    [NATIVE_VERSION_KEY]: "3",
  });
  const parts = nativeFileParts(
    header,
    s.messages.map((m) => ({
      header: m.header,
      body: m.body,
      isDictionary: m.message.kind === "dictionaryBatch",
    })),
  );
  const file = concat(parts);
  const back = tableFromIPC(file);
  assert.equal(back.schema.metadata.get(NATIVE_VERSION_KEY), "3");
  assert.deepEqual(back.toArray().map((r) => r.toJSON()), t.toArray().map((r) => r.toJSON()));

  const f = readIpcFile(file);
  assert.deepEqual(f.messages.map((m) => m.message.kind), ["dictionaryBatch", "recordBatch"]);
  assert.equal(f.schema.metadata.get(NATIVE_FORMAT_KEY), NATIVE_FORMAT);
  const footer = readFooter(file.subarray(file.length - 600), file.length);
  assert.equal(footer.dictionaries.length, 1);
  assert.equal(footer.recordBatches.length, 1);
});

Deno.test("pyarrow files (plain and ZSTD) validate, and decompression matches the plain buffers", () => {
  const plain = readIpcFile(Deno.readFileSync(new URL("types.arrow", VECTORS)));
  const zstd = readIpcFile(Deno.readFileSync(new URL("types_zstd.arrow", VECTORS)));
  assert.deepEqual(zstd.schema, plain.schema);
  assert.equal(plain.messages.length, zstd.messages.length);
  zstd.messages.forEach((m, i) => {
    const b = batchOf(m);
    assert.equal(b.compression, "zstd");
    const d = decompressBatch(m.header, b, m.body, 1 << 20);
    assert.equal(d.batch.compression, "none");
    const parsed = parseMessage(d.header);
    assert.equal(parsed.kind, m.message.kind);
    const pb = batchOf({ message: parsed });
    assert.deepEqual(pb.buffers, d.batch.buffers);
    const schema = m.message.kind === "dictionaryBatch"
      ? readIpcStream(Deno.readFileSync(new URL("types.arrows", VECTORS))).schema
      : plain.schema;
    if (m.message.kind === "recordBatch") validateRecordBatch(schema, pb, d.body);
    // Each decompressed buffer equals the buffer pyarrow wrote uncompressed.
    const pm = plain.messages[i];
    const ref = batchOf(pm);
    assert.deepEqual(pb.nodes, ref.nodes);
    ref.buffers.forEach((rb, k) => {
      const got = d.body.subarray(pb.buffers[k].offset, pb.buffers[k].offset + pb.buffers[k].length);
      assert.deepEqual(got, pm.body.subarray(rb.offset, rb.offset + rb.length), `message ${i} buffer ${k}`);
    });
  });
  // Uncompressed input comes back unchanged.
  const m0 = plain.messages[1];
  assert.equal(decompressBatch(m0.header, batchOf(m0), m0.body, 1 << 20).body, m0.body);
});

Deno.test("decompressBatch refuses bombs, corrupt data and LZ4", () => {
  const f = readIpcFile(Deno.readFileSync(new URL("opaque_zstd.arrow", VECTORS)));
  const m = f.messages[0];
  const b = batchOf(m);
  throwsIpc(() => decompressBatch(m.header, b, m.body, 1000), /limit of 1000 bytes/);
  throwsIpc(() => opaqueRows(f.schema, b, m.body, 1000), /more than the limit of 1000/);
  assert.equal(opaqueRows(f.schema, b, m.body, 5000)[0].length, 5000);
  throwsIpc(() => decompressBatch(m.header, { ...b, compression: "lz4" }, m.body, 1 << 20), /LZ4/);

  // Build a body whose data buffer lies about its uncompressed size.
  const data = bytes(4000);
  const frame = zstdCompressSync(data);
  const withPrefix = (declared: bigint, payload: Uint8Array) => {
    const out = new Uint8Array(8 + payload.length);
    new DataView(out.buffer).setBigInt64(0, declared, true);
    out.set(payload, 8);
    return out;
  };
  const body = (declared: bigint, payload: Uint8Array) => {
    const buf = withPrefix(declared, payload);
    const offsets = withPrefix(-1n, new Uint8Array(new Int32Array([0, data.length]).buffer));
    const version = withPrefix(-1n, new Uint8Array(8));
    const parts = [version, offsets, buf];
    const buffers = [{ offset: 0, length: 0 }];
    let at = 0;
    for (const p of parts) {
      if (p === offsets) buffers.push({ offset: at, length: 0 });
      buffers.push({ offset: at, length: p.length });
      at += p.length;
    }
    return { body: concat(parts), batch: { ...b, buffers, bodyLength: at } as BatchInfo };
  };
  const ok = body(BigInt(data.length), frame);
  validateRecordBatch(f.schema, ok.batch, ok.body);
  assert.deepEqual(opaqueRows(f.schema, ok.batch, ok.body), [data]);
  const small = body(100n, frame); // expands past its declared size
  throwsIpc(() => opaqueRows(f.schema, small.batch, small.body), /ZSTD/);
  const big = body(100_000n, frame); // shorter than declared
  throwsIpc(() => opaqueRows(f.schema, big.batch, big.body), /ZSTD/);
  const garbage = body(4000n, bytes(50));
  throwsIpc(() => opaqueRows(f.schema, garbage.batch, garbage.body), /ZSTD/);
  const bomb = body(2n ** 40n, frame);
  throwsIpc(() => validateRecordBatch(f.schema, bomb.batch, bomb.body), /above 2 GiB/);
  throwsIpc(() => decompressBatch(m.header, bomb.batch, bomb.body, 1 << 20), /2 GiB/);
});

Deno.test({
  name: "pyarrow reads our opaque and native files",
  ignore: skipUnless("pyarrow", PY !== undefined, NO_PYARROW),
  async fn() {
    const payload = bytes(12_345);
    const { file } = opaqueFile(42n, payload);
    const out = await python(
      `import sys, json, pyarrow as pa
r = pa.ipc.open_file(sys.argv[1])
t = r.read_all()
print(json.dumps({"n": r.num_record_batches, "schema": str(t.schema.remove_metadata()),
  "meta": {k.decode(): v.decode() for k, v in t.schema.metadata.items()},
  "version": t["version"][0].as_py(), "len": len(t["data"][0].as_py()), "sum": sum(t["data"][0].as_py())}))`,
      file,
    );
    const got = JSON.parse(out);
    assert.equal(got.n, 1);
    assert.equal(got.schema, "version: uint64 not null\ndata: binary not null");
    assert.deepEqual(got.meta, { [NATIVE_VERSION_KEY]: "42", [CHECKSUM_KEY]: crc32Hex(crc32(payload)) });
    assert.equal(got.version, 42);
    assert.equal(got.len, payload.length);
    assert.equal(got.sum, payload.reduce((a, b) => a + b, 0));

    // Native file rebuilt from the decompressed pyarrow ZSTD file equals pyarrow's own plain file.
    const zstd = readIpcFile(Deno.readFileSync(new URL("types_zstd.arrow", VECTORS)));
    const parts = nativeFileParts(
      withSchemaMetadata(zstd.schemaHeader, { [NATIVE_VERSION_KEY]: "9" }),
      zstd.messages.map((m) => {
        const d = decompressBatch(m.header, batchOf(m), m.body, 1 << 20);
        return { header: d.header, body: d.body, isDictionary: m.message.kind === "dictionaryBatch" };
      }),
    );
    const eq = await python(
      `import sys, pyarrow as pa
ours = pa.ipc.open_file(sys.argv[1]).read_all()
ref = pa.ipc.open_file('types.arrow').read_all()
print(ours.equals(ref), ours.schema.metadata[b'flame.cache.version'].decode())`,
      concat(parts),
    );
    assert.equal(eq, "True 9");
  },
});
