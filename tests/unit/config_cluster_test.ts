/**
 * Cluster mode settings (issue 13): `cache.cluster` / `cache.remote`, their variables and flags, precedence,
 * defaults and validation.
 */
import assert from "node:assert/strict";
import {
  type CacheConfig,
  ConfigError,
  type Interfaces,
  loadConfig,
  withBoundPort,
} from "../../src/config/mod.ts";
import { parseCommand } from "../../src/cli/args.ts";
import { isDnsBucketName, parseS3Url } from "../../src/config/cluster_values.ts";

const CWD = "/srv/flame";
const IFACES = {
  lo: [{ address: "127.0.0.1", family: "IPv4" }],
  eth0: [{ address: "10.1.2.3", family: "IPv4" }],
} as unknown as Interfaces;
/** A cluster needs the tier: the smallest valid cluster command line. */
const MINIMAL = ["--cluster-etcd", "http://127.0.0.1:2379", "--remote", "s3://flame-cache"];

const cleanup: string[] = [];
function tmpYaml(text: string): string {
  const path = Deno.makeTempFileSync({ prefix: "flame-cache-cluster-", suffix: ".yaml" });
  Deno.writeTextFileSync(path, text);
  cleanup.push(path);
  return path;
}
function serve(argv: string[], env: Record<string, string> = {}): CacheConfig {
  const cmd = parseCommand(
    ["--listen", "127.0.0.1:9090", ...argv],
    { HOSTNAME: "node-a", ...env },
    IFACES,
    CWD,
  );
  assert.equal(cmd.name, "serve");
  return (cmd as { config: CacheConfig }).config;
}
function throwsKey(fn: () => unknown, key: string, pattern?: RegExp): ConfigError {
  let caught: ConfigError | undefined;
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ConfigError, `expected ConfigError, got ${e}`);
    assert.equal(e.key, key, e.message);
    if (pattern) assert.match(e.message, pattern);
    caught = e;
    return true;
  });
  return caught!;
}

const EXAMPLE = `cache:
  endpoint: "grpc://flame-cache:9090"
  cluster:
    etcd: ["http://10.0.0.9:2379", "http://10.0.0.10"]
    name: "flame"
    id: "flame-cache-0"
    advertise: "grpc://10.0.0.7:9090"
    lease_ttl: 10
  remote:
    url: "s3://flame-cache/prefix"
    endpoint: "http://seaweedfs:8333"
    region: "us-east-1"
    path_style: true
`;

Deno.test("without cluster settings nothing changes: a single node with no cluster or remote", () => {
  const c = serve([]);
  assert.equal(c.cluster, undefined);
  assert.equal(c.remote, undefined);
  assert.ok(!("cluster" in c) && !("remote" in c));
  const fromFile = serve(["--config", tmpYaml("cache:\n  storage: none\n  cluster:\n  remote:\n")]);
  assert.equal(fromFile.cluster, undefined, "empty sections mean not set");
  assert.equal(fromFile.remote, undefined);
});

Deno.test("the flame-cluster.yaml example parses into ClusterConfig and RemoteConfig", () => {
  const c = parseCommand(["--config", tmpYaml(EXAMPLE)], {}, IFACES, CWD);
  assert.ok(c.name === "serve");
  const { config } = c;
  assert.equal(config.endpoint, "grpc://flame-cache:9090");
  assert.deepEqual(config.cluster, {
    etcd: ["http://10.0.0.9:2379", "http://10.0.0.10:2379"],
    name: "flame",
    id: "flame-cache-0",
    advertise: "grpc://10.0.0.7:9090",
    leaseTtlSeconds: 10,
  });
  assert.deepEqual(config.remote, {
    url: "s3://flame-cache/prefix",
    bucket: "flame-cache",
    prefix: "prefix",
    endpoint: "http://seaweedfs:8333",
    region: "us-east-1",
    pathStyle: true,
  });
  assert.deepEqual(config.warnings, []);
});

Deno.test("every setting from flags, with defaults for the rest", () => {
  const c = serve([
    "--cluster-etcd",
    "http://10.0.0.9:2379, https://etcd.example:2379,http://10.0.0.9:2379",
    "--cluster-name",
    "prod-1",
    "--cluster-id",
    "replica-3",
    "--cluster-advertise",
    "grpc://10.0.0.7:7000",
    "--cluster-lease-ttl",
    "30",
    "--remote",
    "s3://my.bucket-1/a/b/",
    "--remote-endpoint",
    "http://127.0.0.1:8333/",
    "--remote-region",
    "eu-west-3",
    "--remote-path-style",
  ]);
  assert.deepEqual(c.cluster, {
    etcd: ["http://10.0.0.9:2379", "https://etcd.example:2379"],
    name: "prod-1",
    id: "replica-3",
    advertise: "grpc://10.0.0.7:7000",
    leaseTtlSeconds: 30,
  });
  assert.deepEqual(c.remote, {
    url: "s3://my.bucket-1/a/b",
    bucket: "my.bucket-1",
    prefix: "a/b",
    endpoint: "http://127.0.0.1:8333",
    region: "eu-west-3",
    pathStyle: true,
  });

  const d = serve(MINIMAL);
  assert.deepEqual(d.cluster, {
    etcd: ["http://127.0.0.1:2379"],
    name: "flame",
    id: "node-a", // $HOSTNAME
    advertise: "grpc://127.0.0.1:9090", // the listen address
    leaseTtlSeconds: 10,
  });
  assert.deepEqual(d.remote, {
    url: "s3://flame-cache",
    bucket: "flame-cache",
    prefix: "",
    region: "us-east-1",
    pathStyle: false,
  });
});

Deno.test("every setting from FLAME_CACHE_* variables", () => {
  const c = serve([], {
    FLAME_CACHE_CLUSTER_ETCD: "http://10.0.0.9:2379,http://10.0.0.8:2379",
    FLAME_CACHE_CLUSTER_NAME: "envname",
    FLAME_CACHE_CLUSTER_ID: "env-id",
    FLAME_CACHE_CLUSTER_ADVERTISE: "grpc://10.0.0.5:9999",
    FLAME_CACHE_CLUSTER_LEASE_TTL: "7",
    FLAME_CACHE_REMOTE: "s3://env-bucket/p",
    FLAME_CACHE_REMOTE_ENDPOINT: "https://s3.example.com",
    FLAME_CACHE_REMOTE_REGION: "ap-south-1",
    FLAME_CACHE_REMOTE_PATH_STYLE: "yes",
  });
  assert.deepEqual(c.cluster, {
    etcd: ["http://10.0.0.9:2379", "http://10.0.0.8:2379"],
    name: "envname",
    id: "env-id",
    advertise: "grpc://10.0.0.5:9999",
    leaseTtlSeconds: 7,
  });
  assert.deepEqual(c.remote, {
    url: "s3://env-bucket/p",
    bucket: "env-bucket",
    prefix: "p",
    endpoint: "https://s3.example.com",
    region: "ap-south-1",
    pathStyle: true,
  });
  assert.equal(serve(MINIMAL, { FLAME_CACHE_CLUSTER_ETCD: "   " }).cluster?.etcd[0], "http://127.0.0.1:2379");
});

Deno.test("precedence: defaults < file < environment < flags, setting by setting", () => {
  const file = tmpYaml(`cache:
  cluster:
    etcd: http://file:2379
    name: file-name
    lease_ttl: 11
  remote:
    url: s3://file-bucket
    region: file-region
    path_style: false
`);
  const env = {
    FLAME_CACHE_CLUSTER_NAME: "env-name",
    FLAME_CACHE_REMOTE: "s3://env-bucket",
    FLAME_CACHE_REMOTE_PATH_STYLE: "true",
  };
  const flags = ["--config", file, "--cluster-lease-ttl", "12", "--remote", "s3://flag-bucket"];
  const fileOnly = serve(["--config", file]);
  assert.equal(fileOnly.cluster?.etcd[0], "http://file:2379");
  assert.equal(fileOnly.cluster?.name, "file-name");
  assert.equal(fileOnly.cluster?.leaseTtlSeconds, 11);
  assert.equal(fileOnly.remote?.bucket, "file-bucket");
  assert.equal(fileOnly.remote?.pathStyle, false);
  const withEnv = serve(["--config", file], env);
  assert.equal(withEnv.cluster?.name, "env-name");
  assert.equal(withEnv.remote?.bucket, "env-bucket");
  assert.equal(withEnv.remote?.pathStyle, true);
  assert.equal(withEnv.cluster?.leaseTtlSeconds, 11);
  const all = serve(flags, env);
  assert.equal(all.cluster?.leaseTtlSeconds, 12);
  assert.equal(all.remote?.bucket, "flag-bucket");
  assert.equal(all.cluster?.name, "env-name");
  assert.equal(all.remote?.region, "file-region");
});

Deno.test("region: FLAME_CACHE_REMOTE_REGION > file > AWS_REGION > AWS_DEFAULT_REGION > us-east-1", () => {
  const file = tmpYaml("cache:\n  remote:\n    url: s3://bucket-a\n    region: file-region\n");
  const aws = { AWS_REGION: "aws-region", AWS_DEFAULT_REGION: "aws-default" };
  assert.equal(serve(["--remote", "s3://bucket-a"]).remote?.region, "us-east-1");
  assert.equal(
    serve(["--remote", "s3://bucket-a"], { AWS_DEFAULT_REGION: "aws-default" }).remote?.region,
    "aws-default",
  );
  assert.equal(serve(["--remote", "s3://bucket-a"], aws).remote?.region, "aws-region");
  assert.equal(serve(["--config", file], aws).remote?.region, "file-region");
  assert.equal(
    serve(["--config", file], { ...aws, FLAME_CACHE_REMOTE_REGION: "flame-env" }).remote?.region,
    "flame-env",
  );
  assert.equal(
    serve(["--config", file, "--remote-region", "flag-region"], { FLAME_CACHE_REMOTE_REGION: "x" }).remote
      ?.region,
    "flag-region",
  );
  throwsKey(() => serve(["--remote", "s3://bucket-a"], { AWS_REGION: "bad region!" }), "AWS_REGION");
});

Deno.test("a remote tier alone (no cluster) is accepted; cluster mode alone is refused", () => {
  const c = serve(["--remote", "s3://flame-cache/x"]);
  assert.equal(c.cluster, undefined);
  assert.equal(c.remote?.bucket, "flame-cache");
  throwsKey(
    () => serve(["--cluster-etcd", "http://127.0.0.1:2379"]),
    "--cluster-etcd",
    /needs the shared tier/,
  );
  throwsKey(
    () => serve(["--config", tmpYaml("cache:\n  cluster:\n    etcd: [http://127.0.0.1:2379]\n")]),
    "cache.cluster.etcd",
    /a cluster needs the shared tier: set cache\.remote\.url/,
  );
  throwsKey(
    () => serve([], { FLAME_CACHE_CLUSTER_ETCD: "http://e:2379" }),
    "FLAME_CACHE_CLUSTER_ETCD",
    /remote/,
  );
});

Deno.test("cluster or remote options without their main setting are refused", () => {
  throwsKey(
    () => serve(["--cluster-name", "x", "--remote", "s3://bucket-a"]),
    "--cluster-name",
    /etcd endpoints/,
  );
  throwsKey(
    () =>
      serve(["--config", tmpYaml("cache:\n  cluster:\n    name: x\n  remote:\n    url: s3://bucket-a\n")]),
    "cache.cluster.name",
    /etcd/,
  );
  throwsKey(() => serve(["--remote-endpoint", "http://s3:8333"]), "--remote-endpoint", /bucket is not set/);
  throwsKey(() => serve([], { FLAME_CACHE_REMOTE_PATH_STYLE: "true" }), "FLAME_CACHE_REMOTE_PATH_STYLE");
  // AWS_REGION alone is a machine-wide default, not a request for the tier.
  assert.equal(serve([], { AWS_REGION: "eu-west-1" }).remote, undefined);
});

Deno.test("bad s3:// URLs name the setting", () => {
  const bad = [
    "s3://",
    "s3://ab",
    "s3://Flame-Cache",
    "s3://flame_cache",
    "s3://-flame",
    "s3://flame-",
    "s3://fl..ame",
    "s3://192.168.1.1",
    `s3://${"a".repeat(64)}`,
    "s3://xn--bucket",
    "s3://bucket-s3alias",
    "http://flame-cache/prefix",
    "flame-cache",
    "s3:/flame-cache",
    "s3://flame-cache/a/../b",
    "s3://flame-cache?x=1",
  ];
  for (const url of bad) {
    throwsKey(() => serve(["--remote", url]), "--remote");
    throwsKey(() => serve([], { FLAME_CACHE_REMOTE: url }), "FLAME_CACHE_REMOTE");
  }
  throwsKey(
    () => serve(["--config", tmpYaml('cache:\n  remote:\n    url: "s3://Bad_Bucket/x"\n')]),
    "cache.remote.url",
    /invalid bucket name "Bad_Bucket"/,
  );
  throwsKey(() => serve(["--config", tmpYaml("cache:\n  remote:\n    url: 42\n")]), "cache.remote.url");
  throwsKey(
    () => serve(["--config", tmpYaml("cache:\n  remote: s3://bucket-a\n")]),
    "cache.remote",
    /mapping/,
  );
  for (const ok of ["abc", "a.b-c", "flame-cache", "0ab", `${"a".repeat(63)}`]) {
    assert.ok(isDnsBucketName(ok), ok);
  }
  assert.deepEqual(parseS3Url("S3://flame-cache//a//b/", "k"), { bucket: "flame-cache", prefix: "a/b" });
});

Deno.test("bad etcd URLs name the setting", () => {
  const bad = [
    "10.0.0.9:2379",
    "ftp://10.0.0.9:2379",
    "http://10.0.0.9:2379/v3",
    "http://:2379",
    "http://h:99999",
    ",",
  ];
  for (const url of bad) {
    throwsKey(() => serve([...MINIMAL, "--cluster-etcd", url]), "--cluster-etcd");
    throwsKey(() => serve(MINIMAL.slice(2), { FLAME_CACHE_CLUSTER_ETCD: url }), "FLAME_CACHE_CLUSTER_ETCD");
  }
  const yaml = (etcd: string) =>
    tmpYaml(`cache:\n  cluster:\n    etcd: ${etcd}\n  remote:\n    url: s3://bucket-a\n`);
  throwsKey(() => serve(["--config", yaml("[]")]), "cache.cluster.etcd", /no etcd endpoints/);
  throwsKey(() => serve(["--config", yaml("[1, 2]")]), "cache.cluster.etcd", /expected an etcd URL/);
  throwsKey(() => serve(["--config", yaml("{a: 1}")]), "cache.cluster.etcd");
  throwsKey(() => serve(["--config", yaml('"http://ok:2379,gopher://x"')]), "cache.cluster.etcd");
});

Deno.test("credentials in URLs are refused without being echoed", () => {
  const secret = "s3cr3t-Pa55";
  const errors = [
    throwsKey(
      () => serve([...MINIMAL, "--cluster-etcd", `http://root:${secret}@10.0.0.9:2379`]),
      "--cluster-etcd",
    ),
    throwsKey(
      () => serve([...MINIMAL, "--remote-endpoint", `http://AKIA:${secret}@s3:8333`]),
      "--remote-endpoint",
      /credentials are not allowed/,
    ),
    throwsKey(() => serve(["--remote", `s3://AKIA:${secret}@bucket`]), "--remote"),
    throwsKey(() => serve([...MINIMAL, "--remote-endpoint", `not a url ${secret}@x`]), "--remote-endpoint"),
  ];
  for (const e of errors) assert.ok(!e.message.includes(secret), e.message);
});

Deno.test("lease TTL must be a positive whole number of seconds", () => {
  for (const ttl of ["0", "-1", "1.5", "ten", "10s"]) {
    throwsKey(() => serve([...MINIMAL, "--cluster-lease-ttl", ttl]), "--cluster-lease-ttl", /lease TTL/);
    throwsKey(() => serve(MINIMAL, { FLAME_CACHE_CLUSTER_LEASE_TTL: ttl }), "FLAME_CACHE_CLUSTER_LEASE_TTL");
  }
  for (const ttl of ["0", "-5", "2.5", '"x"']) {
    const file = tmpYaml(
      `cache:\n  cluster:\n    etcd: http://e:2379\n    lease_ttl: ${ttl}\n  remote:\n    url: s3://bucket-a\n`,
    );
    throwsKey(() => serve(["--config", file]), "cache.cluster.lease_ttl", /lease TTL/);
  }
});

Deno.test("bad names, ids, advertise addresses, regions and booleans name the setting", () => {
  throwsKey(() => serve([...MINIMAL, "--cluster-name", "a/b"]), "--cluster-name", /cluster name/);
  throwsKey(() => serve([...MINIMAL, "--cluster-id", "-x"]), "--cluster-id", /member id/);
  throwsKey(() => serve([...MINIMAL, "--cluster-advertise", "grpc://0.0.0.0:9090"]), "--cluster-advertise");
  throwsKey(() => serve([...MINIMAL, "--cluster-advertise", "10.0.0.7:9090"]), "--cluster-advertise");
  throwsKey(() => serve([...MINIMAL, "--remote-region", "us east"]), "--remote-region");
  throwsKey(
    () => serve(MINIMAL, { FLAME_CACHE_REMOTE_PATH_STYLE: "maybe" }),
    "FLAME_CACHE_REMOTE_PATH_STYLE",
  );
  throwsKey(
    () => serve([...MINIMAL, "--remote-path-style=yes"]),
    "--remote-path-style",
    /does not take a value/,
  );
  throwsKey(() => serve(MINIMAL, { HOSTNAME: "bad host" }), "cache.cluster.id", /host name/);
});

Deno.test("advertise defaults to the listen address, or the network_interface IPv4 when listening on 0.0.0.0", () => {
  const at = (argv: string[], env: Record<string, string> = {}) => {
    const cmd = parseCommand([...MINIMAL, ...argv], { HOSTNAME: "h", ...env }, IFACES, CWD);
    assert.ok(cmd.name === "serve");
    return cmd.config;
  };
  assert.equal(at(["--listen", "10.9.9.9:7000"]).cluster?.advertise, "grpc://10.9.9.9:7000");
  assert.equal(
    at(["--listen", "0.0.0.0:7000"], { FLAME_CACHE_CONFIG: tmpYaml("cache:\n  network_interface: eth\n") })
      .cluster
      ?.advertise,
    "grpc://10.1.2.3:7000",
  );
  throwsKey(() => at(["--listen", "0.0.0.0:7000"]), "cache.cluster.advertise", /peers cannot dial/);
  // The Service name as the endpoint binds 0.0.0.0: the replica must be told its own address.
  throwsKey(() => at(["--endpoint", "grpc://flame-cache:9090"]), "cache.cluster.advertise");
  assert.equal(
    at(["--endpoint", "grpc://flame-cache:9090", "--cluster-advertise", "grpc://10.0.0.7"]).cluster
      ?.advertise,
    "grpc://10.0.0.7:9090",
  );
  // An ephemeral listen port is filled in once bound, like the endpoint.
  const eph = at(["--listen", "127.0.0.1:0", "--endpoint", "grpc://127.0.0.1:5555"]);
  assert.equal(eph.cluster?.advertise, "grpc://127.0.0.1:0");
  const bound = withBoundPort(eph, 40123);
  assert.equal(bound.cluster?.advertise, "grpc://127.0.0.1:40123");
  assert.equal(bound.endpoint, "grpc://127.0.0.1:5555", "the balancer's endpoint is kept");
  assert.equal(
    withBoundPort(at(["--cluster-advertise", "grpc://10.0.0.7:1"]), 9).cluster?.advertise,
    "grpc://10.0.0.7:1",
  );
});

Deno.test("member id: --cluster-id, else $HOSTNAME, else the host name; an unreadable host name is a ConfigError", () => {
  const flags = { clusterEtcd: { value: ["http://e:2379"], key: "--cluster-etcd" } };
  const base = {
    flags: { ...flags, remoteUrl: { value: { bucket: "bucket-a", prefix: "" }, key: "--remote" } },
    cwd: CWD,
    interfaces: IFACES,
  };
  assert.equal(loadConfig({ ...base, env: {}, hostname: () => "from-os" }).cluster?.id, "from-os");
  assert.equal(
    loadConfig({ ...base, env: { HOSTNAME: "pod-0" }, hostname: () => "from-os" }).cluster?.id,
    "pod-0",
  );
  throwsKey(
    () =>
      loadConfig({
        ...base,
        env: {},
        hostname: () => {
          throw new Deno.errors.NotCapable('Requires sys access to "hostname"');
        },
      }),
    "cache.cluster.id",
    /cannot read the host name/,
  );
});

Deno.test("unknown keys inside cache.cluster and cache.remote warn; cluster and remote are known cache keys", () => {
  const c = serve([
    "--config",
    tmpYaml(
      "cache:\n  cluster:\n    etcd: http://e:2379\n    ttl: 5\n  remote:\n    url: s3://bucket-a\n    secret_key: x\n",
    ),
  ]);
  assert.deepEqual(c.warnings, [
    "unknown key cache.cluster.ttl (ignored)",
    "unknown key cache.remote.secret_key (ignored)",
  ]);
});

Deno.test("--help lists the cluster flags and variables, with no credential values", () => {
  const cmd = parseCommand(["--help"], { AWS_SECRET_ACCESS_KEY: "topsecret", AWS_ACCESS_KEY_ID: "AKIAKEY" });
  assert.ok(cmd.name === "help");
  for (
    const word of [
      "--cluster-etcd URLS",
      "--cluster-name",
      "--cluster-id",
      "--cluster-advertise URI",
      "--cluster-lease-ttl SECONDS",
      "--remote URL",
      "--remote-endpoint URL",
      "--remote-region",
      "--remote-path-style",
      "FLAME_CACHE_CLUSTER_ETCD",
      "FLAME_CACHE_CLUSTER_NAME",
      "FLAME_CACHE_CLUSTER_ID",
      "FLAME_CACHE_CLUSTER_ADVERTISE",
      "FLAME_CACHE_CLUSTER_LEASE_TTL",
      "FLAME_CACHE_REMOTE ",
      "FLAME_CACHE_REMOTE_ENDPOINT",
      "FLAME_CACHE_REMOTE_REGION",
      "FLAME_CACHE_REMOTE_PATH_STYLE",
      "cluster.{etcd,name,id,advertise,lease_ttl}",
    ]
  ) assert.ok(cmd.text.includes(word), word);
  assert.ok(!cmd.text.includes("topsecret") && !cmd.text.includes("AKIAKEY"));
});

Deno.test("cluster flags belong to serve: admin commands refuse them", () => {
  throwsKey(
    () => parseCommand(["ls", "--cluster-etcd", "http://e:2379"], {}, IFACES, CWD),
    "--cluster-etcd",
    /not valid for the ls command/,
  );
});

Deno.test({
  name: "cleanup temp files",
  fn() {
    for (const p of cleanup) Deno.removeSync(p);
  },
});
