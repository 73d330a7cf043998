/**
 * The TypeScript client against real server processes: put/get/update/patch/
 * delete round trips, the version-aware local cache (not-modified and
 * patch-only replies, observed through cache stats and bytes received), native
 * tables, typed errors, list/stat, bearer tokens and the Handshake.
 */
import assert from "node:assert/strict";
import { tableFromArrays } from "apache-arrow";
import {
  CacheClientError,
  type CacheObject,
  CancelledError,
  FlameCacheClient,
  InvalidArgumentError,
  NotFoundError,
  PermissionDeniedError,
  UnauthenticatedError,
  UnavailableError,
} from "../../src/client/mod.ts";
import { startServer, type TestServer } from "../helpers/server.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

function withServer(
  name: string,
  fn: (server: TestServer) => Promise<void>,
  flags: string[] = [],
  env: Record<string, string> = {},
) {
  Deno.test({
    name,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      const server = await startServer(flags, { env });
      try {
        await fn(server);
      } finally {
        const status = await server.stop();
        assert.equal(status.code, 0, `server exit code; logs:\n${server.logs()}`);
      }
    },
  });
}

async function withClient<T>(
  server: TestServer,
  fn: (c: FlameCacheClient) => Promise<T>,
  opts = {},
): Promise<T> {
  const c = await FlameCacheClient.connect(server.endpoint, opts);
  try {
    return await fn(c);
  } finally {
    await c.close();
  }
}

function text(obj: CacheObject): string {
  assert.equal(obj.kind, "opaque");
  return obj.kind === "opaque" ? dec.decode(obj.base) : "";
}

withServer("client: put, get, update, patch, delete round trips", async (server) => {
  await withClient(server, async (c) => {
    assert.equal(c.endpoint, server.endpoint);
    const ref = await c.putObject("app/s1", enc.encode("hello"));
    assert.match(ref.key, /^app\/s1\/[0-9a-f-]{36}$/);
    assert.equal(ref.version, 1);
    assert.equal(ref.endpoint, server.endpoint);
    const got = await c.getObject(ref);
    assert.deepEqual({ ...got, base: text(got) }, {
      kind: "opaque",
      key: ref.key,
      version: 1,
      base: "hello",
      patches: [],
    });

    // Explicit key, then update and patches.
    const fixed = await c.putObject("app/s1/fixed", enc.encode("v1"));
    assert.deepEqual([fixed.key, fixed.version], ["app/s1/fixed", 1]);
    const upd = await c.updateObject(fixed, enc.encode("v2"));
    assert.equal(upd.version, 2);
    assert.equal(text(await c.getObject(fixed.key)), "v2");
    assert.equal((await c.patchObject(upd, enc.encode("+a"))).version, 3);
    assert.equal((await c.patchObject(upd.key, enc.encode("+b"))).version, 4);
    const patched = await c.getObject(fixed.key);
    assert.equal(patched.kind, "opaque");
    if (patched.kind === "opaque") {
      assert.equal(patched.version, 4);
      assert.equal(dec.decode(patched.base), "v2");
      assert.deepEqual(patched.patches.map((p) => [p.version, dec.decode(p.data)]), [[3, "+a"], [4, "+b"]]);
    }
    // An update drops the patches.
    await c.updateObject(fixed, enc.encode("v5"));
    const replaced = await c.getObject(fixed);
    assert.equal(replaced.version, 5);
    assert.equal(replaced.kind === "opaque" && replaced.patches.length, 0);

    // Empty and multi-MiB payloads.
    const empty = await c.putObject("app/s1", new Uint8Array(0));
    assert.equal(text(await c.getObject(empty)), "");
    const big = new Uint8Array(5 << 20).map((_, i) => i % 253);
    const bigRef = await c.putObject("app/s2", big);
    const bigGot = await c.getObject(bigRef);
    assert.ok(bigGot.kind === "opaque" && bigGot.base.length === big.length);
    assert.ok(bigGot.kind === "opaque" && bigGot.base.every((b, i) => b === big[i]));

    // Deletes: exact, session, whole app.
    await c.deleteObjects(ref.key);
    await assert.rejects(() => c.getObject(ref), NotFoundError);
    await c.deleteObjects("app/s1");
    await assert.rejects(() => c.getObject(fixed), NotFoundError);
    assert.equal((await c.list("app/")).length, 1);
    await c.deleteObjects("app/*");
    assert.equal((await c.list()).length, 0);
    await c.deleteObjects("app/nothing-here"); // succeeds when nothing matches
  });
});

withServer("client cache: not-modified and patch-only replies are served locally", async (server) => {
  const payload = new Uint8Array(2 << 20).fill(7);
  await withClient(server, async (reader) => {
    await withClient(server, async (writer) => {
      const ref = await writer.putObject("app/cache", payload);

      let before = reader.bytesReceived;
      const first = await reader.getObject(ref);
      assert.equal(first.version, 1);
      assert.ok(reader.bytesReceived - before >= payload.length, "first read transfers the object");
      assert.equal(reader.cacheStats()!.full, 1);

      // Unchanged: "not modified", a few hundred bytes.
      before = reader.bytesReceived;
      const again = await reader.getObject(ref);
      assert.ok(
        reader.bytesReceived - before < 2048,
        `not-modified is small (${reader.bytesReceived - before})`,
      );
      assert.equal(reader.cacheStats()!.notModified, 1);
      assert.equal(
        again.kind === "opaque" && again.base,
        first.kind === "opaque" && first.base,
        "same bytes",
      );

      // Another client patches: the reader receives only the patch.
      await writer.patchObject(ref, enc.encode("patch-2"));
      await writer.patchObject(ref, enc.encode("patch-3"));
      before = reader.bytesReceived;
      const p = await reader.getObject(ref.key);
      assert.ok(
        reader.bytesReceived - before < 4096,
        `patch-only reply is small (${reader.bytesReceived - before})`,
      );
      assert.equal(reader.cacheStats()!.patched, 1);
      assert.equal(p.version, 3);
      assert.ok(p.kind === "opaque" && p.base.length === payload.length);
      assert.deepEqual(p.kind === "opaque" && p.patches.map((x) => dec.decode(x.data)), [
        "patch-2",
        "patch-3",
      ]);

      // A replace by the other client: full read, patches gone.
      await writer.updateObject(ref, enc.encode("new"));
      const full = await reader.getObject(ref.key);
      assert.equal(full.version, 4);
      assert.equal(text(full), "new");
      assert.equal(reader.cacheStats()!.full, 2);

      // A ref with version 0 forces a full read.
      before = reader.bytesReceived;
      await reader.getObject({ ...ref, version: 0 });
      assert.equal(reader.cacheStats()!.full, 3);
      assert.equal(reader.cacheStats()!.notModified, 1);

      // The reader's own writes invalidate its entry.
      await reader.patchObject(ref, enc.encode("mine"));
      assert.equal(reader.cacheStats()!.entries, 0);
      const own = await reader.getObject(ref);
      assert.deepEqual(own.kind === "opaque" && own.patches.map((x) => dec.decode(x.data)), ["mine"]);
      await reader.deleteObjects("app/*");
      assert.equal(reader.cacheStats()!.entries, 0);
    });
  });
  // Cache off: every read is a full read.
  await withClient(server, async (c) => {
    const ref = await c.putObject("app/nocache", payload);
    await c.getObject(ref);
    const before = c.bytesReceived;
    await c.getObject(ref);
    assert.ok(c.bytesReceived - before >= payload.length);
    assert.equal(c.cacheStats(), undefined);
  }, { cache: false });
});

withServer("client: native Arrow tables round trip", async (server) => {
  await withClient(server, async (c) => {
    const table = tableFromArrays({
      id: Int32Array.from([1, 2, 3]),
      score: Float64Array.from([0.5, 1.5, 2.5]),
      name: ["a", "b", "c"],
    });
    const ref = await c.putObject("app/tables", table);
    assert.equal(ref.version, 1);
    const got = await c.getObject(ref);
    assert.equal(got.kind, "native");
    if (got.kind !== "native") return;
    assert.equal(got.version, 1);
    assert.equal(got.table.numRows, 3);
    assert.deepEqual([...got.table.getChild("id")!], [1, 2, 3]);
    assert.deepEqual([...got.table.getChild("name")!], ["a", "b", "c"]);
    assert.equal(got.table.schema.metadata.get("flame.cache.format"), "arrow-table-v1");
    assert.equal(got.table.schema.metadata.get("flame.cache.logical_type"), "pyarrow.table");
    // Cached: the second read is "not modified".
    await c.getObject(ref);
    assert.equal(c.cacheStats()!.notModified, 1);
    const upd = await c.updateObject(ref, tableFromArrays({ id: Int32Array.from([9]) }));
    const got2 = await c.getObject(upd);
    assert.equal(got2.version, 2);
    assert.deepEqual(got2.kind === "native" && [...got2.table.getChild("id")!], [9]);

    const info = await c.stat(ref.key);
    assert.equal(info.kind, "native");
    assert.equal(info.version, 2);
    assert.equal(info.records, 1);
    assert.deepEqual(info.columns?.map((col) => col.name), ["id"]);
  });
});

withServer("client: list and stat", async (server) => {
  await withClient(server, async (c) => {
    const a = await c.putObject("app1/s/a", enc.encode("12345"));
    await c.patchObject(a, enc.encode("678"));
    await c.putObject("app1/s/b", new Uint8Array(1000));
    await c.putObject("app2/s/c", new Uint8Array(10));
    const all = (await c.list()).map((o) => o.key).sort();
    assert.deepEqual(all, ["app1/s/a", "app1/s/b", "app2/s/c"]);
    const app1 = (await c.list("app1/")).sort((x, y) => x.key.localeCompare(y.key));
    assert.deepEqual(app1.map((o) => [o.key, o.size, o.records, o.kind]), [
      ["app1/s/a", 8, 2, "opaque"],
      ["app1/s/b", 1000, 1, "opaque"],
    ]);
    assert.equal(app1[0].endpoint, server.endpoint);
    const st = await c.stat("app1/s/a");
    assert.deepEqual([st.key, st.size, st.records, st.kind, st.endpoint], [
      "app1/s/a",
      8,
      2,
      "opaque",
      server.endpoint,
    ]);
    await assert.rejects(() => c.stat("app1/s/missing"), NotFoundError);
    // Handshake against a server without auth: no token, nothing stored.
    assert.equal(await c.handshake("anyone", "x"), "");
    assert.equal(c.token, undefined);
  });
});

withServer("client: errors map to typed codes", async (server) => {
  await withClient(server, async (c) => {
    const err = await c.getObject("app/s/missing").catch((e) => e);
    assert.ok(err instanceof NotFoundError);
    assert.equal(err.code, 5);
    assert.equal(err.codeName, "NOT_FOUND");
    assert.equal(err.message, "object app/s/missing not found");
    await assert.rejects(() => c.patchObject("app/s/missing", enc.encode("x")), NotFoundError);
    await assert.rejects(() => c.getObject("app/s/x/y"), InvalidArgumentError);
    await assert.rejects(() => c.getObject("app/../x"), InvalidArgumentError);
    await assert.rejects(() => c.putObject("a/b/c/d", enc.encode("x")), InvalidArgumentError);
    await assert.rejects(() => c.deleteObjects("../x"), InvalidArgumentError);
    await assert.rejects(() => c.getObject("app/s/with:colon"), InvalidArgumentError);
    await assert.rejects(() => c.putObject("", enc.encode("x")), InvalidArgumentError);
    // Non-ASCII server messages survive grpc-message percent-encoding.
    const e2 = await c.getObject("app/s/clé-ü").catch((e) => e);
    assert.ok(e2 instanceof NotFoundError);
    assert.equal(e2.message, "object app/s/clé-ü not found");
    // Cancellation and deadlines.
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(() => c.list("", { signal: ac.signal }), CancelledError);
    const ref = await c.putObject("app/s", new Uint8Array(64 << 20));
    const slow = await c.getObject(ref, { timeoutMs: 1 }).catch((e) => e);
    assert.ok(slow instanceof CacheClientError);
    assert.ok(["DEADLINE_EXCEEDED"].includes(slow.codeName), slow.codeName);
    // The connection is still usable afterwards.
    assert.equal((await c.getObject(ref)).version, 1);
  });
  // Nothing listening.
  const down = await FlameCacheClient.connect("grpc://127.0.0.1:1").catch((e) => e);
  assert.ok(down instanceof UnavailableError, String(down));
  assert.match(down.message, /127\.0\.0\.1:1/);
  // A lazy client fails on its first call instead.
  const lazy = await FlameCacheClient.connect("grpc://127.0.0.1:1", { lazy: true });
  await assert.rejects(() => lazy.list(), UnavailableError);
  await lazy.close();
});

Deno.test({
  name: "client auth: bearer tokens, Handshake, scopes",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      await Deno.writeTextFile(`${dir}/tokens`, "tok-admin admin\ntok-app1 worker app1\n");
      await Deno.writeTextFile(
        `${dir}/cfg.yaml`,
        `cache:\n  auth:\n    tokens_file: ${dir}/tokens\n    users:\n      - username: alice\n        password: wonderland\n        apps: [app2]\n`,
      );
      const server = await startServer(["--config", `${dir}/cfg.yaml`]);
      try {
        await withClient(server, async (c) => {
          await assert.rejects(() => c.list(), UnauthenticatedError);
          await assert.rejects(() => c.putObject("app1/s", enc.encode("x")), UnauthenticatedError);
          await assert.rejects(() => c.handshake("alice", "wrong"), UnauthenticatedError);
          const token = await c.handshake("alice", "wonderland");
          assert.match(token, /^[0-9a-f]{64}$/);
          assert.equal(c.token, token);
          const ref = await c.putObject("app2/s", enc.encode("hi"));
          assert.equal(text(await c.getObject(ref)), "hi");
          await assert.rejects(() => c.putObject("app1/s", enc.encode("x")), PermissionDeniedError);
        });
        await withClient(server, async (c) => {
          const ref = await c.putObject("app1/s", enc.encode("tok"));
          assert.equal(text(await c.getObject(ref)), "tok");
          await assert.rejects(() => c.deleteObjects("app2/*"), PermissionDeniedError);
        }, { token: "tok-app1" });
        await withClient(server, async (c) => {
          await assert.rejects(() => c.list(), UnauthenticatedError);
        }, { token: "nope" });
      } finally {
        const status = await server.stop();
        assert.equal(status.code, 0, server.logs());
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
