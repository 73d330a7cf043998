/**
 * Health protobufs (hand-encoded, checked against @grpc/proto-loader's
 * serializers for proto/health.proto) and the HealthService state machine.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import * as protoLoader from "@grpc/proto-loader";
import {
  decodeHealthCheckRequest,
  encodeHealthCheckResponse,
  HealthService,
  ServingStatus,
  servingStatusName,
} from "../../src/ops/_health.ts";
import { CacheError, Status } from "../../src/errors.ts";

const definition = protoLoader.loadSync(new URL("../../proto/health.proto", import.meta.url).pathname, {
  enums: Number,
  defaults: true,
});
const check = definition["grpc.health.v1.Health"] as unknown as Record<
  string,
  protoLoader.MethodDefinition<unknown, unknown>
>;
const encodeRequest = (service: string): Uint8Array => check.Check.requestSerialize({ service });
const decodeResponse = (bytes: Uint8Array) =>
  check.Check.responseDeserialize(Buffer.from(bytes)) as { status: number };

Deno.test("HealthCheckRequest: service name decoded from proto-loader bytes", () => {
  for (const service of ["", "arrow.flight.protocol.FlightService", "é/ü"]) {
    assert.equal(decodeHealthCheckRequest(encodeRequest(service)), service);
  }
  // Unknown fields are skipped.
  assert.equal(decodeHealthCheckRequest(new Uint8Array([0x10, 0x05, 0x0a, 0x01, 0x78])), "x");
});

Deno.test("HealthCheckRequest: malformed input is INVALID_ARGUMENT", () => {
  for (
    const bad of [new Uint8Array([0x0a, 0x05, 0x61]), new Uint8Array([0x08, 0x01]), new Uint8Array([0x0a])]
  ) {
    assert.throws(
      () => decodeHealthCheckRequest(bad),
      (e) => e instanceof CacheError && e.code === Status.INVALID_ARGUMENT,
    );
  }
});

Deno.test("HealthCheckResponse: every status round-trips through proto-loader", () => {
  for (const status of Object.values(ServingStatus)) {
    assert.equal(decodeResponse(encodeHealthCheckResponse(status)).status, status);
  }
  assert.deepEqual([...encodeHealthCheckResponse(ServingStatus.UNKNOWN)], []);
  assert.deepEqual([...encodeHealthCheckResponse(ServingStatus.SERVING)], [0x08, 0x01]);
  assert.deepEqual([...encodeHealthCheckResponse(ServingStatus.NOT_SERVING)], [0x08, 0x02]);
  assert.equal(servingStatusName(1), "SERVING");
  assert.equal(servingStatusName(9), "STATUS_9");
});

Deno.test("HealthService: NOT_SERVING at first, SERVING when set, NOT_SERVING for good after shutdown", () => {
  const h = new HealthService();
  assert.equal(h.status(""), ServingStatus.NOT_SERVING);
  assert.equal(h.status("arrow.flight.protocol.FlightService"), ServingStatus.NOT_SERVING);
  assert.equal(h.status("nope"), undefined);
  assert.equal(h.serving, false);
  h.setAll(ServingStatus.SERVING);
  assert.equal(h.serving, true);
  assert.equal(h.status("arrow.flight.protocol.FlightService"), ServingStatus.SERVING);
  h.shutdown();
  assert.equal(h.serving, false);
  assert.equal(h.shuttingDown, true);
  h.setAll(ServingStatus.SERVING); // ignored: shutdown is final
  assert.equal(h.status(""), ServingStatus.NOT_SERVING);
});
