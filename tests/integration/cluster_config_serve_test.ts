/**
 * The server process with cluster settings (issue 13): it joins the cluster, logs the cluster settings
 * without credentials, and refuses bad settings with exit code 2.
 */
import assert from "node:assert/strict";
import { startServer } from "../helpers/server.ts";
import { haveEtcd, haveWeed, startEtcd, startWeed } from "../helpers/services.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
Deno.test({
  name: "cluster settings: the replica joins etcd on the tier and logs its settings without credentials",
  ignore: !haveEtcd() || !haveWeed(),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const [etcd, weed] = await Promise.all([startEtcd(), startWeed()]);
    let server;
    try {
      server = await startServer(
        [
          "--cluster-etcd",
          etcd.endpoint,
          "--cluster-id",
          "replica-7",
          "--remote",
          "s3://flame-cache/cache",
          "--remote-endpoint",
          weed.s3Endpoint,
          "--remote-path-style",
        ],
        {
          env: {
            AWS_ACCESS_KEY_ID: weed.credentials.accessKeyId,
            AWS_SECRET_ACCESS_KEY: weed.credentials.secretAccessKey,
          },
        },
      );
      const lines = server.logs().split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
      const cluster = lines.find((l) => l.msg === "flame-cache started");
      assert.ok(cluster, server.logs());
      assert.equal(cluster.cluster.id, "replica-7");
      assert.equal(cluster.cluster.advertise, `grpc://127.0.0.1:${server.port}`, "the bound port, not 0");
      assert.deepEqual(cluster.cluster.etcd, [etcd.endpoint]);
      assert.equal(cluster.remote.url, "s3://flame-cache/cache");
      assert.equal(cluster.remote.pathStyle, true);
      assert.deepEqual(cluster.members, [`replica-7=grpc://127.0.0.1:${server.port}`]);
      assert.ok(!server.logs().includes(weed.credentials.secretAccessKey), "the secret is never logged");
    } finally {
      await server?.stop();
      await Promise.all([etcd.close(), weed.close()]);
    }
  },
});

Deno.test("a single node logs nothing about cluster mode", async () => {
  const server = await startServer([]);
  try {
    assert.ok(!server.logs().includes("cluster mode"), server.logs());
  } finally {
    await server.stop();
  }
});

Deno.test("bad cluster settings exit with code 2 and one line naming the setting", async () => {
  const cases: [string[], Record<string, string>, RegExp][] = [
    [["--remote", "s3://Bad_Bucket"], {}, /^flame-cache: --remote: invalid bucket name "Bad_Bucket"/],
    [
      ["--cluster-etcd", "http://127.0.0.1:2379"],
      {},
      /^flame-cache: --cluster-etcd: a cluster needs the shared tier/,
    ],
    [[], { FLAME_CACHE_CLUSTER_LEASE_TTL: "0", FLAME_CACHE_CLUSTER_ETCD: "http://e:2379" }, /LEASE_TTL/],
    [["--cluster-etcd", "http://root:pw-123@e:2379", "--remote", "s3://flame-cache"], {}, /credentials/],
  ];
  for (const [flags, env, pattern] of cases) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", `${ROOT}main.ts`, "serve", "--storage", "none", ...flags],
      cwd: ROOT,
      env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr).trim();
    assert.equal(out.code, 2, stderr);
    assert.match(stderr, pattern);
    assert.equal(stderr.split("\n").length, 1, stderr);
    assert.ok(!stderr.includes("pw-123"), stderr);
  }
});
