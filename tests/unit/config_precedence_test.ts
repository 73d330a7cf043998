import assert from "node:assert/strict";
import { type CacheConfig, ConfigError, type Interfaces, parseStorage } from "../../src/config/mod.ts";
import { parseCommand } from "../../src/cli/args.ts";

const CWD = "/srv/flame";
const NO_IFACES = {} as Interfaces;

const cleanup: string[] = [];
function tmpYaml(text: string): string {
  const path = Deno.makeTempFileSync({ prefix: "flame-cache-cfg-", suffix: ".yaml" });
  Deno.writeTextFileSync(path, text);
  cleanup.push(path);
  return path;
}
function serve(argv: string[], env: Record<string, string> = {}): CacheConfig {
  const cmd = parseCommand(argv, env, NO_IFACES, CWD);
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

const FILE = `cache:
  endpoint: grpc://10.0.0.1:1111
  storage: /data/from-file
  eviction:
    policy: none
    max_memory: 1M
    max_objects: 10
  capacity: 1G
  durability: relaxed
  flush_interval_ms: 250
  http: 127.0.0.1:9101
  log_level: warn
`;

/** Each setting: [flag args, env, expected file value, expected env value, expected flag value, read]. */
const SETTINGS: {
  name: string;
  flag: string[];
  env: Record<string, string>;
  read: (c: CacheConfig) => unknown;
  file: unknown;
  fromEnv: unknown;
  fromFlag: unknown;
}[] = [
  {
    name: "endpoint",
    flag: ["--endpoint", "grpc://10.0.0.3:3333"],
    env: { FLAME_CACHE_ENDPOINT: "grpc://10.0.0.2:2222" },
    read: (c) => c.endpoint,
    file: "grpc://10.0.0.1:1111",
    fromEnv: "grpc://10.0.0.2:2222",
    fromFlag: "grpc://10.0.0.3:3333",
  },
  {
    name: "storage",
    flag: ["--storage", "/data/from-flag"],
    env: { FLAME_CACHE_STORAGE: "/data/from-env" },
    read: (c) => c.storage,
    file: { kind: "fs", root: "/data/from-file" },
    fromEnv: { kind: "fs", root: "/data/from-env" },
    fromFlag: { kind: "fs", root: "/data/from-flag" },
  },
  {
    name: "eviction policy",
    flag: ["--eviction-policy", "none"],
    env: { FLAME_CACHE_EVICTION_POLICY: "lru" },
    read: (c) => c.eviction.policy,
    file: "none",
    fromEnv: "lru",
    fromFlag: "none",
  },
  {
    name: "max memory",
    flag: ["--max-memory", "3M"],
    env: { FLAME_CACHE_MAX_MEMORY: "2M" },
    read: (c) => c.eviction.maxMemory,
    file: 2 ** 20,
    fromEnv: 2 * 2 ** 20,
    fromFlag: 3 * 2 ** 20,
  },
  {
    name: "max objects",
    flag: ["--max-objects", "30"],
    env: { FLAME_CACHE_MAX_OBJECTS: "20" },
    read: (c) => c.eviction.maxObjects,
    file: 10,
    fromEnv: 20,
    fromFlag: 30,
  },
  {
    name: "capacity",
    flag: ["--capacity", "3G"],
    env: { FLAME_CACHE_CAPACITY: "2G" },
    read: (c) => c.capacity,
    file: 2 ** 30,
    fromEnv: 2 * 2 ** 30,
    fromFlag: 3 * 2 ** 30,
  },
  {
    name: "durability",
    flag: ["--durability", "relaxed"],
    env: { FLAME_CACHE_DURABILITY: "sync" },
    read: (c) => c.durability,
    file: "relaxed",
    fromEnv: "sync",
    fromFlag: "relaxed",
  },
  {
    name: "flush interval",
    flag: ["--flush-interval-ms", "75"],
    env: { FLAME_CACHE_FLUSH_INTERVAL_MS: "500" },
    read: (c) => c.flushIntervalMs,
    file: 250,
    fromEnv: 500,
    fromFlag: 75,
  },
  {
    name: "log level",
    flag: ["--log-level", "debug"],
    env: { FLAME_LOG: "error" },
    read: (c) => c.logLevel,
    file: "warn",
    fromEnv: "error",
    fromFlag: "debug",
  },
];

for (const s of SETTINGS) {
  Deno.test(`precedence for ${s.name}: flags > env > file`, () => {
    const path = tmpYaml(FILE);
    assert.deepEqual(s.read(serve(["--config", path])), s.file, "file");
    assert.deepEqual(s.read(serve(["--config", path], s.env)), s.fromEnv, "env beats file");
    assert.deepEqual(s.read(serve(["--config", path, ...s.flag], s.env)), s.fromFlag, "flag beats env");
    assert.deepEqual(s.read(serve(s.flag)), s.fromFlag, "flag beats default");
    assert.deepEqual(s.read(serve([], s.env)), s.fromEnv, "env beats default");
  });
}

Deno.test("http: file value, --http overrides, --http off disables", () => {
  const path = tmpYaml(FILE);
  assert.deepEqual(serve(["--config", path]).http, { host: "127.0.0.1", port: 9101 });
  assert.deepEqual(serve(["--config", path, "--http", "[::1]:9200"]).http, { host: "::1", port: 9200 });
  assert.equal(serve(["--config", path, "--http", "off"]).http, undefined);
  assert.equal(serve([]).http, undefined);
});

Deno.test("defaults: lru, 1 GiB, unlimited objects, info, no capacity", () => {
  const c = serve([]);
  assert.deepEqual(c.eviction, { policy: "lru", maxMemory: 1073741824, maxObjects: Infinity });
  assert.equal(c.logLevel, "info");
  assert.equal(c.capacity, undefined);
  assert.equal(c.durability, "sync");
  assert.equal(c.flushIntervalMs, 1000);
  assert.equal(c.configPath, undefined);
  assert.deepEqual(c.warnings, []);
});

Deno.test("empty environment values are ignored", () => {
  const path = tmpYaml(FILE);
  const c = serve(["--config", path], {
    FLAME_CACHE_ENDPOINT: "",
    FLAME_CACHE_STORAGE: "",
    FLAME_CACHE_EVICTION_POLICY: "",
    FLAME_CACHE_MAX_MEMORY: "  ",
    FLAME_CACHE_MAX_OBJECTS: "",
    FLAME_CACHE_CAPACITY: "",
    FLAME_LOG: "",
  });
  assert.equal(c.endpoint, "grpc://10.0.0.1:1111");
  assert.deepEqual(c.storage, { kind: "fs", root: "/data/from-file" });
  assert.deepEqual(c.eviction, { policy: "none", maxMemory: 2 ** 20, maxObjects: 10 });
  assert.equal(c.logLevel, "warn");
});

Deno.test("bad environment values are errors naming the variable (unlike Flame)", () => {
  const cases: [Record<string, string>, string][] = [
    [{ FLAME_CACHE_MAX_MEMORY: "lots" }, "FLAME_CACHE_MAX_MEMORY"],
    [{ FLAME_CACHE_MAX_MEMORY: "-1G" }, "FLAME_CACHE_MAX_MEMORY"],
    [{ FLAME_CACHE_MAX_OBJECTS: "0" }, "FLAME_CACHE_MAX_OBJECTS"],
    [{ FLAME_CACHE_MAX_OBJECTS: "ten" }, "FLAME_CACHE_MAX_OBJECTS"],
    [{ FLAME_CACHE_EVICTION_POLICY: "lfu" }, "FLAME_CACHE_EVICTION_POLICY"],
    [{ FLAME_CACHE_CAPACITY: "0" }, "FLAME_CACHE_CAPACITY"],
    [{ FLAME_CACHE_STORAGE: "fs://" }, "FLAME_CACHE_STORAGE"],
    [{ FLAME_LOG: "verbose" }, "FLAME_LOG"],
    [{ FLAME_CACHE_DURABILITY: "fast" }, "FLAME_CACHE_DURABILITY"],
    [{ FLAME_CACHE_FLUSH_INTERVAL_MS: "0" }, "FLAME_CACHE_FLUSH_INTERVAL_MS"],
  ];
  for (const [env, key] of cases) throwsKey(() => serve([], env), key, new RegExp(Object.values(env)[0]));
});

Deno.test("bad flag values are errors naming the flag and showing the value", () => {
  const cases: [string[], string][] = [
    [["--max-memory", "1Q"], "--max-memory"],
    [["--max-memory=-5"], "--max-memory"],
    [["--max-objects", "-5"], "--max-objects"],
    [["--max-objects", "1.5"], "--max-objects"],
    [["--eviction-policy", "LRUU"], "--eviction-policy"],
    [["--capacity", "none"], "--capacity"],
    [["--listen", "localhost"], "--listen"],
    [["--listen", "h:99999"], "--listen"],
    [["--http", "h:x"], "--http"],
    [["--log-level", "trace"], "--log-level"],
    [["--durability", "none"], "--durability"],
    [["--flush-interval-ms", "1s"], "--flush-interval-ms"],
    [["--endpoint", "ws://h:1"], "--endpoint"],
    [["--storage", "s3://bucket"], "--storage"],
  ];
  for (const [argv, key] of cases) {
    const value = argv.length === 2 ? argv[1] : argv[0].split("=")[1];
    throwsKey(() => serve(argv), key, new RegExp(value.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")));
  }
});

Deno.test("a bad env value is an error even when a flag overrides it", () => {
  throwsKey(
    () => serve(["--max-memory", "1G"], { FLAME_CACHE_MAX_MEMORY: "bogus" }),
    "FLAME_CACHE_MAX_MEMORY",
  );
});

Deno.test("policy and log level are case-insensitive; 'warning' means warn", () => {
  assert.equal(serve(["--eviction-policy", "NONE"]).eviction.policy, "none");
  assert.equal(serve([], { FLAME_LOG: "WARNING" }).logLevel, "warn");
});

Deno.test("storage: default is <cwd>/flame-cache-data", () => {
  assert.deepEqual(serve([]).storage, { kind: "fs", root: "/srv/flame/flame-cache-data" });
  const cmd = parseCommand([], {}, NO_IFACES);
  assert.equal(cmd.name, "serve");
  if (cmd.name === "serve") {
    assert.deepEqual(cmd.config.storage, { kind: "fs", root: `${Deno.cwd()}/flame-cache-data` });
  }
});

Deno.test("storage: none and empty string mean no persistence", () => {
  assert.deepEqual(serve(["--storage", "none"]).storage, { kind: "none" });
  assert.deepEqual(serve(["--storage", ""]).storage, { kind: "none" });
  assert.deepEqual(serve([], { FLAME_CACHE_STORAGE: "none" }).storage, { kind: "none" });
  assert.deepEqual(serve(["--config", tmpYaml('cache:\n  storage: ""\n')]).storage, { kind: "none" });
});

Deno.test("storage: fs:// and file:// absolute, or relative to FLAME_HOME (default /var/lib/flame)", () => {
  assert.deepEqual(parseStorage("fs:///var/x", "k", CWD), { kind: "fs", root: "/var/x" });
  assert.deepEqual(parseStorage("file:///var/x/", "k", CWD), { kind: "fs", root: "/var/x" });
  assert.deepEqual(parseStorage("fs://cache", "k", CWD), { kind: "fs", root: "/var/lib/flame/cache" });
  assert.deepEqual(parseStorage("fs://cache", "k", CWD, ""), { kind: "fs", root: "/var/lib/flame/cache" });
  assert.deepEqual(parseStorage("file://a/b", "k", CWD, "/opt/flame"), {
    kind: "fs",
    root: "/opt/flame/a/b",
  });
  assert.deepEqual(serve(["--storage", "fs://cache"], { FLAME_HOME: "/opt/flame" }).storage, {
    kind: "fs",
    root: "/opt/flame/cache",
  });
  assert.deepEqual(
    serve(["--config", tmpYaml("cache:\n  storage: fs://c2\n")], { FLAME_HOME: "/home/f" }).storage,
    {
      kind: "fs",
      root: "/home/f/c2",
    },
  );
  assert.deepEqual(serve([], { FLAME_CACHE_STORAGE: "fs://c3" }).storage, {
    kind: "fs",
    root: "/var/lib/flame/c3",
  });
});

Deno.test("storage: a plain path is relative to the working directory, made absolute", () => {
  assert.deepEqual(serve(["--storage", "data/cache"]).storage, { kind: "fs", root: "/srv/flame/data/cache" });
  assert.deepEqual(serve(["--storage", "../other"]).storage, { kind: "fs", root: "/srv/other" });
  assert.deepEqual(serve(["--storage", "/abs/dir"]).storage, { kind: "fs", root: "/abs/dir" });
});

Deno.test("cleanup temp files", () => {
  for (const p of cleanup.splice(0)) Deno.removeSync(p);
});

Deno.test("FLAME_CACHE_HTTP turns the side port on; the flag overrides it", async () => {
  const { parseCommand } = await import("../../src/cli/args.ts");
  const env = { FLAME_CACHE_HTTP: "127.0.0.1:9191", HOME: "/nonexistent" };
  const c = parseCommand(["serve"], env);
  assert.ok(c.name === "serve");
  if (c.name === "serve") assert.deepEqual(c.config.http, { host: "127.0.0.1", port: 9191 });
  const d = parseCommand(["serve", "--http", "off"], env);
  if (d.name === "serve") assert.equal(d.config.http, undefined);
});

Deno.test("idle timeout: default 300 s; file, env and flag; durations; bad values name the key", async () => {
  const { parseCommand } = await import("../../src/cli/args.ts");
  const { ConfigError } = await import("../../src/config/mod.ts");
  const serve = (argv: string[], env: Record<string, string> = {}) => {
    const c = parseCommand(["serve", ...argv], { HOME: "/nonexistent", ...env });
    if (c.name !== "serve") throw new Error("expected serve");
    return c.config;
  };
  assert.equal(serve([]).idleTimeoutMs, 300_000);
  assert.equal(serve(["--idle-timeout", "2s"]).idleTimeoutMs, 2_000);
  assert.equal(serve(["--idle-timeout", "500ms"]).idleTimeoutMs, 500);
  assert.equal(serve(["--idle-timeout", "90"]).idleTimeoutMs, 90_000);
  assert.equal(serve([], { FLAME_CACHE_IDLE_TIMEOUT: "5m" }).idleTimeoutMs, 300_000);
  assert.equal(serve(["--idle-timeout", "1h"], { FLAME_CACHE_IDLE_TIMEOUT: "5m" }).idleTimeoutMs, 3_600_000);
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/c.yaml`, "cache:\n  idle_timeout: 45s\n");
  assert.equal(serve(["--config", `${dir}/c.yaml`]).idleTimeoutMs, 45_000);
  for (
    const [argv, env, key] of [
      [["--idle-timeout", "soon"], {}, "--idle-timeout"],
      [["--idle-timeout", "0s"], {}, "--idle-timeout"],
      [[], { FLAME_CACHE_IDLE_TIMEOUT: "-1" }, "FLAME_CACHE_IDLE_TIMEOUT"],
    ] as [string[], Record<string, string>, string][]
  ) {
    assert.throws(() => serve(argv, env), (e) => e instanceof ConfigError && e.key === key);
  }
  await Deno.remove(dir, { recursive: true });
});
