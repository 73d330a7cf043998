/**
 * The HTTP side port with `http_auth: token`: /metrics, the status page and
 * /status.json need `Authorization: Bearer` (a gRPC token, a Handshake token or
 * the metrics token, as Prometheus' bearer_token_file sends it); /healthz stays
 * open; refusals leak neither key names nor the storage path.
 */
import assert from "node:assert/strict";
import { FlameCacheClient } from "../../src/client/mod.ts";
import { startServer } from "../helpers/server.ts";

function sidePort(logs: string): { base: string; httpAuth: string } {
  const line = logs.split("\n").find((l) => l.includes('"flame-cache started"'));
  assert.ok(line, logs);
  const info = JSON.parse(line);
  return { base: `http://${info.http}`, httpAuth: info.httpAuth };
}

async function get(
  url: string,
  token?: string,
): Promise<{ status: number; body: string; auth: string | null }> {
  const r = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: r.status, body: await r.text(), auth: r.headers.get("www-authenticate") };
}

Deno.test({
  name: "http auth: token mode guards /metrics and the status page, /healthz stays open",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "flame-http-auth-" });
    const metricsToken = `metrics-${crypto.randomUUID()}`;
    await Deno.writeTextFile(`${dir}/metrics.token`, metricsToken + "\n");
    await Deno.writeTextFile(
      `${dir}/flame-cluster.yaml`,
      `cache:\n  http_auth: token\n  metrics_token_file: ${dir}/metrics.token\n  auth:\n    token_env: T\n` +
        "    users:\n      - username: alice\n        password: wonderland\n",
    );
    const storage = `${dir}/secret-storage-path`;
    const server = await startServer(
      ["--config", `${dir}/flame-cluster.yaml`, "--storage", storage, "--http", "127.0.0.1:0"],
      { env: { T: "grpc-token" } },
    );
    try {
      const { base, httpAuth } = sidePort(server.logs());
      assert.equal(httpAuth, "token");
      const client = await FlameCacheClient.connect(server.endpoint, { token: "grpc-token", cache: false });
      await client.putObject("hiddenapp/hiddensession", new TextEncoder().encode("x"));
      const handshake = await FlameCacheClient.connect(server.endpoint, { cache: false });
      const sessionToken = await handshake.handshake("alice", "wonderland");
      await handshake.close();
      await client.close();

      assert.equal((await get(`${base}/healthz`)).status, 200, "health probes need no token");
      for (const path of ["/metrics", "/", "/status", "/status.json"]) {
        for (const token of [undefined, "wrong-token"]) {
          const r = await get(`${base}${path}`, token);
          assert.equal(r.status, 401, `${path} with ${token ?? "no token"}`);
          assert.match(r.auth ?? "", /^Bearer/);
          for (const secret of ["hiddenapp", "hiddensession", storage]) assert.ok(!r.body.includes(secret));
        }
        for (const token of [metricsToken, "grpc-token", sessionToken]) {
          assert.equal((await get(`${base}${path}`, token)).status, 200, `${path} with a valid token`);
        }
      }
      const status = await get(`${base}/status.json`, metricsToken);
      assert.ok(status.body.includes("hiddenapp"), "the token shows what the port is for");
    } finally {
      await server.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "http auth: auth on with a loopback side port stays open by default; token needs credentials",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "flame-http-auth-" });
    await Deno.writeTextFile(`${dir}/flame-cluster.yaml`, "cache:\n  auth:\n    token_env: T\n");
    const server = await startServer(["--config", `${dir}/flame-cluster.yaml`, "--http", "127.0.0.1:0"], {
      env: { T: "grpc-token" },
    });
    try {
      const { base, httpAuth } = sidePort(server.logs());
      assert.equal(httpAuth, "none");
      assert.equal((await get(`${base}/metrics`)).status, 200);
    } finally {
      await server.stop();
      await Deno.remove(dir, { recursive: true });
    }
    // `--http-auth token` with no credential at all cannot work: a configuration error (exit 2).
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-all",
        new URL("../../main.ts", import.meta.url).pathname,
        "serve",
        "--storage",
        "none",
      ]
        .concat(["--listen", "127.0.0.1:0", "--http", "127.0.0.1:0", "--http-auth", "token"]),
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 2);
    assert.match(
      new TextDecoder().decode(out.stderr),
      /--http-auth.*cache\.auth or cache\.metrics_token_file/,
    );
  },
});
