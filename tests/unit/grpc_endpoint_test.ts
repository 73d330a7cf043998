/** The one endpoint parser (src/grpc/endpoint.ts) as the client SDK exposes it (parseEndpoint). */
import assert from "node:assert/strict";
import { InvalidArgumentError, parseEndpoint } from "../../src/client/mod.ts";

Deno.test("parseEndpoint: schemes, aliases, IPv6, default port, errors", () => {
  assert.deepEqual(parseEndpoint("grpc://10.0.0.5:9090"), {
    uri: "grpc://10.0.0.5:9090",
    tls: false,
    host: "10.0.0.5",
    port: 9090,
    authority: "10.0.0.5:9090",
  });
  assert.equal(parseEndpoint("grpcs://cache.example:443").uri, "grpc+tls://cache.example:443");
  assert.equal(parseEndpoint("grpc+tls://cache.example:443").tls, true);
  assert.equal(parseEndpoint("grpc+tcp://h:1").uri, "grpc://h:1");
  // One parser with the config: http and https are accepted too.
  assert.equal(parseEndpoint("http://h:1").uri, "grpc://h:1");
  assert.equal(parseEndpoint("https://h").uri, "grpc+tls://h:9090");
  assert.equal(parseEndpoint("localhost:7000").uri, "grpc://localhost:7000");
  assert.equal(parseEndpoint("grpc://h").port, 9090);
  assert.equal(parseEndpoint("GRPC://h:5/").uri, "grpc://h:5");
  const v6 = parseEndpoint("grpc://[::1]:9090");
  assert.equal(v6.host, "::1");
  assert.equal(v6.authority, "[::1]:9090");
  for (
    const bad of ["ftp://h:1", "grpc://", "grpc://h:0", "grpc://h:70000", "grpc://::1:5", "grpc://h:1/x"]
  ) {
    assert.throws(() => parseEndpoint(bad), InvalidArgumentError, bad);
  }
});
