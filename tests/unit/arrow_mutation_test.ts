// Deterministic mutation testing: corrupted headers, bodies, streams and files must either pass
// validation or throw IpcError, never another exception, never hang, never use much memory.
import assert from "node:assert/strict";
import {
  Binary,
  Dictionary,
  Field,
  Int32,
  List,
  Struct,
  Table,
  tableFromIPC,
  tableToIPC,
  Uint64,
  Utf8,
  vectorFromArray,
} from "apache-arrow";
import {
  type BatchInfo,
  decompressBatch,
  dictionarySchema,
  encodeOpaqueRow,
  encodeReadRow,
  frameMessage,
  IpcError,
  type IpcMessage,
  isOpaqueSchema,
  OPAQUE_SCHEMA_HEADER,
  opaqueFileParts,
  opaqueRows,
  opaqueVersions,
  parseMessage,
  READ_SCHEMA_HEADER,
  readFooter,
  readIpcFile,
  readIpcStream,
  type SchemaInfo,
  validateRecordBatch,
  withSchemaMetadata,
} from "../../src/arrow/mod.ts";
import { concat } from "../helpers/bytes.ts";

const VECTORS = new URL("../vectors/ipc/", import.meta.url);
const EOS = new Uint8Array([255, 255, 255, 255, 0, 0, 0, 0]);

// mulberry32: small, seeded, deterministic.
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SPECIAL32 = [0, 1, -1, 8, 0x7fffffff, -0x80000000, 0xffff, 0x10000];

function mutate(src: Uint8Array, rnd: () => number): Uint8Array {
  const pick = (n: number) => Math.floor(rnd() * n);
  let b: Uint8Array = src.slice();
  const ops = 1 + pick(3);
  for (let k = 0; k < ops && b.length > 0; k++) {
    switch (pick(6)) {
      case 0:
        b[pick(b.length)] ^= 1 << pick(8);
        break;
      case 1:
        b[pick(b.length)] = [0, 0xff, 0x7f, 0x80, 1][pick(5)];
        break;
      case 2: {
        if (b.length < 4) break;
        const at = pick(b.length >> 2) << 2;
        new DataView(b.buffer).setInt32(
          at,
          SPECIAL32[pick(SPECIAL32.length)] + (pick(2) ? pick(64) : 0),
          true,
        );
        break;
      }
      case 3:
        b = b.slice(0, pick(b.length));
        break;
      case 4: {
        const extra = new Uint8Array(1 + pick(64)).map(() => pick(256));
        b = concat([b, extra]);
        break;
      }
      default: {
        const from = pick(b.length);
        const to = pick(b.length);
        const n = Math.min(1 + pick(16), b.length - Math.max(from, to));
        b.copyWithin(to, from, from + n);
      }
    }
  }
  return b;
}

// Runs fn; an IpcError is an acceptable outcome, anything else fails the test.
function expectOkOrIpc(what: string, fn: () => void): boolean {
  try {
    fn();
    return true;
  } catch (e) {
    if (e instanceof IpcError) return false;
    throw new Error(`${what}: threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`, {
      cause: e,
    });
  }
}

// Everything a server would do with a batch once its header parsed.
function useBatch(schema: SchemaInfo, header: Uint8Array, m: IpcMessage, body: Uint8Array): void {
  if (m.kind === "schema") return;
  const s = m.kind === "dictionaryBatch" ? dictionarySchema(schema, m.id) : schema;
  validateRecordBatch(s, m.batch, body);
  if (isOpaqueSchema(s)) {
    opaqueRows(s, m.batch, body);
    opaqueVersions(s, m.batch, body);
  }
  if (m.batch.compression === "zstd") decompressBatch(header, m.batch, body, 1 << 20);
}

function appTable(): Table {
  return new Table({
    v: vectorFromArray([1n, 2n, null], new Uint64()),
    d: vectorFromArray([new Uint8Array([1, 2]), null, new Uint8Array(5)], new Binary()),
    s: vectorFromArray(["a", "b", "a"], new Dictionary(new Utf8(), new Int32())),
    l: vectorFromArray([[1], [2, 3], null], new List(new Field("i", new Int32(), true))),
    st: vectorFromArray(
      [{ x: 1 }, null, { x: 3 }],
      new Struct([new Field("x", new Int32(), true)]),
    ),
  });
}

function opaqueStream(payload: Uint8Array): Uint8Array {
  const row = encodeOpaqueRow(5, payload.length);
  return concat([
    frameMessage(OPAQUE_SCHEMA_HEADER),
    frameMessage(row.header),
    row.bodyPrefix,
    payload,
    new Uint8Array(row.bodyPadding),
    EOS,
  ]);
}

function readRowStream(payload: Uint8Array): Uint8Array {
  const row = encodeReadRow(5, "patch", payload.length);
  return concat([
    frameMessage(READ_SCHEMA_HEADER),
    frameMessage(row.header),
    row.bodyPrefix,
    payload,
    new Uint8Array(row.bodyPadding),
    EOS,
  ]);
}

const payload = new Uint8Array(300).map((_, i) => (i * 13) & 0xff);
const STREAMS: Record<string, Uint8Array> = {
  "apache-arrow": tableToIPC(appTable(), "stream"),
  "pyarrow": Deno.readFileSync(new URL("types.arrows", VECTORS)),
  "opaque": opaqueStream(payload),
  "read": readRowStream(payload),
};
const FILES: Record<string, Uint8Array> = {
  "opaque": concat(opaqueFileParts(9, [payload], payload.length, 0x1234abcd)),
  "opaque-zstd": Deno.readFileSync(new URL("opaque_zstd.arrow", VECTORS)),
  "types-zstd": Deno.readFileSync(new URL("types_zstd.arrow", VECTORS)),
  "apache-arrow": tableToIPC(appTable(), "file"),
};

const rssStart = Deno.memoryUsage().rss;

Deno.test("mutated message headers: parseMessage + validateRecordBatch give IpcError or success", () => {
  const rnd = prng(1);
  let ok = 0;
  let total = 0;
  for (const [name, bytes] of Object.entries(STREAMS)) {
    const s = readIpcStream(bytes);
    const headers = [{ header: s.schemaHeader, body: new Uint8Array(0) }, ...s.messages];
    for (let i = 0; i < 600; i++) {
      const orig = headers[i % headers.length];
      const h = mutate(orig.header, rnd);
      total++;
      if (
        expectOkOrIpc(`${name} header #${i}`, () => {
          const m = parseMessage(h);
          if (m.kind === "schema") withSchemaMetadata(h, { k: "v" });
          useBatch(s.schema, h, m, orig.body);
        })
      ) ok++;
    }
  }
  assert.ok(ok > 0 && ok < total, `some mutants pass, most fail (${ok}/${total})`);
});

Deno.test("mutated bodies and batch metadata: validation gives IpcError or success", () => {
  const rnd = prng(2);
  const sources = [
    ...Object.values(STREAMS).map((b) => readIpcStream(b)),
    ...Object.values(FILES).map((b) => readIpcFile(b)),
  ];
  for (let i = 0; i < 1500; i++) {
    const src = sources[i % sources.length];
    const msg = src.messages[Math.floor(rnd() * src.messages.length)];
    const body = mutate(msg.body, rnd);
    const m = structuredClone(msg.message) as IpcMessage & { batch: BatchInfo };
    if (rnd() < 0.5) {
      // Lie about one number in the batch metadata.
      const b = m.batch;
      const lie = [0, 1, 7, 8, 2 ** 31, 2 ** 53 - 1, body.length, body.length + 1][Math.floor(rnd() * 8)];
      const which = Math.floor(rnd() * 3);
      if (which === 0 && b.nodes.length) b.nodes[Math.floor(rnd() * b.nodes.length)].length = lie;
      else if (which === 1 && b.buffers.length) b.buffers[Math.floor(rnd() * b.buffers.length)].offset = lie;
      else if (b.buffers.length) b.buffers[Math.floor(rnd() * b.buffers.length)].length = lie;
      b.bodyLength = body.length;
    }
    expectOkOrIpc(`body #${i}`, () => useBatch(src.schema, msg.header, m, body));
  }
});

Deno.test("mutated streams and files: readers give IpcError or success", () => {
  const rnd = prng(3);
  for (let i = 0; i < 1600; i++) {
    const [name, bytes] = Object.entries(STREAMS)[i % 4];
    const m = mutate(bytes, rnd);
    expectOkOrIpc(`stream ${name} #${i}`, () => {
      const s = readIpcStream(m);
      for (const x of s.messages) useBatch(s.schema, x.header, x.message, x.body);
    });
  }
  for (let i = 0; i < 1600; i++) {
    const [name, bytes] = Object.entries(FILES)[i % 4];
    // Half the mutations hit the last 512 bytes, where the footer lives.
    const tailFrom = rnd() < 0.5 ? Math.max(0, bytes.length - 512) : 0;
    const m = concat([bytes.subarray(0, tailFrom), mutate(bytes.subarray(tailFrom), rnd)]);
    expectOkOrIpc(`file ${name} #${i}`, () => {
      const f = readIpcFile(m);
      for (const x of f.messages) useBatch(f.schema, x.header, x.message, x.body);
    });
    expectOkOrIpc(`footer ${name} #${i}`, () => {
      const keep = Math.min(m.length, 10 + Math.floor(rnd() * 600));
      readFooter(m.subarray(m.length - keep), m.length);
    });
  }
});

Deno.test("streams that pass validation are safe to hand to apache-arrow", () => {
  const rnd = prng(4);
  let passed = 0;
  for (let i = 0; i < 1500; i++) {
    const [name, bytes] = Object.entries(STREAMS)[[0, 2, 3][i % 3]];
    const m = mutate(bytes, rnd);
    if (!expectOkOrIpc(`stream ${name} #${i}`, () => readIpcStream(m))) continue;
    passed++;
    try {
      tableFromIPC(m).toArray().forEach((r) => r.toJSON());
    } catch {
      // apache-arrow may reject semantically odd data; what matters is it does not exhaust memory.
    }
  }
  assert.ok(passed > 50, `enough mutants reach apache-arrow (${passed})`);
});

Deno.test("memory stays small after the mutation runs", () => {
  const grown = (Deno.memoryUsage().rss - rssStart) / 2 ** 20;
  assert.ok(grown < 256, `RSS grew by ${grown.toFixed(0)} MiB`);
});
