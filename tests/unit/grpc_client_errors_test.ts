/** The client's typed errors (src/grpc/client_errors.ts) and grpc-message decoding, through the SDK. */
import assert from "node:assert/strict";
import {
  CacheClientError,
  decodeGrpcMessage,
  errorFromStatus,
  NotFoundError,
  PermissionDeniedError,
  UnauthenticatedError,
  UnavailableError,
} from "../../src/client/mod.ts";
import { encodeGrpcMessage } from "../../src/grpc/metadata.ts";

Deno.test("errors: typed subclasses, names, percent-decoded messages", () => {
  const e = errorFromStatus(5, "object a/b/c not found");
  assert.ok(e instanceof NotFoundError && e instanceof CacheClientError);
  assert.equal(e.code, 5);
  assert.equal(e.codeName, "NOT_FOUND");
  assert.ok(errorFromStatus(16, "") instanceof UnauthenticatedError);
  assert.ok(errorFromStatus(7, "") instanceof PermissionDeniedError);
  assert.ok(errorFromStatus(14, "") instanceof UnavailableError);
  const other = errorFromStatus(13, "boom");
  assert.equal(other.constructor, CacheClientError);
  assert.equal(other.codeName, "INTERNAL");
  for (const text of ["plain", "50% done", "clé: 'ü' ✓", "line\nbreak", "%zz"]) {
    assert.equal(decodeGrpcMessage(encodeGrpcMessage(text)), text);
  }
  assert.equal(decodeGrpcMessage("bad %zz escape %4"), "bad %zz escape %4");
});
