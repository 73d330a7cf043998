/** ListingEncoder (src/flight/listing.ts) writes the same bytes as the general FlightInfo encoder. */
import assert from "node:assert/strict";
import { ListingEncoder } from "../../src/flight/listing.ts";
import { DescriptorType, encodeFlightInfo } from "../../src/flight/messages.ts";
import { encodeObjectRef } from "../../src/flight/object_ref.ts";
import { encodeSchemaForFlight, READ_SCHEMA_HEADER } from "../../src/arrow/mod.ts";

Deno.test("listing encoder: byte for byte what encodeFlightInfo + encodeObjectRef write", () => {
  const schema = encodeSchemaForFlight(READ_SCHEMA_HEADER);
  for (const endpoint of ["grpc://127.0.0.1:9090", `grpcs://${"h".repeat(200)}.example:443`]) {
    const enc = new ListingEncoder(endpoint);
    const cases = [
      { key: "app/s/o", version: 1, records: 1, bytes: 1024, schema },
      { key: "app/sessión/ключ", version: 2 ** 40, records: 1001, bytes: 2 ** 33 + 5, schema },
      { key: `a/${"x".repeat(300)}/y`, version: 7, records: 0, bytes: 0, schema: new Uint8Array(0) },
      { key: "s/o", version: 3, records: 12345678, bytes: 127, schema: new Uint8Array(0) },
    ];
    for (const c of cases) {
      const want = encodeFlightInfo({
        schema: c.schema,
        descriptor: { type: DescriptorType.PATH, cmd: new Uint8Array(0), path: [c.key] },
        endpoints: [{ ticket: new TextEncoder().encode(c.key), locations: [endpoint] }],
        totalRecords: c.records,
        totalBytes: c.bytes,
        appMetadata: encodeObjectRef({ endpoint, key: c.key, version: c.version }),
      });
      assert.deepEqual(enc.encode(c), want, c.key);
    }
  }
});
