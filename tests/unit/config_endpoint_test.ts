import assert from "node:assert/strict";
import {
  type CacheConfig,
  ConfigError,
  type Interfaces,
  normalizeClientEndpoint,
  parseEndpointUri,
  parseHostPort,
  withBoundPort,
} from "../../src/config/mod.ts";
import { parseCommand } from "../../src/cli/args.ts";

const CWD = "/srv/flame";

function v4(address: string) {
  return {
    address,
    netmask: "255.255.255.0",
    family: "IPv4",
    mac: "00:00:00:00:00:01",
    internal: false,
    cidr: null,
  };
}
function v6(address: string) {
  return {
    address,
    netmask: "ffff::",
    family: "IPv6",
    mac: "00:00:00:00:00:01",
    internal: false,
    cidr: null,
    scopeid: 0,
  };
}
const IFACES = {
  lo: [v4("127.0.0.1")],
  veth0: [v6("fe80::1"), v4("10.1.2.3"), v4("10.1.2.4")],
  eth1: [v4("192.168.1.10")],
  wg0: [v6("fd00::1")],
} as unknown as Interfaces;

function tmpYaml(text: string): string {
  const path = Deno.makeTempFileSync({ prefix: "flame-cache-cfg-", suffix: ".yaml" });
  Deno.writeTextFileSync(path, text);
  return path;
}

function serve(argv: string[], env: Record<string, string> = {}, ifaces: Interfaces = IFACES): CacheConfig {
  const cmd = parseCommand(argv, env, ifaces, CWD);
  assert.equal(cmd.name, "serve");
  return (cmd as { config: CacheConfig }).config;
}

function throwsKey(fn: () => unknown, key: string, pattern?: RegExp) {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ConfigError, `expected ConfigError, got ${e}`);
    assert.equal(e.key, key, e.message);
    if (pattern) assert.match(e.message, pattern);
    return true;
  });
}

Deno.test("zero config: listen 127.0.0.1:9090, endpoint grpc://127.0.0.1:9090, no TLS", () => {
  const c = serve([]);
  assert.deepEqual(c.listen, { host: "127.0.0.1", port: 9090 });
  assert.equal(c.endpoint, "grpc://127.0.0.1:9090");
  assert.equal(c.tls, undefined);
});

Deno.test("parseEndpointUri: schemes map to grpc / grpc+tls", () => {
  const cases: [string, string][] = [
    ["grpc://h:1", "grpc"],
    ["grpc+tcp://h:1", "grpc"],
    ["http://h:1", "grpc"],
    ["GRPC://h:1", "grpc"],
    ["grpcs://h:1", "grpc+tls"],
    ["grpc+tls://h:1", "grpc+tls"],
    ["https://h:1", "grpc+tls"],
  ];
  for (const [uri, scheme] of cases) assert.equal(parseEndpointUri(uri, "k").scheme, scheme, uri);
});

Deno.test("parseEndpointUri: host and port parts", () => {
  assert.deepEqual(parseEndpointUri("grpc://cache.local:9443", "k"), {
    scheme: "grpc",
    host: "cache.local",
    port: 9443,
  });
  assert.deepEqual(parseEndpointUri("grpc://[::1]:9090", "k"), { scheme: "grpc", host: "::1", port: 9090 });
  assert.deepEqual(parseEndpointUri("grpc://[fe80::1%eth0]", "k"), { scheme: "grpc", host: "fe80::1%eth0" });
  assert.deepEqual(parseEndpointUri("grpc://:7000", "k"), { scheme: "grpc", port: 7000 });
  assert.deepEqual(parseEndpointUri("grpc://", "k"), { scheme: "grpc" });
  assert.deepEqual(parseEndpointUri("http://127.0.0.1:80/", "k"), {
    scheme: "grpc",
    host: "127.0.0.1",
    port: 80,
  });
});

Deno.test("parseEndpointUri: bad URIs name the key and show the value", () => {
  for (
    const bad of [
      "",
      "127.0.0.1:9090",
      "tcp://h:1",
      "grpc://h:0",
      "grpc://h:65536",
      "grpc://h:x",
      "grpc://h:1/path",
      "grpc://u@h:1",
      "grpc://::1:9090",
      "grpc://[::1",
      "grpc://[zz::1]:1",
      "grpc://bad host:1",
    ]
  ) {
    throwsKey(() => parseEndpointUri(bad, "cache.endpoint"), "cache.endpoint");
  }
  throwsKey(() => parseEndpointUri("tcp://h:1", "--endpoint"), "--endpoint", /"tcp"/);
});

Deno.test("parseHostPort: IPv4, IPv6 brackets, :PORT, port 0, errors", () => {
  assert.deepEqual(parseHostPort("127.0.0.1:9090", "k"), { host: "127.0.0.1", port: 9090 });
  assert.deepEqual(parseHostPort("[::1]:9090", "k"), { host: "::1", port: 9090 });
  assert.deepEqual(parseHostPort("[::]:0", "k"), { host: "::", port: 0 });
  assert.deepEqual(parseHostPort(":8080", "k"), { host: "0.0.0.0", port: 8080 });
  assert.deepEqual(parseHostPort("localhost:1", "k"), { host: "localhost", port: 1 });
  for (const bad of ["", "host", "::1:9090", "h:70000", "h:-1", "h:"]) {
    throwsKey(() => parseHostPort(bad, "--listen"), "--listen");
  }
  throwsKey(() => parseHostPort("h:0", "k", false), "k", /out of range/);
});

Deno.test("endpoint with a concrete host: advertised as-is, listen on it", () => {
  const c = serve(["--endpoint", "grpc://10.0.0.5:7000"]);
  assert.equal(c.endpoint, "grpc://10.0.0.5:7000");
  assert.deepEqual(c.listen, { host: "10.0.0.5", port: 7000 });
});

Deno.test("endpoint without a port uses 9090; http:// is advertised as grpc://", () => {
  const c = serve(["--endpoint", "http://cachehost"]);
  assert.equal(c.endpoint, "grpc://cachehost:9090");
  // A DNS name may be a Service or load balancer, not a local address: bind all interfaces.
  assert.deepEqual(c.listen, { host: "0.0.0.0", port: 9090 });
  assert.deepEqual(serve(["--endpoint", "grpc://localhost:9191"]).listen, { host: "localhost", port: 9191 });
});

Deno.test("IPv6 endpoint host is bracketed in the endpoint, unbracketed in listen", () => {
  const c = serve(["--endpoint", "grpc://[::1]:9191"]);
  assert.equal(c.endpoint, "grpc://[::1]:9191");
  assert.deepEqual(c.listen, { host: "::1", port: 9191 });
});

Deno.test("unspecified endpoint host 0.0.0.0: listen on 0.0.0.0, advertise 127.0.0.1", () => {
  const c = serve(["--endpoint", "grpc://0.0.0.0:9000"]);
  assert.deepEqual(c.listen, { host: "0.0.0.0", port: 9000 });
  assert.equal(c.endpoint, "grpc://127.0.0.1:9000");
});

Deno.test("unspecified endpoint host [::] + network_interface: listen on ::, advertise the interface IPv4", () => {
  const path = tmpYaml("cache:\n  endpoint: grpc://[::]:9000\n  network_interface: eth1\n");
  try {
    const c = serve(["--config", path]);
    assert.deepEqual(c.listen, { host: "::", port: 9000 });
    assert.equal(c.endpoint, "grpc://192.168.1.10:9000");
  } finally {
    Deno.removeSync(path);
  }
});

Deno.test("network_interface is an unanchored regex: 'eth' matches veth0 first, first IPv4 taken", () => {
  const path = tmpYaml("cache:\n  network_interface: eth\n");
  try {
    const c = serve(["--config", path]);
    assert.equal(c.endpoint, "grpc://10.1.2.3:9090");
    assert.deepEqual(c.listen, { host: "10.1.2.3", port: 9090 });
  } finally {
    Deno.removeSync(path);
  }
});

Deno.test("network_interface: anchored regex and endpoint without host", () => {
  const path = tmpYaml("cache:\n  endpoint: grpc://:7001\n  network_interface: ^eth1$\n");
  try {
    const c = serve(["--config", path]);
    assert.equal(c.endpoint, "grpc://192.168.1.10:7001");
    assert.deepEqual(c.listen, { host: "192.168.1.10", port: 7001 });
  } finally {
    Deno.removeSync(path);
  }
});

Deno.test("a concrete endpoint host wins over network_interface", () => {
  const path = tmpYaml("cache:\n  endpoint: grpc://127.0.0.1:9090\n  network_interface: eth1\n");
  try {
    assert.equal(serve(["--config", path]).endpoint, "grpc://127.0.0.1:9090");
  } finally {
    Deno.removeSync(path);
  }
});

Deno.test("network_interface errors: not found, no IPv4, invalid regex (key cache.network_interface)", () => {
  for (
    const [iface, pattern] of [
      ["eth9", /network interface "eth9" not found/],
      ["wg0", /wg0.*has no IPv4 addresses/],
      ["(", /invalid regular expression/],
    ] as const
  ) {
    const path = tmpYaml(`cache:\n  network_interface: "${iface}"\n`);
    try {
      throwsKey(() => serve(["--config", path]), "cache.network_interface", pattern);
    } finally {
      Deno.removeSync(path);
    }
  }
});

Deno.test("--listen overrides only the bind address", () => {
  const c = serve(["--endpoint", "grpc://cache.example:9090", "--listen", "0.0.0.0:9999"]);
  assert.deepEqual(c.listen, { host: "0.0.0.0", port: 9999 });
  assert.equal(c.endpoint, "grpc://cache.example:9090");
});

Deno.test("--listen IPv6 [::1]:9090", () => {
  const c = serve(["--listen", "[::1]:9090"]);
  assert.deepEqual(c.listen, { host: "::1", port: 9090 });
  assert.equal(c.endpoint, "grpc://[::1]:9090");
});

Deno.test("--listen port is advertised when the endpoint has no port; concrete listen host is advertised", () => {
  const c = serve(["--listen", "10.9.8.7:7777"]);
  assert.equal(c.endpoint, "grpc://10.9.8.7:7777");
  const d = serve(["--listen", "0.0.0.0:7777"]);
  assert.equal(d.endpoint, "grpc://127.0.0.1:7777");
});

Deno.test("--listen :0 (ephemeral): endpoint has :0 until withBoundPort fills it in", () => {
  const c = serve(["--listen", "127.0.0.1:0"]);
  assert.deepEqual(c.listen, { host: "127.0.0.1", port: 0 });
  assert.equal(c.endpoint, "grpc://127.0.0.1:0");
  const b = withBoundPort(c, 45678);
  assert.deepEqual(b.listen, { host: "127.0.0.1", port: 45678 });
  assert.equal(b.endpoint, "grpc://127.0.0.1:45678");
  assert.deepEqual(c.listen.port, 0, "original is not mutated");
});

Deno.test("withBoundPort keeps an explicit endpoint port and brackets IPv6", () => {
  const c = serve(["--endpoint", "grpc://cache.example:9090", "--listen", "[::1]:0"]);
  const b = withBoundPort(c, 40000);
  assert.equal(b.endpoint, "grpc://cache.example:9090");
  assert.deepEqual(b.listen, { host: "::1", port: 40000 });
  const v6 = withBoundPort(serve(["--listen", "[::1]:0"]), 40001);
  assert.equal(v6.endpoint, "grpc://[::1]:40001");
  const fixed = withBoundPort(serve([]), 1234);
  assert.equal(fixed.endpoint, "grpc://127.0.0.1:9090");
  assert.equal(fixed.listen.port, 9090);
});

Deno.test("FLAME_CACHE_ENDPOINT sets the endpoint, --endpoint beats it, bad values name the variable", () => {
  assert.equal(serve([], { FLAME_CACHE_ENDPOINT: "grpc://10.0.0.1:1234" }).endpoint, "grpc://10.0.0.1:1234");
  assert.equal(
    serve(["--endpoint", "grpc://10.0.0.2:1"], { FLAME_CACHE_ENDPOINT: "grpc://10.0.0.1:1234" }).endpoint,
    "grpc://10.0.0.2:1",
  );
  throwsKey(() => serve([], { FLAME_CACHE_ENDPOINT: "nonsense" }), "FLAME_CACHE_ENDPOINT", /nonsense/);
  throwsKey(() => serve(["--endpoint", "grpc://h:99999"]), "--endpoint", /99999/);
});

Deno.test("normalizeClientEndpoint: URIs and bare HOST:PORT", () => {
  assert.equal(normalizeClientEndpoint("localhost:9091", "--endpoint"), "grpc://localhost:9091");
  assert.equal(normalizeClientEndpoint("grpcs://cache:443", "--endpoint"), "grpc+tls://cache:443");
  assert.equal(normalizeClientEndpoint("[::1]:1", "--endpoint"), "grpc://[::1]:1");
  assert.equal(normalizeClientEndpoint("grpc://0.0.0.0", "--endpoint"), "grpc://127.0.0.1:9090");
  throwsKey(() => normalizeClientEndpoint("", "--endpoint"), "--endpoint");
  throwsKey(() => normalizeClientEndpoint("ftp://x:1", "--endpoint"), "--endpoint");
});
