import assert from "node:assert/strict";
import { join } from "node:path";
import { type CacheConfig, ConfigError, type Interfaces } from "../../src/config/mod.ts";
import { parseCommand } from "../../src/cli/args.ts";

const CWD = "/srv/flame";
const NO_IFACES = {} as Interfaces;

const cleanup: string[] = [];
function tmpFile(text: string, suffix = ".yaml"): string {
  const path = Deno.makeTempFileSync({ prefix: "flame-cache-cfg-", suffix });
  Deno.writeTextFileSync(path, text);
  cleanup.push(path);
  return path;
}
function tmpDir(): string {
  const dir = Deno.makeTempDirSync({ prefix: "flame-cache-cfg-" });
  cleanup.push(dir);
  return dir;
}

function serve(argv: string[], env: Record<string, string> = {}): CacheConfig {
  const cmd = parseCommand(argv, env, NO_IFACES, CWD);
  assert.equal(cmd.name, "serve");
  return (cmd as { config: CacheConfig }).config;
}
function withFile(yaml: string, env: Record<string, string> = {}, argv: string[] = []): CacheConfig {
  return serve(["--config", tmpFile(yaml), ...argv], env);
}
function throwsKey(fn: () => unknown, key: string, pattern?: RegExp) {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ConfigError, `expected ConfigError, got ${e}`);
    assert.equal(e.key, key, e.message);
    if (pattern) assert.match(e.message, pattern);
    return true;
  });
}

Deno.test("full cache: section from a Flame flame-cluster.yaml (cluster: keys ignored, not required)", () => {
  const c = withFile(`
cluster:
  name: flame
  endpoint: "http://flame-session-manager:8080"
executors:
  shim: host
cache:
  endpoint: "grpc://10.0.0.7:9090"
  storage: "fs:///var/lib/flame/cache"
  eviction:
    policy: "lru"
    max_memory: "512M"
    max_objects: 10000
  capacity: 20G
  http: "127.0.0.1:9100"
  log_level: debug
`);
  assert.equal(c.endpoint, "grpc://10.0.0.7:9090");
  assert.deepEqual(c.listen, { host: "10.0.0.7", port: 9090 });
  assert.deepEqual(c.storage, { kind: "fs", root: "/var/lib/flame/cache" });
  assert.deepEqual(c.eviction, { policy: "lru", maxMemory: 512 * 2 ** 20, maxObjects: 10000 });
  assert.equal(c.capacity, 20 * 2 ** 30);
  assert.deepEqual(c.http, { host: "127.0.0.1", port: 9100 });
  assert.equal(c.logLevel, "debug");
  assert.deepEqual(c.warnings, []);
  assert.ok(c.configPath?.endsWith(".yaml"));
});

Deno.test("file without a cache: section, empty file, and empty cache: all give defaults", () => {
  for (const yaml of ["cluster:\n  name: flame\n", "", "cache:\n"]) {
    const c = withFile(yaml);
    assert.equal(c.endpoint, "grpc://127.0.0.1:9090");
    assert.deepEqual(c.eviction, { policy: "lru", maxMemory: 2 ** 30, maxObjects: Infinity });
    assert.deepEqual(c.storage, { kind: "fs", root: "/srv/flame/flame-cache-data" });
    assert.equal(c.logLevel, "info");
    assert.equal(c.capacity, undefined);
    assert.equal(c.http, undefined);
    assert.equal(c.auth, undefined);
    assert.equal(c.tls, undefined);
  }
});

Deno.test("max_memory as a YAML number of bytes", () => {
  assert.equal(withFile("cache:\n  eviction:\n    max_memory: 1073741824\n").eviction.maxMemory, 2 ** 30);
  assert.equal(withFile("cache:\n  eviction:\n    max_memory: 0\n").eviction.maxMemory, 0);
  throwsKey(
    () => withFile("cache:\n  eviction:\n    max_memory: 1.5\n"),
    "cache.eviction.max_memory",
    /1\.5/,
  );
  throwsKey(() => withFile("cache:\n  eviction:\n    max_memory: -1\n"), "cache.eviction.max_memory");
});

Deno.test("unknown keys inside cache: are accepted and reported as warnings", () => {
  const c = withFile(
    "cache:\n  pprof:\n    port: 6060\n  eviction:\n    polcy: lru\n  shiny: true\n",
  );
  assert.deepEqual(c.warnings.sort(), [
    "unknown key cache.eviction.polcy (ignored)",
    "unknown key cache.pprof (ignored)",
    "unknown key cache.shiny (ignored)",
  ]);
});

Deno.test("bad types and values inside cache: name the key", () => {
  const cases: [string, string, RegExp?][] = [
    ["cache: 5\n", "cache"],
    ["cache:\n  endpoint: 9090\n", "cache.endpoint", /9090/],
    ["cache:\n  endpoint: tcp://x:1\n", "cache.endpoint", /tcp/],
    ["cache:\n  network_interface: [eth0]\n", "cache.network_interface"],
    ["cache:\n  storage: 12\n", "cache.storage"],
    ["cache:\n  storage: s3://bucket/x\n", "cache.storage", /s3/],
    ["cache:\n  eviction: lru\n", "cache.eviction"],
    ["cache:\n  eviction:\n    policy: fifo\n", "cache.eviction.policy", /fifo/],
    ["cache:\n  eviction:\n    policy: 1\n", "cache.eviction.policy"],
    ["cache:\n  eviction:\n    max_memory: lots\n", "cache.eviction.max_memory", /lots/],
    ["cache:\n  eviction:\n    max_memory: [1]\n", "cache.eviction.max_memory"],
    ["cache:\n  eviction:\n    max_objects: 0\n", "cache.eviction.max_objects", /0/],
    ["cache:\n  eviction:\n    max_objects: -3\n", "cache.eviction.max_objects"],
    ["cache:\n  eviction:\n    max_objects: 2.5\n", "cache.eviction.max_objects"],
    ["cache:\n  eviction:\n    max_objects: many\n", "cache.eviction.max_objects", /many/],
    ["cache:\n  capacity: 0\n", "cache.capacity"],
    ["cache:\n  capacity: big\n", "cache.capacity", /big/],
    ["cache:\n  http: 9100\n", "cache.http"],
    ["cache:\n  http: nohost\n", "cache.http", /nohost/],
    ["cache:\n  log_level: loud\n", "cache.log_level", /loud/],
    ["cache:\n  tls: yes-please\n", "cache.tls"],
    ["cache:\n  auth: [1]\n", "cache.auth"],
  ];
  for (const [yaml, key, pattern] of cases) throwsKey(() => withFile(yaml), key, pattern);
});

Deno.test("max_objects accepts a numeric string; http can be turned off", () => {
  assert.equal(withFile('cache:\n  eviction:\n    max_objects: "42"\n').eviction.maxObjects, 42);
  assert.equal(withFile("cache:\n  http: off\n").http, undefined);
  assert.equal(withFile("cache:\n  http:\n").http, undefined);
  assert.deepEqual(withFile('cache:\n  http: ":0"\n').http, { host: "0.0.0.0", port: 0 });
});

Deno.test("YAML syntax error names the file and the line", () => {
  const path = tmpFile("cache:\n  endpoint: grpc://h:1\n  eviction: [\n");
  throwsKey(
    () => serve(["--config", path]),
    "--config",
    new RegExp(`${path.replaceAll(".", "\\.")} line 4, column \\d+`),
  );
  const dup = tmpFile("cache:\n  storage: none\n  storage: none\n");
  throwsKey(() => serve([], { FLAME_CACHE_CONFIG: dup }), "FLAME_CACHE_CONFIG", /line 3/);
});

Deno.test("top-level YAML that is not a mapping is an error", () => {
  throwsKey(() => withFile("- a\n- b\n"), "--config", /mapping/);
});

Deno.test("config file choice: --config beats FLAME_CACHE_CONFIG beats $HOME/.flame/flame-cluster.yaml", () => {
  const home = tmpDir();
  Deno.mkdirSync(join(home, ".flame"));
  Deno.writeTextFileSync(join(home, ".flame", "flame-cluster.yaml"), "cache:\n  log_level: error\n");
  const envFile = tmpFile("cache:\n  log_level: warn\n");
  const flagFile = tmpFile("cache:\n  log_level: debug\n");

  const fromHome = serve([], { HOME: home });
  assert.equal(fromHome.logLevel, "error");
  assert.equal(fromHome.configPath, join(home, ".flame", "flame-cluster.yaml"));
  assert.equal(serve([], { HOME: home, FLAME_CACHE_CONFIG: envFile }).logLevel, "warn");
  assert.equal(serve(["--config", flagFile], { HOME: home, FLAME_CACHE_CONFIG: envFile }).logLevel, "debug");
  assert.equal(serve(["-c", flagFile], { HOME: home }).logLevel, "debug");
  assert.equal(serve([`--config=${flagFile}`], {}).configPath, flagFile);
  // Empty FLAME_CACHE_CONFIG is ignored.
  assert.equal(serve([], { HOME: home, FLAME_CACHE_CONFIG: "" }).logLevel, "error");
});

Deno.test("no config file at all: $HOME without .flame, or no HOME", () => {
  assert.equal(serve([], { HOME: tmpDir() }).configPath, undefined);
  assert.equal(serve([], {}).configPath, undefined);
});

Deno.test("an explicit config path that does not exist is an error naming its source", () => {
  throwsKey(
    () => serve(["--config", "/nonexistent/flame-cluster.yaml"]),
    "--config",
    /\/nonexistent\/flame-cluster\.yaml/,
  );
  throwsKey(
    () => serve([], { FLAME_CACHE_CONFIG: "/nonexistent/x.yaml" }),
    "FLAME_CACHE_CONFIG",
    /does not exist/,
  );
  throwsKey(() => serve(["--config", tmpDir()]), "--config", /not a file/);
  throwsKey(() => serve(["--config="]), "--config", /empty/);
});

Deno.test("a relative --config path is resolved against the working directory", () => {
  const dir = tmpDir();
  Deno.writeTextFileSync(join(dir, "c.yaml"), "cache:\n  log_level: warn\n");
  const cmd = parseCommand(["--config", "c.yaml"], {}, NO_IFACES, dir);
  assert.equal(cmd.name, "serve");
  if (cmd.name === "serve") {
    assert.equal(cmd.config.logLevel, "warn");
    assert.equal(cmd.config.configPath, join(dir, "c.yaml"));
  }
});

Deno.test("tls: cert/key/ca readable → TLS on with grpcs, advertised as grpc+tls", () => {
  const cert = tmpFile("CERT", ".pem");
  const key = tmpFile("KEY", ".pem");
  const ca = tmpFile("CA", ".pem");
  const c = withFile(
    `cache:\n  endpoint: grpcs://10.0.0.1:9443\n  tls:\n    cert_file: ${cert}\n    key_file: ${key}\n    ca_file: ${ca}\n`,
  );
  assert.equal(c.endpoint, "grpc+tls://10.0.0.1:9443");
  assert.deepEqual(c.tls, { certFile: cert, keyFile: key, caFile: ca });
  const noCa = withFile(
    `cache:\n  endpoint: https://h:1\n  tls:\n    cert_file: ${cert}\n    key_file: ${key}\n`,
  );
  assert.deepEqual(noCa.tls, { certFile: cert, keyFile: key });
  assert.equal(noCa.endpoint, "grpc+tls://h:1");
});

Deno.test("tls section without an endpoint turns TLS on; with a plaintext endpoint it is ignored with a warning", () => {
  const cert = tmpFile("CERT", ".pem");
  const key = tmpFile("KEY", ".pem");
  const tls = `  tls:\n    cert_file: ${cert}\n    key_file: ${key}\n`;
  const on = withFile(`cache:\n${tls}`);
  assert.equal(on.endpoint, "grpc+tls://127.0.0.1:9090");
  assert.ok(on.tls);
  const off = withFile(`cache:\n  endpoint: grpc://h:1\n${tls}`);
  assert.equal(off.tls, undefined);
  assert.equal(off.endpoint, "grpc://h:1");
  assert.match(off.warnings.join("\n"), /cache\.tls is ignored/);
});

Deno.test("tls errors name the key", () => {
  const cert = tmpFile("CERT", ".pem");
  const key = tmpFile("KEY", ".pem");
  throwsKey(() => withFile("cache:\n  endpoint: grpcs://h:1\n"), "cache.tls", /not configured/);
  throwsKey(() => serve(["--endpoint", "grpc+tls://h:1"]), "cache.tls", /--endpoint/);
  throwsKey(() => withFile(`cache:\n  tls:\n    key_file: ${key}\n`), "cache.tls.cert_file", /required/);
  throwsKey(() => withFile(`cache:\n  tls:\n    cert_file: ${cert}\n`), "cache.tls.key_file", /required/);
  throwsKey(
    () => withFile(`cache:\n  tls:\n    cert_file: /nope/cert.pem\n    key_file: ${key}\n`),
    "cache.tls.cert_file",
    /\/nope\/cert\.pem.*not found/,
  );
  throwsKey(
    () => withFile(`cache:\n  tls:\n    cert_file: ${cert}\n    key_file: ${tmpDir()}\n`),
    "cache.tls.key_file",
    /not a regular file/,
  );
  throwsKey(
    () =>
      withFile(`cache:\n  tls:\n    cert_file: ${cert}\n    key_file: ${key}\n    ca_file: /nope/ca.pem\n`),
    "cache.tls.ca_file",
  );
  throwsKey(
    () => withFile(`cache:\n  tls:\n    cert_file: 5\n    key_file: ${key}\n`),
    "cache.tls.cert_file",
  );
});

Deno.test("auth: tokens_file, token_env and users", () => {
  const tokens = tmpFile("# comment\n\ns3cret alice\nt0ken bob app1,app2\nbare\n", ".txt");
  const c = withFile(
    `cache:
  auth:
    tokens_file: ${tokens}
    token_env: CACHE_TOKEN
    users:
      - username: carol
        password: pw
        apps: [app1]
      - username: dave
        password: "123"
`,
    { CACHE_TOKEN: "from-env" },
  );
  assert.deepEqual(c.auth, {
    tokens: [
      { token: "s3cret", name: "alice" },
      { token: "t0ken", name: "bob", apps: ["app1", "app2"] },
      { token: "bare", name: "token-5" },
      { token: "from-env", name: "CACHE_TOKEN" },
    ],
    users: [
      { username: "carol", password: "pw", apps: ["app1"] },
      { username: "dave", password: "123" },
    ],
  });
});

Deno.test("auth errors name the key", () => {
  throwsKey(
    () => withFile("cache:\n  auth:\n    token_env: MISSING_TOKEN\n"),
    "cache.auth.token_env",
    /MISSING_TOKEN/,
  );
  throwsKey(() => withFile("cache:\n  auth:\n    token_env: 'bad name'\n"), "cache.auth.token_env");
  throwsKey(() => withFile("cache:\n  auth:\n    tokens_file: /nope/tokens\n"), "cache.auth.tokens_file");
  throwsKey(() => withFile("cache:\n  auth: {}\n"), "cache.auth", /no tokens or users/);
  throwsKey(() => withFile("cache:\n  auth:\n    users: bob\n"), "cache.auth.users");
  throwsKey(
    () => withFile("cache:\n  auth:\n    users:\n      - username: bob\n"),
    "cache.auth.users[0].password",
  );
  throwsKey(
    () =>
      withFile("cache:\n  auth:\n    users:\n      - username: bob\n        password: pw\n        apps: 3\n"),
    "cache.auth.users[0].apps",
  );
  const tooMany = tmpFile("tok name apps extra\n", ".txt");
  throwsKey(
    () => withFile(`cache:\n  auth:\n    tokens_file: ${tooMany}\n`),
    "cache.auth.tokens_file",
    /line 1/,
  );
});

Deno.test("cleanup temp files", () => {
  for (const p of cleanup.splice(0)) Deno.removeSync(p, { recursive: true });
});
