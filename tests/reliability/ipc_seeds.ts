/**
 * Valid uploads and IPC files built with apache-arrow (independent of the
 * server's encoders), used as seeds for mutation fuzzing, and the 4.5 KB
 * "heap bomb": an opaque `{version, data}` IPC stream/file whose record batch
 * header claims 2^31-1 field nodes (a lying flatbuffer vector length).
 * apache-arrow's reader believes it and exhausts its heap (field notes).
 *
 * @module
 */
import {
  Binary,
  Dictionary,
  Field,
  Float64,
  Int32,
  List,
  Struct,
  Table,
  tableToIPC,
  Uint64,
  Utf8,
  vectorFromArray,
} from "apache-arrow";
import { descriptor, enc, fbTable, flightData, ipcMessages, ROOT } from "./helpers.ts";

/** One FlightData message as fields (so mutators can work on header and body separately). */
export interface FdParts {
  descriptor?: Uint8Array;
  header?: Uint8Array;
  body?: Uint8Array;
  appMetadata?: Uint8Array;
}

/** A named valid upload. */
export interface Seed {
  name: string;
  messages: FdParts[];
}

export function encodeParts(m: FdParts): Uint8Array {
  return flightData(m);
}

function withDescriptor(msgs: { header: Uint8Array; body: Uint8Array }[], d: Uint8Array): FdParts[] {
  return msgs.map((m, i) => ({ descriptor: i === 0 ? d : undefined, header: m.header, body: m.body }));
}

function opaqueTable(rows: (Uint8Array | null)[]): Table {
  return new Table({
    version: vectorFromArray(rows.map(() => 0n), new Uint64()),
    data: vectorFromArray(rows, new Binary()),
  });
}

/** A native table with dictionary, list, struct, nulls, tagged for flame-cache. */
export function nativeTable(): Table {
  const t = new Table({
    ints: vectorFromArray([1, 2, null, 4], new Int32()),
    strs: vectorFromArray(["x", "yy", null, "zzz"], new Utf8()),
    dict: vectorFromArray(["a", "b", "a", null], new Dictionary(new Utf8(), new Int32())),
    list: vectorFromArray([[1], [2, 3], [], null], new List(new Field("item", new Int32(), true))),
    st: vectorFromArray(
      [{ a: 1.5, b: "q" }, null, { a: 2, b: "r" }, { a: 3, b: null }],
      new Struct([new Field("a", new Float64(), true), new Field("b", new Utf8(), true)]),
    ),
  });
  t.schema.metadata.set("flame.cache.format", "arrow-table-v1");
  return t;
}

/** Messages of an IPC file written by pyarrow/Flame (schema message right after the magic). */
function fileMessages(path: string): { header: Uint8Array; body: Uint8Array }[] {
  return ipcMessages(Deno.readFileSync(path), 8);
}

/** The seeds: every upload shape the server accepts. */
export function uploadSeeds(): Seed[] {
  const d = (path: string) => descriptor({ type: 1, path: [path] });
  const payload = (n: number, salt: number) =>
    Uint8Array.from({ length: n }, (_, i) => (i * 31 + salt) & 0xff);
  const seeds: Seed[] = [
    {
      name: "opaque-1-row",
      messages: withDescriptor(
        ipcMessages(tableToIPC(opaqueTable([payload(100, 1)]), "stream")),
        d("fz/s/o1"),
      ),
    },
    {
      name: "opaque-rows-with-null",
      messages: withDescriptor(
        ipcMessages(
          tableToIPC(opaqueTable([payload(10, 2), null, payload(33, 3), new Uint8Array(0)]), "stream"),
        ),
        d("fz/s"),
      ),
    },
    {
      name: "patch-command",
      messages: withDescriptor(
        ipcMessages(tableToIPC(opaqueTable([payload(64, 4)]), "stream")),
        descriptor({ type: 2, cmd: enc.encode("PATCH:fz/s/o1") }),
      ),
    },
    {
      name: "native-dict-list-struct",
      messages: withDescriptor(ipcMessages(tableToIPC(nativeTable(), "stream")), d("fz/n/t1")),
    },
  ];
  // Two record batches in one stream.
  const a = ipcMessages(tableToIPC(opaqueTable([payload(20, 5)]), "stream"));
  const b = ipcMessages(tableToIPC(opaqueTable([payload(40, 6), payload(8, 7)]), "stream"));
  seeds.push({ name: "opaque-2-batches", messages: withDescriptor([a[0], a[1], b[1]], d("fz/s/o2")) });
  // Files written by Flame's Rust server / pyarrow (ZSTD bodies).
  for (const file of ["opaque-zstd.arrow", "native-zstd.arrow", "opaque-delta-zstd.arrow", "opaque.arrow"]) {
    try {
      seeds.push({
        name: `vector-${file}`,
        messages: withDescriptor(
          fileMessages(`${ROOT}tests/vectors/${file}`),
          d(`fz/v/${file.replace(".", "_")}`),
        ),
      });
    } catch { /* vector missing: fine */ }
  }
  return seeds;
}

/** Raw IPC streams and files (for readIpcStream / readIpcFile fuzzing). */
export function ipcSeeds(): { name: string; bytes: Uint8Array; kind: "stream" | "file" }[] {
  const out: { name: string; bytes: Uint8Array; kind: "stream" | "file" }[] = [
    {
      name: "opaque-stream",
      bytes: tableToIPC(opaqueTable([new Uint8Array(50).fill(9)]), "stream"),
      kind: "stream",
    },
    { name: "native-stream", bytes: tableToIPC(nativeTable(), "stream"), kind: "stream" },
  ];
  for (const file of ["opaque-zstd.arrow", "native-zstd.arrow", "opaque.arrow", "native.arrow"]) {
    try {
      out.push({ name: file, bytes: Deno.readFileSync(`${ROOT}tests/vectors/${file}`), kind: "file" });
    } catch { /* missing */ }
  }
  return out;
}

/**
 * The heap bomb: an opaque IPC stream (or file) with one 4000-byte row whose
 * record batch header's `nodes` vector claims `claim` entries. About 4.4 KB.
 */
export function heapBomb(kind: "stream" | "file", claim = 0x7fffffff): Uint8Array {
  const payload = Uint8Array.from({ length: 4000 }, (_, i) => i & 0xff);
  const bytes = tableToIPC(opaqueTable([payload]), kind).slice();
  const dv = new DataView(bytes.buffer);
  // The record batch is the last framed message with a positive length.
  let header = -1;
  for (let i = 0; i + 8 <= bytes.length; i++) {
    if (dv.getInt32(i, true) === -1 && dv.getInt32(i + 4, true) > 0) header = i + 8;
  }
  const message = fbTable(dv, header + dv.getUint32(header, true));
  if (bytes[message(1)] !== 3) throw new Error("heapBomb: last message is not a record batch");
  const ref = message(2);
  const batch = fbTable(dv, ref + dv.getUint32(ref, true));
  const nodesRef = batch(1);
  const nodes = nodesRef + dv.getUint32(nodesRef, true);
  if (dv.getUint32(nodes, true) !== 2) throw new Error("heapBomb: unexpected node count");
  dv.setUint32(nodes, claim, true);
  return bytes;
}

/** FlightData messages (encoded) of the heap bomb stream as a DoPut to `path`. */
export function heapBombUpload(path: string): Uint8Array[] {
  const msgs = ipcMessages(heapBomb("stream"));
  return withDescriptor(msgs, descriptor({ type: 1, path: [path] })).map(encodeParts);
}
