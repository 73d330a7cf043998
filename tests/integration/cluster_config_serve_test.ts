/**
 * The server process with cluster settings (issue 13), before cluster mode is wired: it starts as a single node,
 * says so, logs the cluster settings without credentials, and refuses bad settings with exit code 2.
 */
import assert from "node:assert/strict";
import { startServer } from "../helpers/server.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const SECRET = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY";
const CLUSTER_FLAGS = [
  "--cluster-etcd",
  "http://127.0.0.1:2379",
  "--cluster-id",
  "replica-7",
  "--remote",
  "s3://flame-cache/cache",
  "--remote-endpoint",
  "http://127.0.0.1:8333",
  "--remote-path-style",
];

Deno.test("cluster settings: logged at start-up without credentials, with the not-wired warning", async () => {
  const server = await startServer(CLUSTER_FLAGS, {
    env: { AWS_ACCESS_KEY_ID: "AKIAEXAMPLEID", AWS_SECRET_ACCESS_KEY: SECRET },
  });
  try {
    const lines = server.logs().split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
    const configured = lines.find((l) => l.msg === "cluster mode configured");
    assert.ok(configured, server.logs());
    assert.equal(configured.cluster.id, "replica-7");
    assert.equal(configured.cluster.advertise, `grpc://127.0.0.1:${server.port}`, "the bound port, not 0");
    assert.deepEqual(configured.cluster.etcd, ["http://127.0.0.1:2379"]);
    assert.equal(configured.remote.url, "s3://flame-cache/cache");
    assert.equal(configured.remote.pathStyle, true);
    assert.ok(
      lines.some((l) =>
        l.level === "warn" && l.msg === "cluster mode is not wired yet: running as a single node"
      ),
    );
    assert.ok(!server.logs().includes(SECRET) && !server.logs().includes("AKIAEXAMPLEID"));
  } finally {
    await server.stop();
  }
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
