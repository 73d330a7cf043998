/**
 * `cache.http_auth` / `--http-auth` / `cache.metrics_token_file`: the default
 * follows auth and whether the side port is on loopback; bad values name their key.
 */
import assert from "node:assert/strict";
import { ConfigError } from "../../src/config/mod.ts";
import { parseCommand } from "../../src/cli/args.ts";
import { isLoopbackHost } from "../../src/config/http_auth.ts";

const AUTH = "cache:\n  auth:\n    token_env: T\n";

function load(yaml: string, flags: string[]) {
  const dir = Deno.makeTempDirSync();
  Deno.writeTextFileSync(`${dir}/c.yaml`, yaml);
  Deno.writeTextFileSync(`${dir}/m.token`, " metrics-secret \n");
  try {
    const cmd = parseCommand(
      ["serve", "--config", `${dir}/c.yaml`, "--storage", "none", ...flags],
      {
        T: "tok",
      },
      {},
      dir,
    );
    assert.equal(cmd.name, "serve");
    return cmd.config;
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

Deno.test("http auth: token by default when auth is on and the side port is not on loopback", () => {
  assert.deepEqual(load(AUTH, ["--http", "0.0.0.0:9100"]).httpAuth, { mode: "token" });
  assert.deepEqual(load(AUTH, ["--http", ":9100"]).httpAuth, { mode: "token" });
  assert.deepEqual(load(AUTH, ["--http", "10.1.2.3:9100"]).httpAuth, { mode: "token" });
  assert.deepEqual(load(AUTH, ["--http", "127.0.0.1:9100"]).httpAuth, { mode: "none" });
  assert.deepEqual(load(AUTH, ["--http", "[::1]:9100"]).httpAuth, { mode: "none" });
  assert.deepEqual(load("", ["--http", "0.0.0.0:9100"]).httpAuth, { mode: "none" }, "auth off: open");
  assert.deepEqual(load(AUTH, ["--http", "0.0.0.0:9100", "--http-auth", "none"]).httpAuth, { mode: "none" });
  assert.equal(load(AUTH, []).httpAuth, undefined, "no side port, no rule");
});

Deno.test("http auth: a metrics token file turns token mode on and is read trimmed", () => {
  const c = load("cache:\n  metrics_token_file: m.token\n", ["--http", "127.0.0.1:9100"]);
  assert.deepEqual(c.httpAuth, { mode: "token", metricsToken: "metrics-secret" });
  assert.deepEqual(c.warnings, []);
});

Deno.test("http auth: mistakes name their setting", () => {
  assert.throws(() => load(AUTH, ["--http", "127.0.0.1:1", "--http-auth", "bearer"]), (e: unknown) => {
    assert.ok(e instanceof ConfigError);
    assert.equal(e.key, "--http-auth");
    return true;
  });
  assert.throws(() => load("cache:\n  http_auth: token\n", ["--http", "127.0.0.1:1"]), (e: unknown) => {
    assert.ok(e instanceof ConfigError);
    assert.equal(e.key, "cache.http_auth");
    return true;
  });
  assert.throws(
    () => load("cache:\n  metrics_token_file: missing.token\n", ["--http", "127.0.0.1:1"]),
    (e: unknown) => e instanceof ConfigError && e.key === "cache.metrics_token_file",
  );
  assert.throws(
    () => load(AUTH + "    tokens_per_user: 0\n", []),
    (e: unknown) => e instanceof ConfigError && e.key === "cache.auth.tokens_per_user",
  );
});

Deno.test("http auth: loopback hosts", () => {
  for (const h of ["127.0.0.1", "127.1.2.3", "::1", "localhost"]) assert.ok(isLoopbackHost(h), h);
  for (const h of ["0.0.0.0", "::", "", "10.0.0.1", "fe80::1"]) assert.ok(!isLoopbackHost(h), h);
});
