import assert from "node:assert/strict";
import { type Command, ConfigError, type Interfaces, VERSION } from "../../src/config/mod.ts";
import { parseCommand } from "../../src/cli/args.ts";

const CWD = "/srv/flame";
const NO_IFACES = {} as Interfaces;

function parse(argv: string[], env: Record<string, string> = {}): Command {
  return parseCommand(argv, env, NO_IFACES, CWD);
}
function admin(argv: string[], env: Record<string, string> = {}): Extract<Command, { name: "admin" }> {
  const cmd = parse(argv, env);
  assert.equal(cmd.name, "admin");
  return cmd as Extract<Command, { name: "admin" }>;
}
function throwsKey(fn: () => unknown, key: string, pattern?: RegExp) {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ConfigError, `expected ConfigError, got ${e}`);
    assert.equal(e.key, key, e.message);
    if (pattern) assert.match(e.message, pattern);
    return true;
  });
}

Deno.test("VERSION matches deno.json", () => {
  const denoJson = JSON.parse(Deno.readTextFileSync(new URL("../../deno.json", import.meta.url)));
  assert.equal(VERSION, denoJson.version);
});

Deno.test("no command word means serve; 'serve' is accepted explicitly", () => {
  assert.equal(parse([]).name, "serve");
  assert.equal(parse(["serve"]).name, "serve");
  assert.equal(parse(["serve", "--max-objects", "5"]).name, "serve");
  assert.equal(parse(["--max-objects", "5", "serve"]).name, "serve");
});

Deno.test("a stray -- anywhere is ignored", () => {
  for (
    const argv of [
      ["--"],
      ["serve", "--"],
      ["--", "serve"],
      ["serve", "--", "--max-objects", "7"],
      ["--max-objects", "7", "--"],
      ["--", "--", "--max-objects=7"],
    ]
  ) {
    const cmd = parse(argv);
    assert.equal(cmd.name, "serve", JSON.stringify(argv));
  }
  const cmd = parse(["serve", "--", "--max-objects", "7"]);
  assert.ok(cmd.name === "serve" && cmd.config.eviction.maxObjects === 7);
  const ls = admin(["ls", "--", "app1", "--json"]);
  assert.deepEqual(ls.args, ["app1"]);
  assert.equal(ls.json, true);
});

Deno.test("--help / -h / help give the help text, which lists every flag and env var", () => {
  for (
    const argv of [["--help"], ["-h"], ["help"], ["ls", "--help"], ["--max-memory", "bad", "-h"], [
      "--bogus",
      "--help",
    ]]
  ) {
    const cmd = parse(argv);
    assert.equal(cmd.name, "help", JSON.stringify(argv));
  }
  const cmd = parse(["--help"]);
  assert.ok(cmd.name === "help");
  for (
    const flag of [
      "--config",
      "--listen",
      "--endpoint",
      "--storage",
      "--max-memory",
      "--max-objects",
      "--eviction-policy",
      "--capacity",
      "--http",
      "--log-level",
      "--help",
      "--version",
      "--json",
      "--output",
    ]
  ) {
    assert.ok(cmd.text.includes(flag), flag);
  }
  for (
    const env of [
      "FLAME_CACHE_CONFIG",
      "FLAME_CACHE_ENDPOINT",
      "FLAME_CACHE_STORAGE",
      "FLAME_CACHE_EVICTION_POLICY",
      "FLAME_CACHE_MAX_MEMORY",
      "FLAME_CACHE_MAX_OBJECTS",
      "FLAME_CACHE_CAPACITY",
      "FLAME_LOG",
      "FLAME_HOME",
    ]
  ) {
    assert.ok(cmd.text.includes(env), env);
  }
  for (
    const dflt of ["default: 1G", "default: lru", "default: info", "grpc://127.0.0.1:9090", "/var/lib/flame"]
  ) {
    assert.ok(cmd.text.includes(dflt), dflt);
  }
  for (const sub of ["ls", "stat", "get", "put", "rm"]) {
    assert.ok(cmd.text.includes(`flame-cache ${sub}`), sub);
  }
});

Deno.test("--version / -V / version", () => {
  for (const argv of [["--version"], ["-V"], ["version"], ["--", "-V"]]) {
    const cmd = parse(argv);
    assert.deepEqual(cmd, { name: "version", text: `flame-cache ${VERSION}` }, JSON.stringify(argv));
  }
});

Deno.test("help/version do not read the configuration", () => {
  assert.equal(parse(["--help", "--config", "/nonexistent.yaml"]).name, "help");
  assert.equal(parse(["-V"], { FLAME_CACHE_MAX_MEMORY: "bogus" }).name, "version");
});

Deno.test("unknown flags are errors whose key is the flag", () => {
  throwsKey(() => parse(["--bogus"]), "--bogus", /unknown flag/);
  throwsKey(() => parse(["--bogus=1"]), "--bogus");
  throwsKey(() => parse(["-x"]), "-x");
  throwsKey(() => parse(["serve", "--max-mem", "1G"]), "--max-mem");
  throwsKey(() => parse(["ls", "--verbose"]), "--verbose");
});

Deno.test("flag value problems: missing value, value on a boolean", () => {
  throwsKey(() => parse(["--config"]), "--config", /requires a value/);
  throwsKey(() => parse(["--max-memory"]), "--max-memory", /requires a value/);
  throwsKey(() => parse(["--listen", "--max-memory", "1G"]), "--listen", /requires a value/);
  throwsKey(() => parse(["ls", "--json=yes"]), "--json", /does not take a value/);
});

Deno.test("unknown commands and extra serve arguments are errors", () => {
  throwsKey(() => parse(["start"]), "start", /unknown command/);
  throwsKey(() => parse(["serve", "extra"]), "extra", /unexpected argument/);
});

Deno.test("flags of the wrong command are rejected", () => {
  throwsKey(() => parse(["--json"]), "--json", /not valid for the serve command/);
  throwsKey(() => parse(["-o", "f"]), "-o");
  throwsKey(() => parse(["ls", "--max-memory", "1G"]), "--max-memory", /not valid for the ls command/);
  throwsKey(() => parse(["stat", "a/b/c", "--storage", "none"]), "--storage");
  throwsKey(() => parse(["ls", "-o", "file"]), "-o", /only valid for get/);
});

Deno.test("later flags win over earlier ones", () => {
  const cmd = parse(["--max-objects", "1", "--max-objects", "2"]);
  assert.ok(cmd.name === "serve" && cmd.config.eviction.maxObjects === 2);
});

Deno.test("admin: ls [PREFIX]", () => {
  const a = admin(["ls"]);
  assert.equal(a.sub, "ls");
  assert.deepEqual(a.args, []);
  assert.equal(a.json, false);
  assert.equal(a.output, undefined);
  assert.equal(a.endpoint, "grpc://127.0.0.1:9090");
  assert.deepEqual(admin(["ls", "app/session", "--json"]).args, ["app/session"]);
  throwsKey(() => parse(["ls", "a", "b"]), "ls", /usage: flame-cache ls \[PREFIX\]/);
});

Deno.test("admin: stat KEY, get KEY [-o FILE], put PREFIX|KEY FILE, rm KEY|PREFIX", () => {
  assert.deepEqual(admin(["stat", "a/s/o"]).args, ["a/s/o"]);
  const get = admin(["get", "a/s/o", "-o", "out.bin"]);
  assert.deepEqual(get.args, ["a/s/o"]);
  assert.equal(get.output, "out.bin");
  assert.equal(admin(["get", "--output=x.bin", "a/s/o"]).output, "x.bin");
  assert.equal(admin(["get", "a/s/o"]).output, undefined);
  assert.deepEqual(admin(["put", "a/s", "file.txt"]).args, ["a/s", "file.txt"]);
  assert.deepEqual(admin(["rm", "a/s"]).args, ["a/s"]);
  throwsKey(() => parse(["stat"]), "stat", /KEY/);
  throwsKey(() => parse(["get"]), "get");
  throwsKey(() => parse(["put", "a/s"]), "put", /FILE/);
  throwsKey(() => parse(["put", "a/s", "f", "g"]), "put");
  throwsKey(() => parse(["rm"]), "rm");
});

Deno.test("admin endpoint: --endpoint (URI or HOST:PORT), else the configured advertised endpoint", () => {
  assert.equal(admin(["ls", "--endpoint", "grpc://10.1.1.1:9000"]).endpoint, "grpc://10.1.1.1:9000");
  assert.equal(admin(["ls", "--endpoint", "cache:9000"]).endpoint, "grpc://cache:9000");
  assert.equal(admin(["ls", "--endpoint", "grpcs://cache"]).endpoint, "grpc+tls://cache:9090");
  assert.equal(
    admin(["ls"], { FLAME_CACHE_ENDPOINT: "grpc://10.2.2.2:9001" }).endpoint,
    "grpc://10.2.2.2:9001",
  );
  assert.equal(
    admin(["ls"], { FLAME_CACHE_ENDPOINT: "grpc://0.0.0.0:9001" }).endpoint,
    "grpc://127.0.0.1:9001",
  );
  throwsKey(() => parse(["ls", "--endpoint", "nope://x"]), "--endpoint");
});

Deno.test("admin reads --config and --log-level into its config", () => {
  const path = Deno.makeTempFileSync({ suffix: ".yaml" });
  try {
    Deno.writeTextFileSync(path, "cache:\n  endpoint: grpc://10.3.3.3:7000\n");
    const a = admin(["stat", "a/b/c", "--config", path, "--log-level", "debug"]);
    assert.equal(a.endpoint, "grpc://10.3.3.3:7000");
    assert.equal(a.config.configPath, path);
    assert.equal(a.config.logLevel, "debug");
    throwsKey(() => parse(["ls", "--log-level", "x"]), "--log-level");
  } finally {
    Deno.removeSync(path);
  }
});
