/**
 * In-process fuzzing of the server's decoders with fast-check (property-based
 * and mutation fuzzing). Run as a child process by fuzz_decode_test.ts, with a
 * capped heap and a watchdog, so a hang or a heap blow-up fails the test
 * instead of hanging or killing the test runner.
 *
 * Usage: deno run -A fuzz_runner.ts [scale=1] [seed]
 * Prints one JSON line: { total, groups: {name: {runs, ok, codes, maxMs}}, failures, hwmBytes, ms }.
 *
 * Contract checked for every case: the function returns, or throws a CacheError
 * whose code is a client error (INVALID_ARGUMENT, RESOURCE_EXHAUSTED, NOT_FOUND,
 * UNIMPLEMENTED, UNAUTHENTICATED, ...), never INTERNAL/UNKNOWN and never another
 * exception type; the Arrow layer throws only IpcError. No case may take longer
 * than CASE_LIMIT_MS.
 *
 * @module
 */
import fc from "fast-check";
import { posix } from "node:path";
import { CacheError } from "../../src/errors.ts";
import {
  decodeAction,
  decodeBasicAuth,
  decodeBytesField,
  decodeDescriptor,
  decodeFlightData,
  decodeHandshakeRequest,
} from "../../src/flight/messages.ts";
import { readUpload } from "../../src/server/upload.ts";
import { parseTicket } from "../../src/flight/tickets.ts";
import { parseObjectKey, parsePutPath, parseSelector } from "../../src/flight/keys.ts";
import {
  dictionarySchema,
  IpcError,
  isOpaqueSchema,
  opaqueRows,
  parseMessage,
  readIpcFile,
  readIpcStream,
  type SchemaInfo,
  validateRecordBatch,
} from "../../src/arrow/mod.ts";
import { parseGrpcTimeout, RequestDecoder } from "../../src/grpc/mod.ts";
import { FrameReader } from "../../src/h2/reader.ts";
import { Authenticator } from "../../src/auth/auth.ts";
import { objectPaths } from "../../src/store/fs/_layout.ts";
import { concat, enc } from "./helpers.ts";
import { encodeParts, heapBomb, heapBombUpload, ipcSeeds, uploadSeeds } from "./ipc_seeds.ts";
import { byteMutation, keyString, mutateBytes, mutateUpload, protoish, uploadMutation } from "./mutators.ts";

const CLIENT_CODES = new Set([3, 4, 5, 6, 7, 8, 9, 11, 12, 16]);
const CASE_LIMIT_MS = 2_000;
const UPLOAD_LIMIT = 1024 * 1024; // small object limit: decompression bombs must hit it

const scale = Number(Deno.args[0] ?? 1);
const seed = Number(Deno.args[1] ?? Date.now() % 2 ** 31);

interface GroupStats {
  runs: number;
  ok: number;
  codes: Record<string, number>;
  maxMs: number;
}
const groups: Record<string, GroupStats> = {};
const failures: { group: string; error: string; input?: string }[] = [];

function hex(b: Uint8Array, max = 512): string {
  return Array.from(b.subarray(0, max), (x) => x.toString(16).padStart(2, "0")).join("") +
    (b.length > max ? `...(${b.length} bytes)` : "");
}

class ContractViolation extends Error {}

/** Classify an outcome; throws ContractViolation for anything outside the contract. */
function judge(group: string, err: unknown, ms: number, arrowOnly = false): void {
  const g = groups[group] ??= { runs: 0, ok: 0, codes: {}, maxMs: 0 };
  g.runs++;
  g.maxMs = Math.max(g.maxMs, ms);
  if (ms > CASE_LIMIT_MS) throw new ContractViolation(`case took ${ms.toFixed(0)} ms`);
  if (err === undefined) {
    g.ok++;
    return;
  }
  if (arrowOnly) {
    if (err instanceof IpcError) {
      g.codes["IpcError"] = (g.codes["IpcError"] ?? 0) + 1;
      return;
    }
    throw new ContractViolation(
      `threw ${(err as Error)?.constructor?.name}: ${(err as Error)?.stack ?? err}`,
    );
  }
  if (err instanceof CacheError) {
    g.codes[err.code] = (g.codes[err.code] ?? 0) + 1;
    if (!CLIENT_CODES.has(err.code)) {
      throw new ContractViolation(`CacheError with code ${err.code} (not a client error): ${err.message}`);
    }
    if (err.message.length === 0) throw new ContractViolation("CacheError without a message");
    return;
  }
  throw new ContractViolation(`threw ${(err as Error)?.constructor?.name}: ${(err as Error)?.stack ?? err}`);
}

function sync(group: string, f: () => void, arrowOnly = false): boolean {
  const t0 = performance.now();
  let err: unknown;
  try {
    f();
  } catch (e) {
    if (e instanceof ContractViolation) throw e;
    err = e;
  }
  judge(group, err, performance.now() - t0, arrowOnly);
  return true;
}

async function asyncCase(group: string, f: () => Promise<void>): Promise<boolean> {
  const t0 = performance.now();
  let err: unknown;
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      f(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new ContractViolation(`hang: no result after ${CASE_LIMIT_MS} ms`)),
          CASE_LIMIT_MS,
        );
      }),
    ]);
  } catch (e) {
    if (e instanceof ContractViolation) throw e;
    err = e;
  } finally {
    clearTimeout(timer);
  }
  judge(group, err, performance.now() - t0);
  return true;
}

function run<T>(group: string, arb: fc.Arbitrary<T>, pred: (t: T) => boolean, runs: number): void {
  const n = Math.max(1, Math.round(runs * scale));
  try {
    fc.assert(fc.property(arb, pred), { numRuns: n, seed, endOnFailure: true });
  } catch (err) {
    failures.push({ group, error: String((err as Error).message).slice(0, 4000) });
  }
}

async function runAsync<T>(
  group: string,
  arb: fc.Arbitrary<T>,
  pred: (t: T) => Promise<boolean>,
  runs: number,
): Promise<void> {
  const n = Math.max(1, Math.round(runs * scale));
  try {
    await fc.assert(fc.asyncProperty(arb, pred), { numRuns: n, seed, endOnFailure: true });
  } catch (err) {
    failures.push({ group, error: String((err as Error).message).slice(0, 4000) });
  }
}

// ------------------------------------------------------------------ arbitraries

async function* iterate(msgs: Uint8Array[]): AsyncGenerator<Uint8Array> {
  for (const m of msgs) yield m;
}

const uploadLimits = { maxObjectBytes: UPLOAD_LIMIT } as unknown as Parameters<typeof readUpload>[1];

// ------------------------------------------------------------------ the groups

const t0 = performance.now();
const seeds = uploadSeeds();

// 1. FlightData and the other request messages: arbitrary and protobuf-shaped bytes.
const anyBytes = fc.oneof(fc.uint8Array({ maxLength: 256 }), protoish);
run("decodeFlightData", anyBytes, (b) => sync("decodeFlightData", () => void decodeFlightData(b)), 15_000);
run("decodeDescriptor", anyBytes, (b) => sync("decodeDescriptor", () => void decodeDescriptor(b)), 4_000);
run("decodeAction", anyBytes, (b) => sync("decodeAction", () => void decodeAction(b)), 4_000);
run(
  "decodeTicketField",
  anyBytes,
  (b) => sync("decodeTicketField", () => void decodeBytesField(b, 1, "Ticket")),
  3_000,
);
run("decodeHandshake", anyBytes, (b) =>
  sync("decodeHandshake", () => {
    const h = decodeHandshakeRequest(b);
    decodeBasicAuth(h.payload);
  }), 3_000);

// 2. Tickets and keys.
const ticketBytes = fc.oneof(
  keyString.map((k) => enc.encode(k)),
  fc.tuple(
    keyString,
    fc.oneof(fc.string({ maxLength: 24 }), fc.bigInt({ min: -1n, max: 2n ** 70n }).map(String)),
  ).map((
    [k, v],
  ) => enc.encode(`${k}:${v}`)),
  fc.uint8Array({ maxLength: 64 }),
);
run("parseTicket", ticketBytes, (b) =>
  sync("parseTicket", () => {
    const t = parseTicket(b);
    if (!(t.version >= 0)) throw new ContractViolation(`negative/NaN version ${t.version}`);
  }), 10_000);

/** Invariants of an accepted key: safe as a path below the storage root. */
function checkAcceptedKey(key: string, parts: number[]): void {
  const segs = key.split("/");
  if (!parts.includes(segs.length)) {
    throw new ContractViolation(`accepted ${JSON.stringify(key)} with ${segs.length} parts`);
  }
  for (const s of segs) {
    // deno-lint-ignore no-control-regex
    if (s === "" || s === "." || s.includes("..") || /[\u0000-\u001f\u007f\\:]/.test(s)) {
      throw new ContractViolation(`accepted unsafe key ${JSON.stringify(key)}`);
    }
  }
  if (enc.encode(key).length > 1024) throw new ContractViolation("accepted a key over 1024 bytes");
}
run("parseObjectKey", keyString, (k) =>
  sync("parseObjectKey", () => {
    const key = parseObjectKey(k);
    checkAcceptedKey(key, [2, 3]);
    // An accepted key must map inside the storage root, or be refused by the engine.
    try {
      const p = objectPaths("/root", key);
      const norm = posix.normalize(p.base);
      if (!norm.startsWith("/root/") || norm !== p.base || posix.normalize(p.deltas) !== p.deltas) {
        throw new ContractViolation(`key ${JSON.stringify(key)} maps outside the root: ${p.base}`);
      }
    } catch (e) {
      if (e instanceof ContractViolation || !(e instanceof CacheError)) throw e;
    }
  }), 10_000);
run("parsePutPath", keyString, (k) =>
  sync("parsePutPath", () => {
    const t = parsePutPath(k);
    checkAcceptedKey(t.key ?? t.prefix, [1, 2, 3]);
  }), 8_000);
run("parseSelector", keyString, (k) =>
  sync("parseSelector", () => {
    const s = parseSelector(k);
    if (s.value.includes("..") || s.value === "") {
      throw new ContractViolation(`unsafe selector ${JSON.stringify(s)}`);
    }
  }), 8_000);

// 3. Metadata headers: authorization, grpc-timeout.
const auth = new Authenticator(
  {
    tokens: [{ token: "tok-secret", name: "admin" }],
    users: [{ username: "alice", password: "wonderland" }],
  } as ConstructorParameters<typeof Authenticator>[0],
);
const headerValue = fc.oneof(
  fc.string({ unit: "binary", maxLength: 80 }),
  fc.tuple(
    fc.constantFrom("Bearer", "bearer", "Basic", "basic", "Token", ""),
    fc.constantFrom(" ", "  ", "\t", ""),
    fc.string({ maxLength: 60 }),
  )
    .map(([a, b, c]) => a + b + c),
  fc.tuple(fc.string({ maxLength: 12 }), fc.string({ maxLength: 12 })).map(([u, p]) =>
    "Basic " + btoa(`${u}:${p}`)
  ),
);
run("authorization", headerValue, (h) =>
  sync("authorization", () => {
    let principal;
    try {
      principal = auth.authenticate(h);
    } catch (e) {
      if (e instanceof CacheError && e.code !== 16) throw new ContractViolation(`auth failed with ${e.code}`);
      throw e;
    }
    if (h.trim() !== "Bearer tok-secret" && !/^bearer\s+tok-secret\s*$/i.test(h)) {
      throw new ContractViolation(`authenticated with ${JSON.stringify(h)} as ${principal.name}`);
    }
  }), 3_000);
run("parseBasic", headerValue, (h) =>
  sync("parseBasic", () => {
    const r = Authenticator.parseBasic(h);
    if (r && typeof r.username !== "string") throw new ContractViolation("bad parse");
  }), 3_000);
run(
  "grpc-timeout",
  fc.oneof(
    fc.string({ maxLength: 12 }),
    fc.tuple(fc.nat(), fc.constantFrom("H", "M", "S", "m", "u", "n", "x", "")).map(([n, u]) => `${n}${u}`),
  ),
  (v) =>
    sync("grpc-timeout", () => {
      const ms = parseGrpcTimeout(v);
      if (ms !== undefined && !(Number.isFinite(ms) && ms >= 0)) throw new ContractViolation(`timeout ${ms}`);
    }),
  2_000,
);

// 4. gRPC framing: random chunking returns the same messages; oversize / compressed refused.
run(
  "MessageDecoder",
  fc.tuple(
    fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 6 }),
    fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 8 }),
    fc.constantFrom("ok", "oversize", "compressed", "truncated"),
  ),
  ([msgs, cuts, kind]) =>
    sync("MessageDecoder", () => {
      const framed = msgs.map((m, i) => {
        const f = new Uint8Array(5 + m.length);
        if (kind === "compressed" && i === msgs.length - 1) f[0] = 1;
        new DataView(f.buffer).setUint32(1, kind === "oversize" && i === msgs.length - 1 ? 1000 : m.length);
        f.set(m, 5);
        return f;
      });
      let all = concat(framed);
      if (kind === "truncated" && all.length) all = all.subarray(0, all.length - 1);
      const d = new RequestDecoder(400);
      const got: Uint8Array[] = [];
      let pos = 0;
      let c = 0;
      while (pos < all.length) {
        const n = cuts[c++ % cuts.length];
        for (const m of d.push(all.subarray(pos, pos + n))) {
          if (!(m instanceof Uint8Array)) throw new ContractViolation("small message delivered as a stream");
          got.push(m.slice());
        }
        pos += n;
      }
      if (kind === "ok") {
        if (got.length !== msgs.length || got.some((m, i) => hex(m) !== hex(msgs[i]))) {
          throw new ContractViolation("decoded messages differ from the sent ones");
        }
        if (d.partial) throw new ContractViolation("partial after whole messages");
      }
    }),
  3_000,
);

// 5. HTTP/2 frame reader: reassembles the same frames whatever the chunking.
const frameArb = fc.record({
  type: fc.oneof(fc.constant(0), fc.nat(10)),
  flags: fc.oneof(fc.constant(0), fc.nat(255)),
  stream: fc.nat(2 ** 31 - 1),
  payload: fc.uint8Array({ maxLength: 40 }),
});
run(
  "FrameReader",
  fc.tuple(
    fc.array(frameArb, { maxLength: 10 }),
    fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 6 }),
  ),
  ([frames, cuts]) =>
    sync("FrameReader", () => {
      const preface = enc.encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
      const enc9 = (f: typeof frames[number]) => {
        const h = new Uint8Array(9 + f.payload.length);
        h[0] = f.payload.length >> 16;
        h[1] = (f.payload.length >> 8) & 0xff;
        h[2] = f.payload.length & 0xff;
        h[3] = f.type;
        h[4] = f.flags;
        new DataView(h.buffer).setUint32(5, f.stream);
        h.set(f.payload, 9);
        return h;
      };
      // A padded DATA frame whose padding exceeds it is refused: leave those out here.
      const valid = frames.filter((f) =>
        !(f.type === 0 && f.flags & 0x8) || (f.payload.length > 0 && f.payload[0] < f.payload.length)
      );
      const input = concat([preface, ...valid.map(enc9)]);
      const seen: string[] = [];
      let data: Uint8Array[] = [];
      const reader = new FrameReader({
        onFrame: (type, flags, id, payload) => seen.push(`${type} ${flags} ${id} ${hex(payload, 100)}`),
        onDataStart: () => (data = []),
        onData: (_id, piece) => void data.push(piece.slice()),
        onDataEnd: (id, flags) => seen.push(`0 ${flags} ${id} ${hex(concat(data), 100)}`),
      }, 1 << 20);
      let pos = 0;
      let c = 0;
      while (pos < input.length) {
        const n = cuts[c++ % cuts.length];
        reader.push(input.subarray(pos, pos + n));
        pos += n;
      }
      const expected = valid.map((f) => {
        let body = f.payload;
        if (f.type === 0 && f.flags & 0x8) body = body.subarray(1, body.length - body[0]);
        return `${f.type} ${f.flags} ${f.stream & 0x7fffffff} ${hex(body, 100)}`;
      });
      if (seen.join("\n") !== expected.join("\n")) throw new ContractViolation("frames changed");
    }),
  2_000,
);

// 6. IPC headers: arbitrary bytes and mutated valid headers, then batch checks against the body.
const ipcHeaders: { header: Uint8Array; body: Uint8Array; schema: SchemaInfo }[] = [];
for (const s of seeds) {
  let schema: SchemaInfo | undefined;
  for (const m of s.messages) {
    if (!m.header) continue;
    const msg = parseMessage(m.header);
    if (msg.kind === "schema") schema = msg.schema;
    ipcHeaders.push({ header: m.header, body: m.body ?? new Uint8Array(0), schema: schema! });
  }
}
run(
  "parseMessage-random",
  fc.uint8Array({ maxLength: 300 }),
  (b) => sync("parseMessage-random", () => void parseMessage(b), true),
  5_000,
);
run(
  "ipc-mutated",
  fc.tuple(
    fc.nat(ipcHeaders.length - 1),
    fc.array(byteMutation, { minLength: 1, maxLength: 5 }),
    fc.array(byteMutation, { maxLength: 4 }),
    fc.boolean(),
  ),
  ([i, hm, bm, aligned]) =>
    sync("ipc-mutated", () => {
      const seed = ipcHeaders[i];
      const header = mutateBytes(seed.header, hm, aligned);
      const body = mutateBytes(seed.body, bm, aligned);
      const msg = parseMessage(header);
      if (msg.kind === "schema" || !seed.schema) return;
      const schema = msg.kind === "dictionaryBatch" ? dictionarySchema(seed.schema, msg.id) : seed.schema;
      validateRecordBatch(schema, msg.batch, body);
      if (msg.kind === "recordBatch" && isOpaqueSchema(schema)) {
        const rows = opaqueRows(schema, msg.batch, body, UPLOAD_LIMIT);
        let total = 0;
        for (const r of rows) total += r.length;
        if (msg.batch.compression === "none" && total > body.length) {
          throw new ContractViolation(`rows of ${total} bytes from a ${body.length}-byte body`);
        }
      }
    }, true),
  20_000,
);

// 7. Whole IPC streams and files (the fs engine reads files back with these).
const files = ipcSeeds();
files.push({ name: "heap-bomb-stream", bytes: heapBomb("stream"), kind: "stream" });
files.push({ name: "heap-bomb-file", bytes: heapBomb("file"), kind: "file" });
run(
  "ipc-files",
  fc.tuple(fc.nat(files.length - 1), fc.array(byteMutation, { minLength: 0, maxLength: 5 }), fc.boolean()),
  ([i, muts, aligned]) =>
    sync("ipc-files", () => {
      const f = files[i];
      const bytes = mutateBytes(f.bytes, muts, aligned);
      if (f.kind === "file") readIpcFile(bytes);
      else readIpcStream(bytes);
    }, true),
  6_000,
);

// 8. Whole uploads (readUpload): structural + byte mutations of every seed.
await runAsync(
  "readUpload",
  fc.nat(seeds.length - 1).chain((i) =>
    fc.tuple(
      fc.constant(i),
      fc.array(uploadMutation(seeds[i].messages.length), { minLength: 1, maxLength: 4 }),
    )
  ),
  ([i, muts]) =>
    asyncCase(
      "readUpload",
      async () => void await readUpload(iterate(mutateUpload(seeds[i], muts)), uploadLimits),
    ),
  25_000,
);
// Random message sequences (no seed at all).
await runAsync(
  "readUpload-random",
  fc.array(fc.oneof(fc.uint8Array({ maxLength: 200 }), protoish), { maxLength: 5 }),
  (msgs) => asyncCase("readUpload-random", async () => void await readUpload(iterate(msgs), uploadLimits)),
  5_000,
);
// The unmutated seeds must be accepted (else the mutation fuzzing tests nothing).
for (const s of seeds) {
  try {
    await readUpload(iterate(s.messages.map(encodeParts)), uploadLimits);
    judge("seeds", undefined, 0);
  } catch (err) {
    failures.push({ group: "seeds", error: `seed ${s.name} rejected: ${(err as Error).message}` });
  }
}
// The heap bomb must be refused by the IPC checks, as INVALID_ARGUMENT.
try {
  await readUpload(iterate(heapBombUpload("fz/s/bomb")), uploadLimits);
  failures.push({ group: "heap-bomb", error: "the heap bomb upload was accepted" });
} catch (err) {
  if (!(err instanceof CacheError) || err.code !== 3) {
    failures.push({ group: "heap-bomb", error: `heap bomb: ${(err as Error)?.stack ?? err}` });
  } else judge("heap-bomb", err, 0);
}

const total = Object.values(groups).reduce((n, g) => n + g.runs, 0);
console.log(JSON.stringify({
  total,
  seed,
  groups,
  failures,
  hwmBytes: Number(/VmHWM:\s+(\d+)/.exec(Deno.readTextFileSync("/proc/self/status"))![1]) * 1024,
  ms: Math.round(performance.now() - t0),
}));
