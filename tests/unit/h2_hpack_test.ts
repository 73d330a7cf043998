/**
 * HPACK (src/transport/h2/hpack.ts): the RFC 7541 Appendix C examples byte for
 * byte, round trips of every byte value through Huffman coding, and hostile
 * header blocks that must fail with HpackError only.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { HpackDecoder, HpackEncoder, HpackError } from "../../src/transport/h2/hpack.ts";

const hex = (s: string) => new Uint8Array(s.replace(/\s+/g, "").match(/../g)!.map((b) => parseInt(b, 16)));

Deno.test("hpack: RFC 7541 C.3 requests without Huffman, dynamic table across blocks", () => {
  const d = new HpackDecoder();
  assert.deepEqual(d.decode(hex("828684410f7777772e6578616d706c652e636f6d")), [
    [":method", "GET"],
    [":scheme", "http"],
    [":path", "/"],
    [":authority", "www.example.com"],
  ]);
  assert.deepEqual(d.decode(hex("828684be58086e6f2d6361636865")), [
    [":method", "GET"],
    [":scheme", "http"],
    [":path", "/"],
    [":authority", "www.example.com"],
    ["cache-control", "no-cache"],
  ]);
  assert.deepEqual(d.decode(hex("828785bf400a637573746f6d2d6b65790c637573746f6d2d76616c7565")), [
    [":method", "GET"],
    [":scheme", "https"],
    [":path", "/index.html"],
    [":authority", "www.example.com"],
    ["custom-key", "custom-value"],
  ]);
});

Deno.test("hpack: RFC 7541 C.4 requests with Huffman", () => {
  const d = new HpackDecoder();
  assert.deepEqual(d.decode(hex("828684418cf1e3c2e5f23a6ba0ab90f4ff")), [
    [":method", "GET"],
    [":scheme", "http"],
    [":path", "/"],
    [":authority", "www.example.com"],
  ]);
  assert.deepEqual(d.decode(hex("828684be5886a8eb10649cbf")).at(-1), ["cache-control", "no-cache"]);
  assert.deepEqual(
    d.decode(hex("828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf")).at(-1),
    ["custom-key", "custom-value"],
  );
});

Deno.test("hpack: RFC 7541 C.6 responses with Huffman and eviction (table size 256)", () => {
  const d = new HpackDecoder(256);
  const first = d.decode(hex(
    "488264025885aec3771a4b6196d07abe941054d444a8200595040b8166e082a62d1bff6e919d29ad171863c78f0b97c8e9ae82ae43d3",
  ));
  assert.deepEqual(first, [
    [":status", "302"],
    ["cache-control", "private"],
    ["date", "Mon, 21 Oct 2013 20:13:21 GMT"],
    ["location", "https://www.example.com"],
  ]);
  assert.deepEqual(d.decode(hex("4883640effc1c0bf")), [
    [":status", "307"],
    ["cache-control", "private"],
    ["date", "Mon, 21 Oct 2013 20:13:21 GMT"],
    ["location", "https://www.example.com"],
  ]);
  const third = d.decode(hex(
    "88c16196d07abe941054d444a8200595040b8166e084a62d1bffc05a839bd9ab77ad94e7821dd7f2e6c7b335dfdfcd5b3960d5af27087f3672c1ab270fb5291f9587316065c003ed4ee5b1063d5007",
  ));
  assert.deepEqual(third, [
    [":status", "200"],
    ["cache-control", "private"],
    ["date", "Mon, 21 Oct 2013 20:13:22 GMT"],
    ["location", "https://www.example.com"],
    ["content-encoding", "gzip"],
    ["set-cookie", "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1"],
  ]);
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
  ];
  for (const list of lists) assert.deepEqual(decoder.decode(encoder.encode(list)), list);
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/), fc.string({ unit: "binary-ascii" })), {
        maxLength: 8,
      }),
      (list) => {
        assert.deepEqual(decoder.decode(encoder.encode(list)), list);
      },
    ),
    { numRuns: 500 },
  );
  // Common gRPC response headers are short: static-table indexes and Huffman values.
  assert.ok(encoder.encode([[":status", "200"], ["content-type", "application/grpc"]]).length <= 16);
});

Deno.test("hpack: hostile blocks fail with HpackError, never anything else", () => {
  const bad: [string, Uint8Array][] = [
    ["index 0", hex("80")],
    ["index past the tables", hex("ff00")],
    ["truncated integer", hex("ff")],
    ["huge integer", hex("ffffffffffffff7f")],
    ["string past the block", hex("0085616263")],
    ["size update above the limit", hex("3fe21f")],
    ["size update after a field", hex("8220")],
    ["Huffman EOS inside a string", hex("0083ffffff")],
    ["Huffman padding of 8+ bits", hex("0082a4ff")],
    ["Huffman padding not all ones", hex("0081a0")],
  ];
  for (const [name, block] of bad) {
    assert.throws(() => new HpackDecoder().decode(block), HpackError, name);
  }
  // A list over the limit.
  const big = new HpackEncoder().encode([["x", "y".repeat(2000)]]);
  assert.throws(() => new HpackDecoder(4096, 1024).decode(big), /header list larger/);
  // Random bytes: HpackError or a result, never another error, never a hang.
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (block) => {
      try {
        new HpackDecoder(4096, 16 * 1024).decode(block);
      } catch (err) {
        assert.ok(err instanceof HpackError, String(err));
      }
    }),
    { numRuns: 10_000 },
  );
});

Deno.test("hpack: decode cost of a typical gRPC request block (informative)", () => {
  const request = new HpackEncoder().encode([
    [":method", "POST"],
    [":scheme", "http"],
    [":path", "/arrow.flight.protocol.FlightService/DoGet"],
    [":authority", "127.0.0.1:9090"],
    ["content-type", "application/grpc"],
    ["te", "trailers"],
    ["grpc-accept-encoding", "identity, deflate, gzip"],
    ["user-agent", "grpc-c++/1.71.0 grpc-c/46.0.0 (linux; chttp2)"],
  ]);
  const decoder = new HpackDecoder();
  for (let i = 0; i < 2_000; i++) decoder.decode(request);
  const n = 20_000;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) decoder.decode(request);
  console.log(
    `hpack decode: ${((performance.now() - t0) * 1000 / n).toFixed(2)} µs per ${request.length}-byte block`,
  );
});
