/**
 * fast-check arbitraries and mutators shared by the in-process fuzzer and the
 * over-the-wire fuzz test: byte mutations with "interesting" int32/int64
 * values (lying lengths and offsets), structural mutations of uploads, hostile
 * keys, protobuf-shaped garbage.
 *
 * @module
 */
import fc from "fast-check";
import { concat, enc, varint } from "./helpers.ts";
import { encodeParts, type FdParts, type Seed } from "./ipc_seeds.ts";

export const INTERESTING_32 = [
  0,
  1,
  2,
  4,
  7,
  8,
  0x7f,
  0x80,
  0xff,
  0x100,
  0x7fff,
  0x8000,
  0xffff,
  0x7fffffff,
  0x80000000,
  0xffffffff,
];
export const INTERESTING_64 = [
  0n,
  1n,
  8n,
  0xffffffffn,
  0x7fffffffn,
  0x80000000n,
  2n ** 53n,
  2n ** 53n + 1n,
  2n ** 62n,
  2n ** 63n - 1n,
  -1n,
  -(2n ** 63n),
];

/** One mutation of a byte array. */
export type ByteMutation =
  | { k: "flip"; at: number; bit: number }
  | { k: "set"; at: number; v: number }
  | { k: "i32"; at: number; v: number }
  | { k: "i64"; at: number; v: bigint }
  | { k: "truncate"; at: number }
  | { k: "insert"; at: number; bytes: Uint8Array }
  | { k: "delete"; at: number; n: number }
  | { k: "dup"; at: number; n: number };

export const byteMutation: fc.Arbitrary<ByteMutation> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ k: fc.constant("flip" as const), at: fc.nat(), bit: fc.nat(7) }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant("set" as const), at: fc.nat(), v: fc.nat(255) }) },
  {
    weight: 4,
    arbitrary: fc.record({
      k: fc.constant("i32" as const),
      at: fc.nat(),
      v: fc.oneof(fc.constantFrom(...INTERESTING_32), fc.nat()),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      k: fc.constant("i64" as const),
      at: fc.nat(),
      v: fc.oneof(fc.constantFrom(...INTERESTING_64), fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n })),
    }),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constant("truncate" as const), at: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({
      k: fc.constant("insert" as const),
      at: fc.nat(),
      bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      k: fc.constant("delete" as const),
      at: fc.nat(),
      n: fc.integer({ min: 1, max: 16 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      k: fc.constant("dup" as const),
      at: fc.nat(),
      n: fc.integer({ min: 1, max: 64 }),
    }),
  },
);

export function mutateBytes(src: Uint8Array, muts: ByteMutation[], aligned: boolean): Uint8Array {
  let b = src.slice();
  for (const m of muts) {
    if (b.length === 0 && m.k !== "insert") continue;
    const at = b.length ? m.at % b.length : 0;
    switch (m.k) {
      case "flip":
        b[at] ^= 1 << m.bit;
        break;
      case "set":
        b[at] = m.v;
        break;
      case "i32": {
        const p = aligned ? at - (at % 4) : at;
        if (p + 4 <= b.length) new DataView(b.buffer).setUint32(p, m.v >>> 0, true);
        break;
      }
      case "i64": {
        const p = aligned ? at - (at % 8) : at;
        if (p + 8 <= b.length) new DataView(b.buffer).setBigInt64(p, BigInt.asIntN(64, m.v), true);
        break;
      }
      case "truncate":
        b = b.slice(0, at);
        break;
      case "insert":
        b = concat([b.subarray(0, at), m.bytes, b.subarray(at)]);
        break;
      case "delete":
        b = concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + m.n))]);
        break;
      case "dup":
        b = concat([b.subarray(0, at), b.subarray(at, at + m.n), b.subarray(at)]);
        break;
    }
  }
  return b;
}

/** Structural mutation of an upload (message list). */
export type UploadMutation =
  | { k: "header"; msg: number; muts: ByteMutation[]; aligned: boolean }
  | { k: "body"; msg: number; muts: ByteMutation[]; aligned: boolean }
  | { k: "raw"; msg: number; muts: ByteMutation[] }
  | { k: "drop"; msg: number }
  | { k: "dupMsg"; msg: number }
  | { k: "swap"; a: number; b: number }
  | { k: "swapBody"; a: number; b: number }
  | { k: "emptyMsg"; msg: number }
  | { k: "descriptor"; bytes: Uint8Array }
  | { k: "path"; path: string }
  | { k: "cmd"; cmd: string }
  | { k: "appMetadata"; msg: number; bytes: Uint8Array };

export const KEY_ATOMS = [
  "fz",
  "s",
  "o",
  "",
  ".",
  "..",
  "...",
  "*",
  ":",
  "a:b",
  "\\",
  "\u0000",
  "\n",
  "\u007f",
  "é",
  "😀",
  "%2e%2e",
  ".trash",
  ".quarantine",
  "o.deltas",
  "0",
  "x".repeat(256),
  "y".repeat(1100),
];

export const keyString: fc.Arbitrary<string> = fc.oneof(
  fc.array(fc.oneof(fc.constantFrom(...KEY_ATOMS), fc.string({ unit: "binary", maxLength: 6 })), {
    maxLength: 5,
  }).chain((parts) =>
    fc.constantFrom("/", "//", "\\", ":").map((sep) =>
      parts.join(sep === "/" || sep === "//" ? "/" : sep) + (sep === "//" ? "/" : "")
    )
  ),
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.string({ maxLength: 20 }),
);

export const uploadMutation = (nMsgs: number): fc.Arbitrary<UploadMutation> => {
  const msg = fc.nat(nMsgs);
  return fc.oneof(
    {
      weight: 8,
      arbitrary: fc.record({
        k: fc.constant("header" as const),
        msg,
        muts: fc.array(byteMutation, { minLength: 1, maxLength: 4 }),
        aligned: fc.boolean(),
      }),
    },
    {
      weight: 5,
      arbitrary: fc.record({
        k: fc.constant("body" as const),
        msg,
        muts: fc.array(byteMutation, { minLength: 1, maxLength: 4 }),
        aligned: fc.boolean(),
      }),
    },
    {
      weight: 3,
      arbitrary: fc.record({
        k: fc.constant("raw" as const),
        msg,
        muts: fc.array(byteMutation, { minLength: 1, maxLength: 3 }),
      }),
    },
    { weight: 1, arbitrary: fc.record({ k: fc.constant("drop" as const), msg }) },
    { weight: 1, arbitrary: fc.record({ k: fc.constant("dupMsg" as const), msg }) },
    { weight: 1, arbitrary: fc.record({ k: fc.constant("swap" as const), a: msg, b: msg }) },
    { weight: 1, arbitrary: fc.record({ k: fc.constant("swapBody" as const), a: msg, b: msg }) },
    { weight: 1, arbitrary: fc.record({ k: fc.constant("emptyMsg" as const), msg }) },
    {
      weight: 1,
      arbitrary: fc.record({
        k: fc.constant("descriptor" as const),
        bytes: fc.uint8Array({ maxLength: 40 }),
      }),
    },
    { weight: 2, arbitrary: fc.record({ k: fc.constant("path" as const), path: keyString }) },
    {
      weight: 2,
      arbitrary: fc.record({
        k: fc.constant("cmd" as const),
        cmd: fc.oneof(keyString.map((k) => `PATCH:${k}`), keyString),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        k: fc.constant("appMetadata" as const),
        msg,
        bytes: fc.uint8Array({ maxLength: 32 }),
      }),
    },
  );
};

/** Apply structural mutations; returns encoded FlightData messages. */
export function mutateUpload(seed: Seed, muts: UploadMutation[]): Uint8Array[] {
  let msgs: FdParts[] = seed.messages.map((m) => ({ ...m }));
  const raw = new Map<number, ByteMutation[]>();
  const idx = (i: number) => (msgs.length ? i % msgs.length : 0);
  for (const m of muts) {
    if (msgs.length === 0) break;
    switch (m.k) {
      case "header": {
        const t = msgs[idx(m.msg)];
        t.header = mutateBytes(t.header ?? new Uint8Array(0), m.muts, m.aligned);
        break;
      }
      case "body": {
        const t = msgs[idx(m.msg)];
        t.body = mutateBytes(t.body ?? new Uint8Array(0), m.muts, m.aligned);
        break;
      }
      case "raw":
        raw.set(idx(m.msg), m.muts);
        break;
      case "drop":
        msgs.splice(idx(m.msg), 1);
        break;
      case "dupMsg":
        msgs.splice(idx(m.msg), 0, { ...msgs[idx(m.msg)] });
        break;
      case "swap": {
        const [a, b] = [idx(m.a), idx(m.b)];
        [msgs[a], msgs[b]] = [msgs[b], msgs[a]];
        break;
      }
      case "swapBody": {
        const [a, b] = [idx(m.a), idx(m.b)];
        [msgs[a].body, msgs[b].body] = [msgs[b].body, msgs[a].body];
        break;
      }
      case "emptyMsg":
        msgs.splice(idx(m.msg), 0, {});
        break;
      case "descriptor":
        msgs[0].descriptor = m.bytes;
        break;
      case "path":
        msgs[0].descriptor = concat([new Uint8Array([8, 1]), pb(3, enc.encode(m.path))]);
        break;
      case "cmd":
        msgs[0].descriptor = concat([new Uint8Array([8, 2]), pb(2, enc.encode(m.cmd))]);
        break;
      case "appMetadata":
        msgs[idx(m.msg)].appMetadata = m.bytes;
        break;
    }
  }
  msgs = msgs.slice(0, 64);
  return msgs.map((m, i) => {
    const bytes = encodeParts(m);
    const r = raw.get(i);
    return r ? mutateBytes(bytes, r, false) : bytes;
  });
}

export function pb(field: number, bytes: Uint8Array): Uint8Array {
  return concat([new Uint8Array([...varint(field * 8 + 2), ...varint(bytes.length)]), bytes]);
}

/** Random protobuf-ish messages: valid tags with lying lengths, unknown fields, bad wire types. */
export const protoish: fc.Arbitrary<Uint8Array> = fc.array(
  fc.oneof(
    fc.record({
      f: fc.constantFrom(1, 2, 3, 4, 5, 1000, 0, 536870911),
      w: fc.constantFrom(0, 1, 2, 3, 4, 5, 6, 7),
      len: fc.oneof(fc.nat(64), fc.constantFrom(2 ** 31, 2 ** 32 - 1, 2 ** 53, 2 ** 63)),
      body: fc.uint8Array({ maxLength: 48 }),
    }).map(({ f, w, len, body }) =>
      w === 2
        ? new Uint8Array([...varint(f * 8 + w), ...varint(len), ...body])
        : new Uint8Array([...varint(f * 8 + w), ...body.subarray(0, 10)])
    ),
    fc.uint8Array({ maxLength: 12 }),
    fc.constant(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])),
  ),
  { maxLength: 8 },
).map(concat);
