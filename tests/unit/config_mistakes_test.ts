/**
 * Configuration mistakes a newcomer makes: a YAML syntax error is reported at
 * the line the user has to fix, a misspelled `cache:` section warns instead of
 * being silently ignored, and `put` with a one-part prefix is a usage error.
 */
import assert from "node:assert/strict";
import { type CacheConfig, ConfigError, type Interfaces } from "../../src/config/mod.ts";
import { parseCommand } from "../../src/cli/args.ts";

function withFile<T>(yaml: string, fn: (path: string) => T): T {
  const path = Deno.makeTempFileSync({ prefix: "flame-cache-cfg-", suffix: ".yaml" });
  try {
    Deno.writeTextFileSync(path, yaml);
    return fn(path);
  } finally {
    Deno.removeSync(path);
  }
}

function serveWith(yaml: string): CacheConfig {
  return withFile(yaml, (path) => {
    const cmd = parseCommand(["--config", path], {}, {} as Interfaces, "/srv");
    assert.equal(cmd.name, "serve");
    return (cmd as { config: CacheConfig }).config;
  });
}

function errorOf(yaml: string): ConfigError {
  try {
    serveWith(yaml);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err;
  }
  throw new Error("expected a ConfigError");
}

Deno.test("YAML: an unclosed quote is reported at the line that opens it", () => {
  const dq = errorOf(
    'cache:\n  endpoint: "grpc://127.0.0.1:9090\n  storage: none\n  eviction:\n    policy: lru\n',
  );
  assert.match(dq.message, /YAML syntax error in .* line 2, column 13: Missing closing "quote/);
  const sq = errorOf("cluster:\n  name: x\ncache:\n  storage: 'none\n  log_level: info\n");
  assert.match(sq.message, /line 4, column 12: Missing closing 'quote/);
  // Earlier, closed quotes do not confuse it.
  const later = errorOf('cache:\n  endpoint: "grpc://127.0.0.1:9090"\n  storage: "none\n  log_level: info\n');
  assert.match(later.message, /line 3, column 12/);
  // Other syntax errors keep the parser's position.
  assert.match(errorOf("cache:\n  storage: [a, b\n  x: 1\n").message, /line 3/);
});

Deno.test("YAML: a misspelled top-level cache: section warns; Flame's other sections do not", () => {
  for (const key of ["cach", "Cache", "caches", "cahce"]) {
    const c = serveWith(`cluster:\n  name: flame\n${key}:\n  storage: none\n`);
    assert.deepEqual(c.warnings.filter((w) => w.includes("top-level")).length, 1, `${key}: ${c.warnings}`);
    assert.match(
      c.warnings[0],
      new RegExp(`unknown top-level key "${key}" in .* \\(ignored; did you mean cache:\\?\\)`),
    );
    assert.equal(c.storage.kind, "fs", "the misspelled section is not read");
  }
  const ok = serveWith("cluster:\n  name: flame\nexecutors:\n  x: 1\ncache:\n  storage: none\n");
  assert.deepEqual(ok.warnings, []);
});

Deno.test("put: a one-part prefix is refused as the help says (APP/SESSION[/OBJECT])", () => {
  const put = (target: string) => parseCommand(["put", target, "file.bin"], {}, {} as Interfaces, "/srv");
  for (const bad of ["myapp", "a/b/c/d", "a//b", "/a/b"]) {
    assert.throws(() => put(bad), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.equal(e.key, "put");
      assert.match(
        e.message,
        /is not APP\/SESSION or APP\/SESSION\/OBJECT; usage: flame-cache put APP\/SESSION\[\/OBJECT\] FILE/,
      );
      return true;
    });
  }
  for (const good of ["myapp/s1", "myapp/s1/obj"]) assert.equal(put(good).name, "admin");
});

Deno.test("help: documents rm's idempotence, put's target and the new flags", () => {
  const cmd = parseCommand(["--help"], {}, {} as Interfaces, "/srv");
  assert.equal(cmd.name, "help");
  const text = (cmd as { text: string }).text;
  assert.match(text, /put APP\/SESSION\[\/OBJECT\] FILE/);
  assert.match(text, /nothing matched \(still exit 0: deletes are idempotent\)/);
  for (const flag of ["--idle-timeout DURATION", "--http-auth none\\|token"]) {
    assert.match(text, new RegExp(flag));
  }
});
