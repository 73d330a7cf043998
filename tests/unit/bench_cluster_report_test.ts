// The benchmark's cluster section: cluster.env parsing, CPU per role, targets and the Markdown tables.
import assert from "node:assert/strict";
import { cpuByRole, parseClusterEnv } from "../../bench/cluster.ts";
import { clusterTargets, cpuPerOp, renderCluster } from "../../bench/lib/cluster_report.ts";

const MiB = 1024 * 1024;

Deno.test("parseClusterEnv reads endpoints and pids and keeps no secret", () => {
  const env = parseClusterEnv(
    [
      "FLAME_CACHE_ENDPOINT=grpc://127.0.0.1:9000",
      "FLAME_CACHE_REPLICAS=grpc://127.0.0.1:9001,grpc://127.0.0.1:9002",
      "FLAME_CACHE_REPLICA_PIDS=11,12",
      "CLUSTER_ETCD_PID=21",
      "CLUSTER_S3_PID=22",
      "CLUSTER_HAPROXY_PID=23",
      "CLUSTER_DIR=/tmp/c",
      "AWS_SECRET_ACCESS_KEY=do-not-keep",
      "",
    ].join("\n"),
  );
  assert.deepEqual(env, {
    dir: "/tmp/c",
    endpoint: "127.0.0.1:9000",
    replicas: ["127.0.0.1:9001", "127.0.0.1:9002"],
    replicaPids: [11, 12],
    s3Pid: 22,
    etcdPid: 21,
    haproxyPid: 23,
  });
  assert.ok(!JSON.stringify(env).includes("do-not-keep"));
  assert.throws(() => parseClusterEnv("CLUSTER_DIR=/x\n"), /FLAME_CACHE_ENDPOINT/);
});

Deno.test("cpuByRole sums a role's processes net of their idle rate, never below 0", () => {
  const out = cpuByRole(
    { "11": 1.0, "12": 0.05, "22": 0.5 },
    { replicas: [11, 12], s3: [22], etcd: [21] },
    { "11": 0.01, "12": 0.02, "22": 0.1 },
    5,
  );
  // 11: 1.0 - 0.05; 12: 0.05 - 0.1 -> 0; s3: 0.5 - 0.5 -> 0; etcd: not probed -> 0
  assert.ok(Math.abs(out.replicas - 0.95) < 1e-9);
  assert.equal(out.s3, 0);
  assert.equal(out.etcd, 0);
});

/** A run's cluster section with the given 64 MiB rates and peak RSS growth of the replica's put. */
function run(balancerPut: number, balancerGet: number, putAdded: number) {
  const small = (path: string, mode: "get" | "put", p50: number, cpu: Record<string, number>) => ({
    path,
    mode,
    ops: 1000,
    seconds: 6,
    errors: 0,
    [mode]: { p50_ms: p50, p99_ms: p50 * 3 },
    cpu_s_by_role: cpu,
  });
  return {
    machine: { cores: 2 },
    cases: {
      cluster: {
        config: { seconds: 6, largeReps: 5 },
        paths: [{ id: "single-fs", label: "one node" }, { id: "balancer", label: "through HAProxy" }],
        small: [
          small("single-fs", "get", 0.4, { server: 0.3 }),
          small("replica", "get", 2.4, { replicas: 1.6, s3: 1.2, etcd: 0, haproxy: 0 }),
          small("balancer", "get", 2.5, { replicas: 1.6, s3: 1.2, etcd: 0, haproxy: 0.06 }),
          small("single-fs", "put", 2.0, { server: 1.5 }),
          small("replica", "put", 8.0, { replicas: 3.6, s3: 4.9, etcd: 0, haproxy: 0 }),
        ],
        large: [
          { path: "single-fs", size: 64 * MiB, reps: 5, put_mib_s: 400, get_mib_s: 500 },
          { path: "balancer", size: 64 * MiB, reps: 5, put_mib_s: balancerPut, get_mib_s: balancerGet },
        ],
        memory: {
          size: 1024 * MiB,
          steps: [
            { step: "put through replica-0", who: "replica-0", added: putAdded, idle_rss: 70 * MiB },
            {
              step: "put to one node (fs), reference",
              who: "one node",
              added: 100 * MiB,
              idle_rss: 80 * MiB,
            },
          ],
        },
      },
    },
  };
}

Deno.test("cluster targets: 0.8x of one node's 64 MiB rates, < 64 MiB of a replica's RSS", () => {
  const pass = clusterTargets(run(320, 400, 63 * MiB));
  assert.deepEqual(pass.map((t) => t.status), ["PASS", "PASS"]);
  assert.match(pass[0].measured, /PUT 0\.80x \(320 vs 400 MiB\/s\), GET 0\.80x/);
  const fail = clusterTargets(run(40, 400, 180 * MiB));
  assert.deepEqual(fail.map((t) => t.status), ["FAIL", "FAIL"]);
  assert.match(fail[1].measured, /^180 MiB \(put through replica-0/);
  // the single node's reference step does not count for the replica target
  assert.ok(!fail[1].measured.includes("one node"));
  assert.deepEqual(clusterTargets({ cases: {} }), []);
});

Deno.test("cluster report: per-op CPU and the extra latency against one node", () => {
  const results = run(40, 400, 180 * MiB);
  const row = results.cases.cluster.small[1];
  assert.equal(cpuPerOp(row, "s3"), 1200);
  const md = renderCluster(results).join("\n");
  assert.match(md, /1 KiB GET at c=1 through the balancer: \+2\.10 ms p50/);
  assert.match(md, /\| through HAProxy \| 40 \| 0\.10x \| 400 \| 0\.80x \|/);
  assert.match(md, /\| 1 KiB GET \| \+0\.10 \| \+2\.00 \|/);
  assert.deepEqual(renderCluster({ cases: {} }), []);
});

Deno.test("cluster report: the on-paper scaling table takes the smaller of N replicas and the S3 service", () => {
  const results = run(40, 400, 180 * MiB);
  results.cases.cluster.large.push({
    path: "replica",
    size: 64 * MiB,
    reps: 5,
    put_mib_s: 90,
    get_mib_s: 500,
    cpu_s_by_role: { put: { replicas: 1.6, s3: 3.2 }, get: { replicas: 0.16, s3: 0 } },
  } as never);
  const md = renderCluster(results).join("\n");
  // GET: a replica 2 / 1.6 ms = 1250 ops/s, the S3 service 2 / 1.2 ms = 1667 ops/s
  assert.match(md, /\| 1 KiB GET \(ops\/s\) \| 1250 \| 1667 \| 1250 \| 1667 \| 1667 \|.*\| S3 at N=2 \|/);
  // PUT: 2 / 3.6 ms = 556 per replica, 2 / 4.9 ms = 408 for S3: S3-bound from the first replica
  assert.match(md, /\| 1 KiB PUT \(ops\/s\) \| 556 \| 408 \| 408 \|.*\| S3 at N=1 \|/);
  // 64 MiB PUT: 1.6 s / 320 MiB = 5 ms/MiB -> 400 MiB/s per replica; S3 10 ms/MiB -> 200 MiB/s
  assert.match(md, /\| 64 MiB PUT \(MiB\/s\) \| 400 \| 200 \| 200 \|/);
});
