/**
 * Authentication: bearer tokens from a file and an env var, Basic -> Bearer
 * through the Flight Handshake, per-app scopes, and auth off by default.
 */
import assert from "node:assert/strict";
import {
  collect,
  connect,
  doAction,
  doPut,
  grpc,
  opaqueFlightData,
  statusOf,
} from "../helpers/flight_client.ts";
import { startServer } from "../helpers/server.ts";

const S = grpc.status;

function meta(token?: string, basic?: string): grpc.Metadata {
  const m = new grpc.Metadata();
  if (token) m.set("authorization", `Bearer ${token}`);
  if (basic) m.set("authorization", `Basic ${btoa(basic)}`);
  return m;
}

function putWith(client: ReturnType<typeof connect>, path: string, m: grpc.Metadata): Promise<Uint8Array[]> {
  return new Promise((resolve, reject) => {
    const results: Uint8Array[] = [];
    const call = client.DoPut(m);
    call.on("data", (r: { app_metadata: Uint8Array }) => results.push(r.app_metadata));
    call.on("error", reject);
    call.on("end", () => resolve(results));
    const msgs = opaqueFlightData([new TextEncoder().encode("secret payload")]);
    msgs[0].flight_descriptor = { type: 1, path: [path] };
    for (const x of msgs) call.write(x);
    call.end();
  });
}

function deleteWith(client: ReturnType<typeof connect>, sel: string, m: grpc.Metadata) {
  return collect(client.DoAction({ type: "DELETE", body: new TextEncoder().encode(sel) }, m));
}

Deno.test({
  name: "auth: tokens, handshake, scopes; tokens never logged",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir();
    const tokens = `${dir}/tokens`;
    await Deno.writeTextFile(tokens, "# name and app scope\ntok-admin admin\ntok-app1 worker app1\n");
    const cfg = `${dir}/flame-cluster.yaml`;
    await Deno.writeTextFile(
      cfg,
      `cache:\n  auth:\n    tokens_file: ${tokens}\n    token_env: CACHE_TOKEN\n    users:\n      - username: alice\n        password: wonderland\n        apps: [app2]\n`,
    );
    const server = await startServer(["--config", cfg], { env: { CACHE_TOKEN: "tok-env" } });
    const client = connect(server.address);
    try {
      // No token / wrong token / wrong scheme.
      assert.equal(
        (await statusOf(doPut(client, opaqueFlightData([new Uint8Array(1)])))).code,
        S.UNAUTHENTICATED,
      );
      assert.equal((await statusOf(putWith(client, "app1/s", meta("nope")))).code, S.UNAUTHENTICATED);
      assert.equal(
        (await statusOf(putWith(client, "app1/s", meta(undefined, "alice:wonderland")))).code,
        S.UNAUTHENTICATED,
      );
      assert.equal((await statusOf(doAction(client, "DELETE", "app1/*"))).code, S.UNAUTHENTICATED);
      // Static tokens.
      assert.equal((await putWith(client, "app1/s", meta("tok-admin"))).length, 1);
      assert.equal((await putWith(client, "any/s", meta("tok-env"))).length, 1);
      assert.equal((await putWith(client, "app1/s", meta("tok-app1"))).length, 1);
      // Scope: app1 token cannot touch app2.
      const denied = await statusOf(putWith(client, "app2/s", meta("tok-app1")));
      assert.equal(denied.code, S.PERMISSION_DENIED);
      assert.match(denied.details, /app2/);
      assert.equal(
        (await statusOf(deleteWith(client, "app2/*", meta("tok-app1")))).code,
        S.PERMISSION_DENIED,
      );
      // ListFlights shows only permitted apps.
      // deno-lint-ignore no-explicit-any
      const listed: any[] = await collect(
        client.ListFlights({ expression: new Uint8Array(0) }, meta("tok-app1")),
      );
      assert.ok(listed.length >= 2);
      assert.ok(listed.every((i) => i.flight_descriptor.path[0].startsWith("app1/")));

      // Handshake with a Basic header: token in the response header and payload.
      const hs = client.Handshake(meta(undefined, "alice:wonderland"));
      const headerToken = new Promise<string>((resolve) =>
        hs.on("metadata", (m: grpc.Metadata) => resolve(String(m.get("authorization")[0] ?? "")))
      );
      const payloads = collect<{ payload: Uint8Array }>(hs);
      hs.end();
      const token = (await headerToken).replace(/^Bearer /, "");
      assert.match(token, /^[0-9a-f]{64}$/);
      assert.equal(new TextDecoder().decode((await payloads)[0].payload), token);
      assert.equal((await putWith(client, "app2/s", meta(token))).length, 1);
      assert.equal((await statusOf(putWith(client, "app1/s", meta(token)))).code, S.PERMISSION_DENIED);
      // Wrong password.
      const bad = client.Handshake(meta(undefined, "alice:nope"));
      const st = statusOf(collect(bad));
      bad.end();
      assert.equal((await st).code, S.UNAUTHENTICATED);
    } finally {
      client.close();
      await server.stop();
      await Deno.remove(dir, { recursive: true });
    }
    const logs = server.logs();
    for (const secret of ["tok-admin", "tok-app1", "tok-env", "wonderland"]) {
      assert.ok(!logs.includes(secret), `secret ${secret} must not appear in logs`);
    }
  },
});

Deno.test({
  name: "auth off by default: calls without credentials work, Handshake answers",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const server = await startServer();
    const client = connect(server.address);
    try {
      assert.equal((await putWith(client, "app/s", new grpc.Metadata())).length, 1);
      const hs = client.Handshake();
      const replies = collect(hs);
      hs.write({ protocol_version: 0, payload: new Uint8Array(0) });
      hs.end();
      assert.equal((await replies).length, 1);
    } finally {
      client.close();
      await server.stop();
    }
  },
});
