/**
 * Client reply decoding: the server's own reply builder feeds the client's
 * whole-message reader (ReplyReader) and the streaming reader (streamReply)
 * through the gRPC frame decoder, cut into random chunk sizes. Also legacy and
 * ZSTD replies from Flame's Rust server (test vectors) and malformed input.
 */
import assert from "node:assert/strict";
import { tableFromArrays, tableFromIPC, tableToIPC } from "apache-arrow";
import { buildReply, type FlightDataParts } from "../../src/server/replies.ts";
import type { StoredObject } from "../../src/store/types.ts";
import { encodeFlightDataPrefix } from "../../src/flight/messages.ts";
import {
  encodeReadRow,
  NATIVE_FORMAT,
  NATIVE_FORMAT_KEY,
  NATIVE_VERSION_KEY,
  READ_SCHEMA_HEADER,
  readIpcFile,
  readIpcStream,
  withSchemaMetadata,
} from "../../src/arrow/mod.ts";
import { type MessageEvent, messagePrefix, replyDecoder } from "../../src/grpc/mod.ts";
import { decodeFlightDataReply } from "../../src/client/flight.ts";
import { classifyRows, type GetReply, nativeIpcStream, ReplyReader } from "../../src/client/reply.ts";
import { streamReply } from "../../src/client/stream_reply.ts";
import { CacheClientError } from "../../src/client/errors.ts";

const enc = new TextEncoder();
const VECTORS = new URL("../vectors/", import.meta.url);

/** A deterministic pseudo-random generator (xorshift). */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 32;
  };
}

function pattern(n: number, seed = 7): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

/** The gRPC byte stream of some FlightData messages. */
function wire(messages: FlightDataParts[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const m of messages) {
    const bytes = m.map((p) => {
      if (!(p instanceof Uint8Array)) throw new Error("in-memory objects only");
      return p;
    });
    parts.push(messagePrefix(bytes.reduce((n, p) => n + p.length, 0)), ...bytes);
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** Decode a byte stream into frame events, cutting it at random places. */
function events(bytes: Uint8Array, streamAbove: number, seed: number, maxChunk = 70_000): MessageEvent[] {
  const d = replyDecoder(2 ** 31, streamAbove);
  const next = rng(seed);
  const out: MessageEvent[] = [];
  let pos = 0;
  while (pos < bytes.length) {
    const n = 1 + Math.floor(next() * maxChunk);
    out.push(...d.push(bytes.subarray(pos, pos + n)));
    pos += n;
  }
  assert.equal(d.partial, false);
  return out;
}

async function* iter(list: MessageEvent[]): AsyncGenerator<MessageEvent> {
  for (const e of list) yield e;
}

function readWhole(messages: FlightDataParts[]): GetReply {
  const r = new ReplyReader();
  for (const e of events(wire(messages), Infinity, 3)) {
    assert.equal(e.type, "message");
    if (e.type === "message") r.push(decodeFlightDataReply(e.data));
  }
  return r.finish();
}

async function streamTo(messages: FlightDataParts[], streamAbove: number, seed: number) {
  const chunks: Uint8Array[] = [];
  const progress: [number, number | undefined][] = [];
  const result = await streamReply(
    iter(events(wire(messages), streamAbove, seed)),
    { write: (d) => Promise.resolve(void chunks.push(d.slice())) },
    { onProgress: (b, t) => progress.push([b, t]) },
  );
  const data = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let off = 0;
  for (const c of chunks) {
    data.set(c, off);
    off += c.length;
  }
  return { result, data, progress };
}

function opaque(base: Uint8Array, baseVersion: number, deltas: [number, string][] = []): StoredObject {
  return {
    key: "app/s/o",
    baseVersion,
    body: { type: "opaque", data: base },
    deltas: deltas.map(([version, d]) => ({ version, data: enc.encode(d) })),
  };
}

Deno.test("ReplyReader: full, patch-only and not-modified replies from the server's builder", () => {
  const obj = opaque(enc.encode("base"), 2, [[3, "+a"], [4, "+b"]]);
  const full = readWhole(buildReply(obj, 0).messages);
  assert.equal(full.kind, "full");
  if (full.kind === "full") {
    assert.equal(full.version, 4);
    assert.equal(new TextDecoder().decode(full.base), "base");
    assert.deepEqual(full.patches.map((p) => [p.version, new TextDecoder().decode(p.data)]), [[3, "+a"], [
      4,
      "+b",
    ]]);
  }
  const patches = readWhole(buildReply(obj, 3).messages);
  assert.equal(patches.kind, "patches");
  if (patches.kind === "patches") {
    assert.equal(patches.version, 4);
    assert.deepEqual(patches.patches.map((p) => p.version), [4]);
  }
  assert.equal(readWhole(buildReply(obj, 4).messages).kind, "not-modified");
  // Client older than the base: full again.
  assert.equal(readWhole(buildReply(obj, 1).messages).kind, "full");
});

Deno.test("classifyRows: flamepy's ordering rules", () => {
  const row = (version: number, kind: "base" | "patch") => ({ version, kind, data: new Uint8Array(0) });
  assert.equal(classifyRows([]).kind, "not-modified");
  assert.throws(() => classifyRows([row(3, "patch"), row(2, "base")]), /base row/);
  assert.throws(() => classifyRows([row(1, "base"), row(3, "patch"), row(3, "patch")]), /increasing/);
  const r = classifyRows([row(5, "base")]);
  assert.equal(r.kind === "full" && r.version, 5);
});

Deno.test("streamReply: large base streamed in random chunks equals the payload", async () => {
  const data = pattern(3 * 1024 * 1024 + 13);
  const msgs = buildReply(opaque(data, 7), 0).messages;
  for (const [streamAbove, seed] of [[1024 * 1024, 1], [0, 2], [Infinity, 3], [64, 4]]) {
    const { result, data: got, progress } = await streamTo(msgs, streamAbove, seed);
    assert.deepEqual(result, { kind: "opaque", version: 7, bytes: data.length });
    assert.equal(got.length, data.length);
    assert.ok(got.every((b, i) => b === data[i]), `payload equal (streamAbove ${streamAbove})`);
    assert.equal(progress.at(-1)![0], data.length);
    assert.equal(progress.at(-1)![1], data.length);
  }
});

Deno.test("streamReply: empty objects and objects with patches", async () => {
  const empty = await streamTo(buildReply(opaque(new Uint8Array(0), 1), 0).messages, 0, 5);
  assert.equal(empty.result.bytes, 0);
  const patched = buildReply(opaque(pattern(2 << 20), 2, [[3, "x"]]), 0).messages;
  for (const streamAbove of [0, Infinity]) {
    await assert.rejects(
      () => streamTo(patched, streamAbove, 6),
      (err: unknown) => err instanceof CacheClientError && err.codeName === "FAILED_PRECONDITION",
    );
  }
});

function nativeObject(): { obj: StoredObject; rows: number } {
  const table = tableFromArrays({ id: Int32Array.from([1, 2, 3, 4]), x: Float64Array.from([1, 2, 3, 4]) });
  const stream = readIpcStream(tableToIPC(table, "stream"));
  const schemaHeader = withSchemaMetadata(stream.schemaHeader, {
    [NATIVE_FORMAT_KEY]: NATIVE_FORMAT,
    [NATIVE_VERSION_KEY]: "5",
  });
  return {
    rows: table.numRows,
    obj: {
      key: "app/s/t",
      baseVersion: 5,
      body: {
        type: "native",
        schemaHeader,
        messages: stream.messages.map((m) => ({ header: m.header, body: m.body, isDictionary: false })),
        rows: table.numRows,
      },
      deltas: [],
    },
  };
}

Deno.test("native replies: whole-message reader and streamed IPC stream agree", async () => {
  const { obj, rows } = nativeObject();
  const reply = readWhole(buildReply(obj, 0).messages);
  assert.equal(reply.kind, "native");
  if (reply.kind !== "native") return;
  assert.equal(reply.version, 5);
  const table = tableFromIPC(nativeIpcStream(reply));
  assert.equal(table.numRows, rows);
  assert.deepEqual([...table.getChild("id")!], [1, 2, 3, 4]);
  for (const streamAbove of [0, Infinity]) {
    const s = await streamTo(buildReply(obj, 0).messages, streamAbove, 9);
    assert.equal(s.result.kind, "native");
    assert.equal(s.result.version, 5);
    const t = tableFromIPC(s.data);
    assert.deepEqual([...t.getChild("x")!], [1, 2, 3, 4]);
    assert.equal(t.schema.metadata.get(NATIVE_FORMAT_KEY), NATIVE_FORMAT);
  }
});

/** FlightData messages of an IPC file (as a server that stores files would send them). */
function fileMessages(name: string): FlightDataParts[] {
  const file = readIpcFile(Deno.readFileSync(new URL(name, VECTORS)));
  const msgs: FlightDataParts[] = [[encodeFlightDataPrefix(file.schemaHeader, 0)]];
  for (const m of file.messages) msgs.push([encodeFlightDataPrefix(m.header, m.body.length), m.body]);
  return msgs;
}

Deno.test("legacy {version, data} ZSTD replies (Flame's Rust server files) decode", async () => {
  const manifest = JSON.parse(Deno.readTextFileSync(new URL("ipc-manifest.json", VECTORS)));
  const expected = Uint8Array.from(atob(manifest["opaque-zstd.arrow"].data_b64), (c) => c.charCodeAt(0));
  const msgs = fileMessages("opaque-zstd.arrow");
  const reply = readWhole(msgs);
  assert.equal(reply.kind, "full");
  if (reply.kind === "full") {
    assert.equal(reply.version, 3);
    assert.deepEqual(reply.base, expected);
  }
  for (const streamAbove of [0, Infinity]) {
    const s = await streamTo(msgs, streamAbove, 11);
    assert.deepEqual(s.data, expected);
    assert.equal(s.result.version, 3);
  }
  const native = readWhole(fileMessages("native-zstd.arrow"));
  assert.equal(native.kind, "native");
  if (native.kind === "native") {
    const t = tableFromIPC(nativeIpcStream(native));
    assert.equal(t.numRows, 12);
    assert.equal(native.version, 2);
  }
});

Deno.test("malformed replies are INTERNAL errors, never crashes", async () => {
  // A row whose data offsets claim more bytes than the body holds.
  const row = encodeReadRow(1, "base", 4);
  const prefix = row.bodyPrefix.slice();
  new DataView(prefix.buffer).setInt32(28, 4096, true);
  const bad: FlightDataParts[] = [
    [encodeFlightDataPrefix(READ_SCHEMA_HEADER, 0)],
    [encodeFlightDataPrefix(row.header, row.bodyLength), prefix, enc.encode("abcd"), new Uint8Array(4)],
  ];
  assert.throws(
    () => readWhole(bad),
    (e: unknown) => e instanceof CacheClientError && e.codeName === "INTERNAL",
  );
  for (const streamAbove of [0, Infinity]) {
    await assert.rejects(
      () => streamTo(bad, streamAbove, 12),
      (e: unknown) => e instanceof CacheClientError && e.codeName === "INTERNAL",
    );
  }
  // Batches before the schema; garbage headers.
  assert.throws(() => readWhole([bad[1]]), CacheClientError);
  assert.throws(
    () => readWhole([[encodeFlightDataPrefix(pattern(64), 0)]]),
    (e: unknown) => e instanceof CacheClientError && e.codeName === "INTERNAL",
  );
  // A stream cut inside a message leaves the decoder partial.
  const d = replyDecoder(2 ** 31, 0);
  d.push(wire(bad).subarray(0, 40));
  assert.equal(d.partial, true);
});
