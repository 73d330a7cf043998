/**
 * The admin subcommands (`ls`, `stat`, `get`, `put`, `rm`) run as
 * `deno run -A main.ts <sub> ... --endpoint grpc://127.0.0.1:PORT` against a
 * real server: human output, `--json` documents, exit codes (0 ok, 1 server or
 * I/O error, 2 usage) and one-line error messages; bearer tokens from the
 * environment.
 */
import assert from "node:assert/strict";
import { startServer, type TestServer } from "../helpers/server.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;
const dec = new TextDecoder();

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  raw: Uint8Array;
}

async function cli(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { FLAME_CACHE_CONFIG: "", FLAME_CACHE_TOKEN: "", NO_COLOR: "1", ...env },
  }).output();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr), raw: out.stdout };
}

function withServer(name: string, fn: (server: TestServer, ep: string[], dir: string) => Promise<void>) {
  Deno.test({
    name,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      const server = await startServer();
      const dir = await Deno.makeTempDir();
      try {
        await fn(server, ["--endpoint", `grpc://127.0.0.1:${server.port}`], dir);
      } finally {
        await server.stop();
        await Deno.remove(dir, { recursive: true });
      }
    },
  });
}

withServer("admin: put, ls, stat, get, rm with human and --json output", async (server, ep, dir) => {
  const file = `${dir}/data.bin`;
  const data = new Uint8Array(3 * 1024 * 1024 + 7).map((_, i) => (i * 7) % 256);
  await Deno.writeFile(file, data);

  // put PREFIX FILE: human output.
  let r = await cli(["put", "app/s1", file, ...ep]);
  assert.equal(r.code, 0, r.stderr);
  const key = /^key:\s+(app\/s1\/[0-9a-f-]{36})$/m.exec(r.stdout)?.[1];
  assert.ok(key, r.stdout);
  assert.match(r.stdout, /^version:\s+1$/m);
  assert.match(r.stdout, new RegExp(`^endpoint:\\s+${server.endpoint.replaceAll(".", "\\.")}$`, "m"));
  assert.match(r.stdout, /^size:\s+3 MiB \(3145735 bytes\)$/m);

  // put KEY FILE --json: one JSON document.
  r = await cli(["put", "app/s1/named.bin", file, "--json", ...ep]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), {
    endpoint: server.endpoint,
    key: "app/s1/named.bin",
    version: 1,
    size: data.length,
  });
  r = await cli(["put", "app/s1/named.bin", file, "--json", ...ep]);
  assert.equal(JSON.parse(r.stdout).version, 2);
  await Deno.writeFile(`${dir}/small.txt`, new TextEncoder().encode("hello"));
  assert.equal((await cli(["put", "app/s2", `${dir}/small.txt`, ...ep])).code, 0);

  // ls: table with human sizes, sorted; prefix filter; --json.
  r = await cli(["ls", ...ep]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split("\n");
  assert.match(lines[0], /^KEY\s+VERSION\s+KIND\s+SIZE\s+RECORDS$/);
  assert.match(r.stdout, /app\/s1\/named\.bin\s+\S+\s+opaque\s+3 MiB\s+1/);
  assert.match(r.stdout, /app\/s2\/\S+\s+\S+\s+opaque\s+5 B\s+1/);
  assert.match(lines.at(-1)!, /^3 objects, 6 MiB$/);
  r = await cli(["ls", "app/s1", "--json", ...ep]);
  const listing = JSON.parse(r.stdout);
  assert.equal(listing.prefix, "app/s1");
  assert.equal(listing.endpoint, server.endpoint);
  assert.deepEqual(
    listing.objects.map((o: { key: string; size: number; records: number; kind: string }) => [
      o.key,
      o.size,
      o.records,
      o.kind,
    ]),
    [[key, data.length, 1, "opaque"], ["app/s1/named.bin", data.length, 1, "opaque"]].sort((a, b) =>
      String(a[0]).localeCompare(String(b[0]))
    ),
  );

  // stat.
  r = await cli(["stat", "app/s1/named.bin", ...ep]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^key:\s+app\/s1\/named\.bin$/m);
  assert.match(r.stdout, /^size:\s+3 MiB \(3145735 bytes\)$/m);
  assert.match(r.stdout, /^kind:\s+opaque$/m);
  r = await cli(["stat", "app/s1/named.bin", "--json", ...ep]);
  const st = JSON.parse(r.stdout);
  assert.deepEqual([st.key, st.size, st.records, st.kind, st.endpoint], [
    "app/s1/named.bin",
    data.length,
    1,
    "opaque",
    server.endpoint,
  ]);

  // get -o FILE, get to a pipe, get --json -o.
  r = await cli(["get", "app/s1/named.bin", "-o", `${dir}/out.bin`, ...ep]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(await Deno.readFile(`${dir}/out.bin`), data);
  assert.match(r.stderr, /wrote 3 MiB to .*out\.bin \(version 2\)/);
  r = await cli(["get", "app/s1/named.bin", ...ep]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.raw, data);
  r = await cli(["get", "app/s1/named.bin", "-o", `${dir}/out2.bin`, "--json", ...ep]);
  assert.deepEqual(JSON.parse(r.stdout), {
    key: "app/s1/named.bin",
    version: 2,
    kind: "opaque",
    bytes: data.length,
    path: `${dir}/out2.bin`,
  });

  // rm KEY, rm PREFIX.
  r = await cli(["rm", "app/s1/named.bin", "--json", ...ep]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { deleted: "app/s1/named.bin", matched: 1, ok: true });
  r = await cli(["rm", "app/*", ...ep]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), "deleted app/* (2 objects)");
  // Nothing left to match: said so, and still exit 0 (deletes are idempotent).
  r = await cli(["rm", "app/s1/named.bin", ...ep]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), "nothing matched app/s1/named.bin (nothing to delete)");
  r = await cli(["rm", "app/*", "--json", ...ep]);
  assert.deepEqual(JSON.parse(r.stdout), { deleted: "app/*", matched: 0, ok: true });
  r = await cli(["ls", "--json", ...ep]);
  assert.deepEqual(JSON.parse(r.stdout).objects, []);
  assert.equal((await cli(["ls", ...ep])).stdout.trim(), "no objects");
});

withServer("admin: exit codes and one-line errors", async (_server, ep, dir) => {
  // Missing key: 1, with the server's message and status name.
  let r = await cli(["get", "app/s/missing", "-o", `${dir}/x`, ...ep]);
  assert.equal(r.code, 1);
  assert.equal(r.stderr.trim(), "flame-cache: object app/s/missing not found (NOT_FOUND)");
  assert.deepEqual([...Deno.readDirSync(dir)], [], "no file left behind");
  r = await cli(["get", "app/s/missing", ...ep]);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, "");
  r = await cli(["stat", "app/s/missing", ...ep]);
  assert.equal(r.code, 1);
  assert.equal(r.stderr.trim(), "flame-cache: object app/s/missing not found (NOT_FOUND)");
  // Bad key: INVALID_ARGUMENT from the server.
  r = await cli(["stat", "app/../x", ...ep]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^flame-cache: .+ \(INVALID_ARGUMENT\)\n$/);
  // Local I/O: 1.
  r = await cli(["put", "app/s", `${dir}/nope.bin`, ...ep]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^flame-cache: cannot read .*nope\.bin: no such file\n$/);
  r = await cli(["get", "app/s/x", "-o", `${dir}/no/such/dir/f`, ...ep]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /directory .* does not exist/);
  // Unreachable server: 1, UNAVAILABLE.
  r = await cli(["ls", "--endpoint", "grpc://127.0.0.1:1"]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^flame-cache: cannot connect to grpc:\/\/127\.0\.0\.1:1: .*\(UNAVAILABLE\)\n$/);
  // put with a one-part prefix: refused as the help says (APP/SESSION), before any upload.
  await Deno.writeTextFile(`${dir}/small.txt`, "x");
  r = await cli(["put", "myapp", `${dir}/small.txt`, ...ep]);
  assert.equal(r.code, 2);
  assert.equal(
    r.stderr,
    `flame-cache: put: "myapp" is not APP/SESSION or APP/SESSION/OBJECT; usage: flame-cache put APP/SESSION[/OBJECT] FILE\n`,
  );
  assert.equal((await cli(["ls", "--json", ...ep])).stdout.includes("myapp"), false);
  // Usage: 2.
  for (
    const args of [
      ["get"],
      ["stat"],
      ["put", "app/s"],
      ["rm", "a", "b"],
      ["ls", "--output", "x"],
      ["get", "app/s/x", "--json"],
      ["put", "myapp", `${dir}/small.txt`],
      ["put", "a/b/c/d", `${dir}/small.txt`],
    ]
  ) {
    r = await cli([...args, ...ep]);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, /^flame-cache: /);
  }
});

Deno.test({
  name: "admin: bearer token from FLAME_CACHE_TOKEN",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir();
    await Deno.writeTextFile(`${dir}/tokens`, "s3cret admin\n");
    await Deno.writeTextFile(`${dir}/cfg.yaml`, `cache:\n  auth:\n    tokens_file: ${dir}/tokens\n`);
    const server = await startServer(["--config", `${dir}/cfg.yaml`]);
    try {
      const ep = ["--endpoint", `grpc://127.0.0.1:${server.port}`];
      let r = await cli(["ls", ...ep]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /\(UNAUTHENTICATED\)\n$/);
      r = await cli(["ls", "--json", ...ep], { FLAME_CACHE_TOKEN: "s3cret" });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(JSON.parse(r.stdout).objects, []);
      // The server's own configuration grants access too (an operator on the server host).
      r = await cli(["ls", "--json", "--config", `${dir}/cfg.yaml`, ...ep]);
      assert.equal(r.code, 0, r.stderr);
    } finally {
      await server.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "admin from source: 'deno task cli ls' works; 'deno run main.ts ls' names the missing permission",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const root = new URL("../..", import.meta.url).pathname;
    const server = await startServer();
    try {
      await cli(["put", "taskapp/s", MAIN, "--endpoint", server.endpoint]);
      const task = await new Deno.Command(Deno.execPath(), {
        args: ["task", "cli", "ls", "--endpoint", server.endpoint],
        cwd: root,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
        env: { FLAME_CACHE_CONFIG: "", NO_COLOR: "1" },
      }).output();
      assert.equal(task.code, 0, dec.decode(task.stderr));
      assert.match(dec.decode(task.stdout), /taskapp\/s\//);
    } finally {
      await server.stop();
    }
    const bare = await new Deno.Command(Deno.execPath(), {
      args: ["run", MAIN, "ls"],
      cwd: root,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(bare.code, 2);
    const err = dec.decode(bare.stderr);
    assert.equal(err.trim().split("\n").length, 1, err);
    assert.match(err, /^flame-cache: missing permission --allow-env.*'deno task cli ls \.\.\.'/);
    assert.doesNotMatch(err, /\bat \w+ \(|--allow-all/);
  },
});
