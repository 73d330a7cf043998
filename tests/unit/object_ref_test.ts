import assert from "node:assert/strict";
import { BSON, Long } from "bson";
import { decodeObjectRef, encodeObjectRef, type ObjectRef } from "../../src/flight/object_ref.ts";

const REFS: ObjectRef[] = [
  { endpoint: "grpc://127.0.0.1:9090", key: "app/ssn/obj", version: 1 },
  {
    endpoint: "grpc+tls://[::1]:443",
    key: "app/s/8c1b6c0e-7f0e-4c7b-9f0c-2e7c8c1b6c0e",
    version: 2 ** 40 + 7,
  },
  { endpoint: "", key: "アプリ/セッション/объект", version: Number.MAX_SAFE_INTEGER },
  { endpoint: "grpc://h:1", key: "a/b/c", version: 0 },
];

Deno.test("encodeObjectRef writes the same bytes as the bson package (int64 version, Flame's field order)", () => {
  for (const ref of REFS) {
    const expected = BSON.serialize({
      endpoint: ref.endpoint,
      key: ref.key,
      version: Long.fromNumber(ref.version),
    });
    assert.deepEqual(encodeObjectRef(ref), new Uint8Array(expected), JSON.stringify(ref));
    assert.deepEqual(decodeObjectRef(encodeObjectRef(ref)), ref);
  }
});
