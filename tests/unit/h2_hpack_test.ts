/**
 * HPACK (src/h2/hpack.ts, huffman.ts): the RFC 7541 Appendix C
 * examples byte for byte, the Huffman table against rows of RFC 7541
 * Appendix B, 300 header blocks written by an independent encoder (Python
 * hpack, tests/vectors/hpack_huffman.json) decoded in sequence with one
 * decoder, round trips of every byte value, and hostile header blocks that
 * must fail with HpackError only, and quickly.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { HpackDecoder, HpackEncoder, HpackError, HpackHeaderListTooLarge } from "../../src/h2/hpack.ts";
import {
  HUFFMAN_CODES,
  HUFFMAN_LENGTHS,
  huffmanDecode,
  huffmanEncode,
  huffmanLength,
  huffmanMaxDecoded,
} from "../../src/h2/huffman.ts";

const hex = (s: string) =>
  new Uint8Array((s.replace(/\s+/g, "").match(/../g) ?? []).map((b) => parseInt(b, 16)));
const toHex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
const latin1 = (b: Uint8Array) => String.fromCharCode(...b);
const bytesOf = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));

/** Huffman-code `text` with our encoder. */
function huffman(text: string): Uint8Array {
  const out = new Uint8Array(huffmanLength(text));
  assert.equal(huffmanEncode(text, out, 0), out.length);
  return out;
}

/** Decode a whole Huffman string, or null if it is malformed. */
function unhuffman(bytes: Uint8Array): string | null {
  const out = new Uint8Array(huffmanMaxDecoded(bytes.length));
  const n = huffmanDecode(bytes, 0, bytes.length, out);
  return n < 0 ? null : latin1(out.subarray(0, n));
}

// --- RFC 7541 Appendix C -------------------------------------------------------------------------------

Deno.test("hpack: RFC 7541 C.1 integer representation", () => {
  // C.1.1 (10) and C.1.2 (1337) in a 5-bit prefix, read as table size updates; the limit shows the value.
  assert.throws(() => new HpackDecoder(9).decode(hex("2a")), /size update to 10,/);
  assert.deepEqual(new HpackDecoder(10).decode(hex("2a")), []);
  assert.throws(() => new HpackDecoder(1336).decode(hex("3f9a0a")), /size update to 1337,/);
  assert.deepEqual(new HpackDecoder(1337).decode(hex("3f9a0a")), []);
  // C.1.3 has an 8-bit prefix, which no representation uses; 42 in a 7-bit prefix is static entry 42.
  assert.deepEqual(new HpackDecoder().decode(hex("aa")), [["if-range", ""]]);
});

Deno.test("hpack: RFC 7541 C.2 single fields (literal indexed, without indexing, never indexed, indexed)", () => {
  // C.2.1: literal with indexing adds custom-key: custom-header (size 55) to the table.
  const d = new HpackDecoder();
  assert.deepEqual(d.decode(hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572")), [
    ["custom-key", "custom-header"],
  ]);
  assert.deepEqual(d.decode(hex("be")), [["custom-key", "custom-header"]]); // it is entry 62 now
  assert.throws(() => d.decode(hex("bf")), /index 63 is past the table/);

  // C.2.2: literal without indexing, indexed name; the table stays empty.
  const d2 = new HpackDecoder();
  assert.deepEqual(d2.decode(hex("040c 2f73 616d 706c 652f 7061 7468")), [[":path", "/sample/path"]]);
  assert.throws(() => d2.decode(hex("be")), HpackError);

  // C.2.3: literal never indexed, new name; the table stays empty.
  const d3 = new HpackDecoder();
  assert.deepEqual(d3.decode(hex("1008 7061 7373 776f 7264 0673 6563 7265 74")), [["password", "secret"]]);
  assert.throws(() => d3.decode(hex("be")), HpackError);

  // C.2.4: indexed field from the static table.
  assert.deepEqual(new HpackDecoder().decode(hex("82")), [[":method", "GET"]]);
});

const C3_C4_LISTS: [string, string][][] = [
  [[":method", "GET"], [":scheme", "http"], [":path", "/"], [":authority", "www.example.com"]],
  [
    [":method", "GET"],
    [":scheme", "http"],
    [":path", "/"],
    [":authority", "www.example.com"],
    ["cache-control", "no-cache"],
  ],
  [
    [":method", "GET"],
    [":scheme", "https"],
    [":path", "/index.html"],
    [":authority", "www.example.com"],
    ["custom-key", "custom-value"],
  ],
];

Deno.test("hpack: RFC 7541 C.3 requests without Huffman, dynamic table across three blocks", () => {
  const d = new HpackDecoder();
  assert.deepEqual(d.decode(hex("8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d")), C3_C4_LISTS[0]);
  assert.deepEqual(d.decode(hex("8286 84be 5808 6e6f 2d63 6163 6865")), C3_C4_LISTS[1]);
  assert.deepEqual(
    d.decode(hex("8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65")),
    C3_C4_LISTS[2],
  );
  // The table is now [62] custom-key, [63] cache-control, [64] :authority (size 164).
  assert.deepEqual(d.decode(hex("bebfc0")), [
    ["custom-key", "custom-value"],
    ["cache-control", "no-cache"],
    [":authority", "www.example.com"],
  ]);
  assert.throws(() => d.decode(hex("c1")), /index 65 is past the table/);
});

Deno.test("hpack: RFC 7541 C.4 requests with Huffman, dynamic table across three blocks", () => {
  const d = new HpackDecoder();
  assert.deepEqual(d.decode(hex("8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff")), C3_C4_LISTS[0]);
  assert.deepEqual(d.decode(hex("8286 84be 5886 a8eb 1064 9cbf")), C3_C4_LISTS[1]);
  assert.deepEqual(
    d.decode(hex("8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf")),
    C3_C4_LISTS[2],
  );
  assert.deepEqual(d.decode(hex("bebfc0")).map(([n]) => n), ["custom-key", "cache-control", ":authority"]);
});

const C5_C6_LISTS: [string, string][][] = [
  [
    [":status", "302"],
    ["cache-control", "private"],
    ["date", "Mon, 21 Oct 2013 20:13:21 GMT"],
    ["location", "https://www.example.com"],
  ],
  [
    [":status", "307"],
    ["cache-control", "private"],
    ["date", "Mon, 21 Oct 2013 20:13:21 GMT"],
    ["location", "https://www.example.com"],
  ],
  [
    [":status", "200"],
    ["cache-control", "private"],
    ["date", "Mon, 21 Oct 2013 20:13:22 GMT"],
    ["location", "https://www.example.com"],
    ["content-encoding", "gzip"],
    ["set-cookie", "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1"],
  ],
];

/** After C.5.3 / C.6.3 the table holds exactly these three (size 215); older ones were evicted. */
function assertC5FinalTable(d: HpackDecoder) {
  assert.deepEqual(d.decode(hex("bebfc0")), [
    ["set-cookie", "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1"],
    ["content-encoding", "gzip"],
    ["date", "Mon, 21 Oct 2013 20:13:22 GMT"],
  ]);
  assert.throws(() => d.decode(hex("c1")), /index 65 is past the table/);
}

Deno.test("hpack: RFC 7541 C.5 responses without Huffman, eviction at table size 256", () => {
  const d = new HpackDecoder(256);
  assert.deepEqual(
    d.decode(hex(
      `4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133
       2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70
       6c65 2e63 6f6d`,
    )),
    C5_C6_LISTS[0],
  );
  assert.deepEqual(d.decode(hex("4803 3330 37c1 c0bf")), C5_C6_LISTS[1]);
  assert.deepEqual(
    d.decode(hex(
      `88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d
       54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049
       5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e
       3d31`,
    )),
    C5_C6_LISTS[2],
  );
  assertC5FinalTable(d);
});

Deno.test("hpack: RFC 7541 C.6 responses with Huffman, eviction at table size 256", () => {
  const d = new HpackDecoder(256);
  assert.deepEqual(
    d.decode(hex(
      `4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
       2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3`,
    )),
    C5_C6_LISTS[0],
  );
  assert.deepEqual(d.decode(hex("4883 640e ffc1 c0bf")), C5_C6_LISTS[1]);
  assert.deepEqual(
    d.decode(hex(
      `88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab
       77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f
       9587 3160 65c0 03ed 4ee5 b106 3d50 07`,
    )),
    C5_C6_LISTS[2],
  );
  assertC5FinalTable(d);
});

// --- Huffman ------------------------------------------------------------------------------------------

Deno.test("huffman: codes match rows of RFC 7541 Appendix B, and the RFC's example strings", () => {
  // [symbol, code as hex, length] as printed in Appendix B.
  const rows: [number, number, number][] = [
    [0, 0x1ff8, 13],
    [1, 0x7fffd8, 23],
    [9, 0xffffea, 24],
    [10, 0x3ffffffc, 30],
    [22, 0x3ffffffe, 30],
    [32, 0x14, 6], // ' '
    [47, 0x18, 6], // '/'
    [48, 0x0, 5], // '0'
    [60, 0x7ffc, 15], // '<'
    [92, 0x7fff0, 19], // '\'
    [97, 0x3, 5], // 'a'
    [122, 0x7b, 7], // 'z'
    [127, 0xffffffc, 28],
    [128, 0xfffe6, 20],
    [153, 0x1fffdc, 21],
    [199, 0x1ffffec, 25],
    [203, 0x7ffffde, 27],
    [220, 0xffffffd, 28],
    [254, 0x7fffff0, 27],
    [255, 0x3ffffee, 26],
    [256, 0x3fffffff, 30], // EOS
  ];
  for (const [sym, code, len] of rows) {
    assert.equal(HUFFMAN_CODES[sym], code, `code of ${sym}`);
    assert.equal(HUFFMAN_LENGTHS[sym], len, `length of ${sym}`);
  }
  // A complete prefix code: the Kraft sum of all 257 codes is exactly 1.
  assert.equal(Array.from(HUFFMAN_LENGTHS).reduce((s, l) => s + 2 ** -l, 0), 1);
  // Strings of RFC 7541 C.4 and C.6, both ways.
  for (
    const [text, coded] of [
      ["www.example.com", "f1e3 c2e5 f23a 6ba0 ab90 f4ff"],
      ["no-cache", "a8eb 1064 9cbf"],
      ["custom-key", "25a8 49e9 5ba9 7d7f"],
      ["custom-value", "25a8 49e9 5bb8 e8b4 bf"],
      ["302", "6402"],
      ["307", "640e ff"],
      ["private", "aec3 771a 4b"],
      ["Mon, 21 Oct 2013 20:13:21 GMT", "d07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff"],
      ["https://www.example.com", "9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3"],
      ["gzip", "9bd9 ab"],
      [
        "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
        "94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07",
      ],
    ]
  ) {
    assert.equal(toHex(huffman(text)), toHex(hex(coded)), text);
    assert.equal(unhuffman(hex(coded)), text);
  }
});

Deno.test("huffman: every byte value, alone and in runs, and long random strings round-trip", () => {
  for (let b = 0; b < 256; b++) {
    const one = String.fromCharCode(b);
    assert.equal(unhuffman(huffman(one)), one, `byte ${b}`);
    assert.equal(huffman(one).length, Math.ceil(HUFFMAN_LENGTHS[b] / 8));
    const run = one.repeat(1 + (b % 17));
    assert.equal(unhuffman(huffman(run)), run);
  }
  const all = Array.from({ length: 256 }, (_, i) => String.fromCharCode(i)).join("");
  assert.equal(unhuffman(huffman(all)), all);
  assert.equal(unhuffman(huffman(all.split("").reverse().join(""))), all.split("").reverse().join(""));
  assert.equal(unhuffman(new Uint8Array(0)), "");
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 3000 }), (bytes) => {
      const text = latin1(bytes);
      assert.equal(unhuffman(huffman(text)), text);
    }),
    { numRuns: 300 },
  );
  // Char codes above 255 are taken modulo 256, the same in length and in bytes.
  assert.equal(unhuffman(huffman("\u0141a")), "\u0041a");
});

Deno.test("huffman: EOS inside a string and bad padding are refused", () => {
  assert.equal(unhuffman(hex("1f")), "a"); // 00011 + 111 padding
  assert.equal(unhuffman(hex("18")), null); // 'a' padded with zeros
  assert.equal(unhuffman(hex("1c")), null); // padding 100: not all ones
  assert.equal(unhuffman(hex("1fff")), null); // 'a' then 11 bits of ones: padding longer than 7 bits
  assert.equal(unhuffman(hex("ff")), null); // 8 bits of padding, nothing else
  assert.equal(unhuffman(hex("fe")), null); // a prefix of a longer code, not all ones
  assert.equal(unhuffman(hex("ffffffff")), null); // EOS (30 ones) + 2 ones
  assert.equal(unhuffman(hex("ffffffff1f")), null); // EOS then more
  assert.equal(unhuffman(hex("1fffffffff")), null); // 'a' then EOS
  // Every code of 8+ bits cut at a byte boundary is an incomplete code, never "padding".
  for (let b = 0; b < 256; b++) {
    if (HUFFMAN_LENGTHS[b] < 9) continue;
    const full = huffman(String.fromCharCode(b));
    assert.equal(unhuffman(full.subarray(0, 1)), null, `prefix of ${b}`);
  }
});

// --- Independent encoder: Python hpack -----------------------------------------------------------------

Deno.test("hpack: 300 blocks written by Python hpack decode in sequence with one decoder", async () => {
  const doc = JSON.parse(
    await Deno.readTextFile(new URL("../vectors/hpack_huffman.json", import.meta.url)),
  ) as {
    decoder_max_table_size: number;
    blocks: { hex: string; huffman: boolean; headers: [string, string][] }[];
  };
  assert.equal(doc.blocks.length, 300);
  assert.ok(doc.blocks.filter((b) => b.huffman).length > 200);
  const d = new HpackDecoder(doc.decoder_max_table_size, 1 << 20);
  let fields = 0;
  doc.blocks.forEach((block, i) => {
    assert.deepEqual(d.decode(hex(block.hex)), block.headers, `block ${i}`);
    fields += block.headers.length;
  });
  assert.ok(fields > 1000, `${fields} fields`);
  // Every byte value appears in some value.
  const seen = new Set<number>();
  for (const b of doc.blocks) for (const [, v] of b.headers) for (const c of v) seen.add(c.charCodeAt(0));
  assert.equal(seen.size, 256);
});

// --- Encoder ------------------------------------------------------------------------------------------

Deno.test("hpack: encoder picks static indexes, indexed names and Huffman only where shorter", () => {
  const e = new HpackEncoder();
  assert.equal(toHex(e.encode([[":status", "200"]])), "88");
  assert.equal(toHex(e.encode([[":method", "POST"], [":path", "/"]])), "8384");
  // content-type is static name 31: 4-bit prefix 15, then 16; value Huffman-coded.
  const ct = e.encode([["content-type", "application/grpc"]]);
  assert.equal(toHex(ct.subarray(0, 3)), "0f108b");
  assert.equal(unhuffman(ct.subarray(3)), "application/grpc");
  // A new name: literal without indexing (0x00), name and value Huffman-coded.
  const gs = e.encode([["grpc-status", "0"]]);
  assert.equal(gs[0], 0x00);
  assert.equal(gs[1], 0x80 | huffmanLength("grpc-status"));
  // "0" takes one byte either way, so it stays raw.
  assert.equal(toHex(gs.subarray(-2)), "0130");
  // A value whose Huffman form is longer stays raw.
  const raw = "\x00\x01\xff";
  const rb = e.encode([["x", raw]]);
  assert.equal(toHex(rb.subarray(-4)), "0300" + "01ff");
  // Long strings: multi-byte length prefixes.
  const long = "x".repeat(300);
  assert.deepEqual(new HpackDecoder().decode(e.encode([["x-long", long]])), [["x-long", long]]);
  // The empty list is the empty block.
  assert.equal(e.encode([]).length, 0);
});

Deno.test("hpack: encoder output decodes back, for every byte value, Huffman or not", () => {
  const encoder = new HpackEncoder();
  const decoder = new HpackDecoder(4096, 1 << 20);
  const all = Array.from({ length: 256 }, (_, i) => String.fromCharCode(i)).join("");
  const lists: [string, string][][] = [
    [[":status", "200"], ["content-type", "application/grpc"]],
    [["grpc-status", "0"]],
    [["grpc-status", "3"], ["grpc-message", "Invalid key %22app%2Fs%22"]],
    [["x-all-bytes", all], ["x-lower", "abcdefghijklmnopqrstuvwxyz0123456789"], ["x-empty", ""]],
    // Memo keys must not collide whatever the values hold.
    [["a", "b\0c\0d"]],
    [["a", "b"], ["c", "d"]],
    [["a", "1:b"]],
    [["a1", ":b"]],
  ];
  for (let round = 0; round < 2; round++) { // the second round is served from the memo
    for (const list of lists) assert.deepEqual(decoder.decode(encoder.encode(list)), list);
  }
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.stringMatching(/^[a-z:][a-z0-9-]{0,20}$/), fc.string({ unit: "binary-ascii" })), {
        maxLength: 8,
      }),
      (list) => {
        assert.deepEqual(decoder.decode(encoder.encode(list)), list);
      },
    ),
    { numRuns: 500 },
  );
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.constantFrom(":status", "content-type", "x-v"), fc.uint8Array())),
      (raw) => {
        const list = raw.map(([n, v]): [string, string] => [n, latin1(v)]);
        assert.deepEqual(decoder.decode(encoder.encode(list)), list);
      },
    ),
    { numRuns: 300 },
  );
  // Common gRPC reply headers are short: static-table indexes and Huffman values.
  assert.ok(encoder.encode([[":status", "200"], ["content-type", "application/grpc"]]).length <= 16);
});

// --- Dynamic table ------------------------------------------------------------------------------------

/** A literal with incremental indexing and a new name, raw strings. */
const indexed = (name: string, value: string) => [0x40, ...str(name), ...str(value)];
function str(s: string): number[] {
  const out: number[] = [];
  let n = s.length;
  if (n < 127) out.push(n);
  else {
    out.push(127);
    n -= 127;
    while (n >= 128) {
      out.push((n % 128) | 0x80);
      n = Math.floor(n / 128);
    }
    out.push(n);
  }
  return [...out, ...bytesOf(s)];
}

Deno.test("hpack: dynamic table size updates and eviction", () => {
  const d = new HpackDecoder(4096);
  d.decode(new Uint8Array([...indexed("a", "1"), ...indexed("b", "2"), ...indexed("c", "3")]));
  assert.deepEqual(d.decode(hex("bebfc0")), [["c", "3"], ["b", "2"], ["a", "1"]]);
  // Down to 68 bytes: two entries of 34 stay (the newest), then back up to 4096.
  assert.deepEqual(d.decode(hex("3f25 be bf")), [["c", "3"], ["b", "2"]]);
  const d2 = new HpackDecoder(4096);
  d2.decode(new Uint8Array([...indexed("a", "1"), ...indexed("b", "2"), ...indexed("c", "3")]));
  d2.decode(hex("3f25"));
  assert.throws(() => d2.decode(hex("c0")), /past the table/);
  // Two updates at the start of one block are allowed (lowest, then final); to 0 empties the table.
  const d3 = new HpackDecoder(4096);
  d3.decode(new Uint8Array(indexed("a", "1")));
  assert.deepEqual(d3.decode(new Uint8Array([0x20, 0x3f, 0xe1, 0x1f, ...indexed("z", "9"), 0xbe])), [
    ["z", "9"],
    ["z", "9"],
  ]);
  assert.throws(() => d3.decode(hex("bf")), /past the table/);
  // An entry larger than the whole table empties it and is not added.
  const d4 = new HpackDecoder(100);
  d4.decode(new Uint8Array(indexed("a", "1")));
  assert.deepEqual(d4.decode(new Uint8Array(indexed("big", "v".repeat(70)))), [["big", "v".repeat(70)]]);
  assert.throws(() => d4.decode(hex("be")), /past the table/);
  // Exactly the table size fits.
  const d5 = new HpackDecoder(100);
  d5.decode(new Uint8Array(indexed("big", "v".repeat(65))));
  assert.deepEqual(d5.decode(hex("be")), [["big", "v".repeat(65)]]);
  // Table size 0: nothing is ever stored, fields still decode.
  const d6 = new HpackDecoder(0);
  assert.deepEqual(d6.decode(new Uint8Array(indexed("a", "1"))), [["a", "1"]]);
  assert.throws(() => d6.decode(hex("be")), /past the table/);
  // Many more entries than the table holds: the ring wraps, the newest stay in order.
  const d7 = new HpackDecoder(200); // 5 entries of 40 bytes
  for (let i = 0; i < 1000; i++) d7.decode(new Uint8Array(indexed("k", `v${String(i).padStart(6, "0")}`)));
  assert.deepEqual(d7.decode(hex("bebfc0c1c2")).map(([, v]) => v), [
    "v000999",
    "v000998",
    "v000997",
    "v000996",
    "v000995",
  ]);
  assert.throws(() => d7.decode(hex("c3")), /past the table/);
});

// --- Hostile input ------------------------------------------------------------------------------------

Deno.test("hpack: hostile blocks fail with HpackError", () => {
  const bad: [string, string, RegExp][] = [
    ["index 0", "80", /index 0/],
    ["index past the static table, empty dynamic table", "be", /index 62 is past/],
    ["index past both tables", "ff00", /past the table/],
    ["index far past the tables", "ffffffff07", /past the table/],
    ["literal name index past the tables", "7f0001 61", /past the table/],
    ["truncated integer", "ff", /truncated integer/],
    ["truncated integer continuation", "ff80", /truncated integer/],
    ["integer above 2^31-1", "ffffffffff0f", /integer too large/],
    ["huge integer", "ffffffffffffffff7f", /integer too large/],
    ["too many continuation bytes", "ff8080808080808000", /too many continuation bytes/],
    ["integer of exactly 6 continuation bytes", "ff808080808000", /index 127 is past/],
    ["string length 2^31-1 past the block", "007f80ffffff07", /past the end of the block/],
    ["string length 2^31", "007f81ffffff07", /integer too large/],
    ["string past the block", "0085616263", /past the end of the block/],
    ["value missing", "0001 61", /truncated header block/],
    ["name missing", "40", /truncated header block/],
    ["value length missing after an indexed name", "41", /truncated header block/],
    ["size update above the limit", "3fe21f", /above our limit/],
    ["size update after a field", "8220", /after a header field/],
    ["size update after a literal field", "0001610162 3f00", /after a header field/],
    ["Huffman EOS inside a string", "0084ffffffff", /invalid Huffman/],
    ["Huffman padding of 8+ bits", "00 82 1fff", /invalid Huffman/],
    ["Huffman padding not all ones", "00 81 18", /invalid Huffman/],
    ["Huffman value with bad padding", "01 81 1c", /invalid Huffman/],
  ];
  for (const [name, block, message] of bad) {
    assert.throws(() => new HpackDecoder().decode(hex(block)), (err) => {
      assert.ok(err instanceof HpackError, `${name}: ${err}`);
      assert.match(err.message, message, name);
      return true;
    });
  }
});

Deno.test("hpack: header lists over the limit fail, also when built from small indexed fields", () => {
  const tooLarge = (err: unknown) => err instanceof HpackHeaderListTooLarge && err instanceof HpackError;
  const big = new HpackEncoder().encode([["x", "y".repeat(2000)]]);
  assert.throws(
    () => new HpackDecoder(4096, 1024).decode(big),
    /header list of 2033 bytes, larger than 1024/,
  );
  assert.equal(new HpackDecoder(4096, 2033).decode(big).length, 1); // 1 + 2000 + 32: exactly the limit
  assert.throws(() => new HpackDecoder(4096, 2032).decode(big), tooLarge);
  // One 4000-byte entry referenced by 1-byte fields: 64 KiB is reached after 16 of them.
  const d = new HpackDecoder();
  d.decode(new Uint8Array(indexed("k", "v".repeat(4000))));
  assert.equal(d.decode(new Uint8Array(16).fill(0xbe)).length, 16);
  assert.throws(() => d.decode(new Uint8Array(17).fill(0xbe)), tooLarge);
  const t0 = performance.now();
  assert.throws(() => d.decode(new Uint8Array(1 << 20).fill(0xbe)), tooLarge);
  assert.ok(performance.now() - t0 < 1000);
  // Many empty fields: 32 bytes each count too.
  assert.throws(() => new HpackDecoder(4096, 320).decode(new Uint8Array(11).fill(0x81)), tooLarge);
});

Deno.test("hpack: after a header list over the limit the table is still in step (the stream alone can be refused)", () => {
  const d = new HpackDecoder(4096, 200);
  // Over the limit at the second field; the third and fourth are still added to the table.
  const block = [...indexed("a", "x".repeat(100)), ...indexed("b", "y".repeat(100)), ...indexed("c", "3")];
  assert.throws(() => d.decode(new Uint8Array([...block, ...indexed("d", "4")])), HpackHeaderListTooLarge);
  assert.deepEqual(d.decode(hex("bebf")), [["d", "4"], ["c", "3"]]);
  assert.equal(d.decode(hex("c0"))[0][0], "b");
  assert.equal(d.decode(hex("c1"))[0][0], "a");
  // A malformation after the limit was passed is still a plain HpackError (connection error).
  assert.throws(
    () => new HpackDecoder(4096, 200).decode(new Uint8Array([...block, 0x80])),
    (err) => err instanceof HpackError && !(err instanceof HpackHeaderListTooLarge),
  );
});

Deno.test("hpack: every truncation of a valid block decodes a prefix or fails with HpackError", () => {
  const blocks = [
    "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
    `4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
     2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3`,
    toHex(new HpackEncoder().encode([["x-long-name-here", "é".repeat(300)], ["grpc-status", "0"]])),
  ];
  for (const text of blocks) {
    const block = hex(text);
    const full = new HpackDecoder().decode(block);
    for (let n = 0; n < block.length; n++) {
      try {
        const got = new HpackDecoder().decode(block.subarray(0, n));
        assert.deepEqual(got, full.slice(0, got.length), `prefix ${n}`);
        assert.ok(got.length < full.length);
      } catch (err) {
        assert.ok(err instanceof HpackError, `prefix ${n}: ${err}`);
      }
    }
  }
});

Deno.test("hpack: random and mutated blocks only ever throw HpackError, and never hang", () => {
  const check = (block: Uint8Array, d = new HpackDecoder(4096, 16 * 1024)) => {
    try {
      d.decode(block);
    } catch (err) {
      if (!(err instanceof HpackError)) throw new Error(`${toHex(block)}: ${err}`);
    }
  };
  const t0 = performance.now();
  // 10,000 blocks of random bytes.
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (block) => check(block)), { numRuns: 10_000 });
  // Random blocks made of plausible pieces (field prefixes, lengths, Huffman bytes).
  const piece = fc.oneof(
    fc.constantFrom(0x00, 0x10, 0x40, 0x3f, 0x7f, 0x80, 0xbe, 0xff, 0x20, 0x9f),
    fc.integer({ min: 0, max: 255 }),
  );
  fc.assert(
    fc.property(fc.array(piece, { maxLength: 400 }), (bytes) => check(new Uint8Array(bytes))),
    { numRuns: 3000 },
  );
  // Bit flips of the Python vectors, fed to a decoder that has seen the blocks before them.
  const doc = JSON.parse(
    Deno.readTextFileSync(new URL("../vectors/hpack_huffman.json", import.meta.url)),
  ) as { blocks: { hex: string }[] };
  const blocks = doc.blocks.map((b) => hex(b.hex));
  let seed = 1;
  const rnd = (n: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed % n;
  };
  for (let i = 0; i < blocks.length; i++) {
    const block = blocks[i];
    if (block.length > 0) {
      for (let k = 0; k < 5; k++) {
        const mutated = block.slice();
        for (let f = 1 + rnd(3); f > 0; f--) mutated[rnd(mutated.length)] ^= 1 << rnd(8);
        // A copy of the connection's decoder state: replay the blocks before this one.
        if (k === 0 && i % 30 === 0) {
          const d = new HpackDecoder(4096, 1 << 20);
          for (let j = 0; j < i; j++) d.decode(blocks[j]);
          check(mutated, d);
        } else check(mutated);
      }
    }
  }
  // A large random block is linear.
  const large = new Uint8Array(4 << 20);
  for (let i = 0; i < large.length; i++) large[i] = rnd(256);
  check(large, new HpackDecoder(4096, 1 << 30));
  // Large valid content: a 1 MiB Huffman string (larger than the kept scratch buffer).
  const huge = "abc/0".repeat(200_000) + "\u00ff";
  assert.deepEqual(new HpackDecoder(4096, 1 << 22).decode(new HpackEncoder().encode([["x", huge]])), [
    ["x", huge],
  ]);
  console.log(`hostile input: ${(performance.now() - t0).toFixed(0)} ms`);
});

// --- Cost ---------------------------------------------------------------------------------------------

Deno.test("hpack: a typical gRPC request block decodes within 25 µs, Huffman-coded or plain", () => {
  const list: [string, string][] = [
    [":method", "POST"],
    [":scheme", "http"],
    [":path", "/arrow.flight.protocol.FlightService/DoGet"],
    [":authority", "127.0.0.1:9090"],
    ["content-type", "application/grpc"],
    ["te", "trailers"],
    ["grpc-accept-encoding", "identity, deflate, gzip"],
    ["user-agent", "grpc-c++/1.71.0 grpc-c/46.0.0 (linux; chttp2)"],
    ["grpc-timeout", "29999m"],
    ["x-request-id", "0f8e2c1a-3b4d-4e5f-8a9b-0c1d2e3f4a5b"],
  ];
  // As our encoder writes it: literals without indexing, Huffman-coded (a client's first request
  // looks much the same, with indexing; later requests are mostly 1-byte indexed fields).
  const request = new HpackEncoder().encode(list);
  const decoder = new HpackDecoder();
  assert.deepEqual(decoder.decode(request), list);
  // The same fields as plain literals (no Huffman, no indexing): the copy-only baseline.
  const enc = new TextEncoder();
  const plain = new Uint8Array(list.flatMap(([n, v]) => {
    const [nb, vb] = [enc.encode(n), enc.encode(v)];
    return [0, nb.length, ...nb, vb.length, ...vb];
  }));
  assert.deepEqual(decoder.decode(plain), list);
  const time = (block: Uint8Array) => {
    const n = 2_000;
    const t0 = performance.now();
    for (let i = 0; i < n; i++) decoder.decode(block);
    return ((performance.now() - t0) * 1000) / n;
  };
  for (let i = 0; i < 5_000; i++) decoder.decode(request), decoder.decode(plain);
  // Best of 50 short interleaved rounds: on a busy machine some rounds still run undisturbed.
  let huffman = Infinity;
  let copy = Infinity;
  for (let r = 0; r < 50; r++) {
    huffman = Math.min(huffman, time(request));
    copy = Math.min(copy, time(plain));
  }
  console.log(
    `hpack decode: ${
      huffman.toFixed(2)
    } µs per ${request.length}-byte Huffman block of ${list.length} fields, ` +
      `${copy.toFixed(2)} µs for the same fields as ${plain.length} bytes of plain literals`,
  );
  // Idle: 2.4 µs Huffman, 3.8 µs plain (5.1 µs before the nibble-table decoder); 4-7 µs at a load average
  // of 11-25 on the 2-core dev VM. 25 µs is a budget a decoder gone quadratic or bit-by-bit exceeds; the
  // Huffman/plain ratio itself proved too noisy under load to assert.
  assert.ok(huffman < 25, `${huffman.toFixed(2)} µs per Huffman block (budget 25 µs)`);
  assert.ok(copy < 25, `${copy.toFixed(2)} µs per plain block (budget 25 µs)`);
});
