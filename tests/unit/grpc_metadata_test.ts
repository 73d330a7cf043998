/** gRPC metadata formats (src/grpc/metadata.ts): grpc-message and grpc-timeout. */
import assert from "node:assert/strict";
import {
  decodeGrpcMessage,
  encodeGrpcMessage,
  formatGrpcTimeout,
  parseGrpcTimeout,
} from "../../src/grpc/metadata.ts";

Deno.test("grpc-message percent-encoding and grpc-timeout parsing", () => {
  assert.equal(encodeGrpcMessage("object a/b not found"), "object a/b not found");
  assert.equal(encodeGrpcMessage("100% é\n"), "100%25 %C3%A9%0A");
  assert.equal(parseGrpcTimeout("100m"), 100);
  assert.equal(parseGrpcTimeout("2S"), 2000);
  assert.equal(parseGrpcTimeout("1H"), 3_600_000);
  assert.equal(parseGrpcTimeout("bogus"), undefined);
  assert.equal(parseGrpcTimeout(undefined), undefined);
});

Deno.test("grpc-message decoding inverts the encoding; grpc-timeout formatting round-trips", () => {
  for (const text of ["plain", "100% é\n", "日本語"]) {
    assert.equal(decodeGrpcMessage(encodeGrpcMessage(text)), text);
  }
  assert.equal(decodeGrpcMessage("bad %zz escape %4"), "bad %zz escape %4");
  assert.equal(parseGrpcTimeout(formatGrpcTimeout(1500)), 1500);
  assert.equal(formatGrpcTimeout(2e9), "2000000S");
});
