/**
 * What `deno task serve` installs on a fresh clone: the root deno.json and
 * deno.lock hold only the server's and CLI's npm packages (with
 * nodeModulesDir "auto", Deno installs every package the lockfile lists).
 * Test-only packages live in tests/deno.json and tests/deno.lock.
 */
import assert from "node:assert/strict";

const ROOT = new URL("../../", import.meta.url).pathname;
const json = (path: string) => JSON.parse(Deno.readTextFileSync(`${ROOT}${path}`));

/** Test-only packages, and packages only they pull in (protobufjs has the ignored build script). */
const TEST_ONLY = ["@grpc/grpc-js", "@grpc/proto-loader", "fast-check", "protobufjs", "yargs", "pure-rand"];
const nameOf = (key: string) => key.slice(0, key.lastIndexOf("@"));

Deno.test("deps: the root import map and lockfile hold only what serving and the CLI need", () => {
  const config = json("deno.json");
  const lock = json("deno.lock");
  const imports = Object.keys(config.imports).sort();
  for (const pkg of TEST_ONLY) assert.ok(!imports.includes(pkg), `deno.json imports the test-only ${pkg}`);
  const locked = Object.keys(lock.npm).map(nameOf);
  for (const pkg of TEST_ONLY) assert.ok(!locked.includes(pkg), `deno.lock lists the test-only ${pkg}`);
  assert.deepEqual(
    [...lock.workspace.dependencies].sort(),
    imports.map((k) => config.imports[k]).sort(),
    "deno.lock matches deno.json's imports",
  );
  // Every locked package is reachable from the imports: nothing stale that `deno install` would fetch.
  const reach = new Set<string>();
  const stack = imports.map((k) => config.imports[k].slice(4));
  while (stack.length > 0) {
    const key = stack.pop()!;
    if (reach.has(key)) continue;
    reach.add(key);
    for (const dep of lock.npm[key]?.dependencies ?? []) {
      stack.push(Object.keys(lock.npm).find((k) => nameOf(k) === dep || k === dep)!);
    }
  }
  assert.deepEqual([...reach].sort(), Object.keys(lock.npm).sort());
});

Deno.test("deps: tests/deno.json pins the same serving packages and adds the test-only ones", () => {
  const root = json("deno.json").imports;
  const tests = json("tests/deno.json").imports;
  for (const [name, spec] of Object.entries(root)) assert.equal(tests[name], spec, name);
  for (const name of ["@grpc/grpc-js", "@grpc/proto-loader", "fast-check"]) assert.ok(tests[name], name);
  assert.equal(json("tests/deno.json").lock, "deno.lock");
});

Deno.test("deps: the server and CLI sources import no test-only package", () => {
  const files = ["main.ts"];
  const walk = (dir: string) => {
    for (const e of Deno.readDirSync(`${ROOT}${dir}`)) {
      if (e.isDirectory) walk(`${dir}/${e.name}`);
      else if (e.name.endsWith(".ts")) files.push(`${dir}/${e.name}`);
    }
  };
  walk("src");
  for (const f of files) {
    const text = Deno.readTextFileSync(`${ROOT}${f}`);
    for (const pkg of TEST_ONLY) assert.ok(!text.includes(`"${pkg}"`), `${f} imports ${pkg}`);
  }
});
