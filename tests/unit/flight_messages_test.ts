/** Flight protobuf messages (src/flight/messages.ts, protobuf.ts). */
import assert from "node:assert/strict";
import { concat } from "../../src/bytes.ts";
import { CacheError } from "../../src/errors.ts";
import { fields, ProtoWriter } from "../../src/flight/protobuf.ts";
import { decodeFlightData, encodeFlightDataPrefix, flightDataSize } from "../../src/flight/messages.ts";

Deno.test("protobuf: FlightData round trip, body stays a view; malformed input rejected", () => {
  const header = new Uint8Array([1, 2, 3]);
  const body = new Uint8Array(300).fill(5);
  const prefix = encodeFlightDataPrefix(header, body.length);
  const msg = concat([prefix, body]);
  assert.equal(msg.length, flightDataSize(header.length, body.length));
  const fd = decodeFlightData(msg);
  assert.deepEqual(fd.dataHeader, header);
  assert.deepEqual(fd.dataBody, body);
  assert.equal(fd.dataBody.buffer, msg.buffer, "body is a view");

  const w = new ProtoWriter().varint(-1).finish();
  assert.equal(w.length, 10, "negative int64 takes 10 bytes");
  for (const bad of [[0x12, 0x05, 1], [0x80], [0x0b], [0x12, 0xff, 0xff, 0xff, 0xff, 0x0f]]) {
    assert.throws(
      () => [...fields(new Uint8Array(bad), "test")],
      (e) => e instanceof CacheError && e.code === 3,
    );
  }
});
