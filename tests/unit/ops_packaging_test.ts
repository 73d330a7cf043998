/**
 * Packaging that cannot be built here (no Docker engine, no systemd as PID 1),
 * checked for what can be: the example configuration loads, compose replaces
 * Flame's `flame-object-cache` service, the Dockerfile builds with
 * scripts/compile.sh and copies only files that exist and pass its
 * .dockerignore, the systemd unit verifies, and the container health check
 * script tells 200 from 503.
 */
import assert from "node:assert/strict";
import { parse } from "yaml";
import { parseCommand } from "../../src/cli/args.ts";
import { skipUnless } from "../helpers/skip.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const read = (p: string) => Deno.readTextFileSync(`${ROOT}${p}`);

const ETH0 = {
  eth0: [{
    address: "10.1.2.3",
    netmask: "255.255.255.0",
    family: "IPv4",
    mac: "02:42:0a:01:02:03",
    internal: false,
    cidr: "10.1.2.3/24",
  }],
  // deno-lint-ignore no-explicit-any
} as any;

function serveConfig(args: string[], env: Record<string, string> = {}) {
  const command = parseCommand(args, env, ETH0, "/");
  assert.equal(command.name, "serve");
  if (command.name !== "serve") throw new Error("unreachable");
  return command.config;
}

Deno.test("packaging/flame-cluster.yaml: loads cleanly; listens on all addresses, advertises eth0", () => {
  const config = serveConfig(["serve", "--config", `${ROOT}packaging/flame-cluster.yaml`]);
  assert.deepEqual(config.warnings, []);
  assert.deepEqual(config.listen, { host: "0.0.0.0", port: 9090 });
  assert.equal(config.endpoint, "grpc://10.1.2.3:9090");
  assert.deepEqual(config.storage, { kind: "fs", root: "/var/lib/flame/cache" });
  assert.deepEqual(config.http, { host: "0.0.0.0", port: 9091 });
  assert.equal(config.eviction.maxMemory, 2 ** 30);
});

Deno.test("packaging/compose.yaml: a drop-in flame-object-cache service (port 9090, cache volume, health check)", () => {
  const compose = parse(read("packaging/compose.yaml"));
  const svc = compose.services["flame-object-cache"];
  assert.ok(svc, "service name matches Flame's");
  assert.ok(svc.ports.some((p: string) => p.startsWith("9090:9090")));
  assert.ok(svc.volumes.includes("flame-cache-storage:/var/lib/flame/cache"));
  assert.ok("flame-cache-storage" in compose.volumes);
  assert.deepEqual(svc.healthcheck.test, ["CMD", "/usr/local/bin/flame-cache-healthcheck"]);
  assert.equal(svc.build.dockerfile, "packaging/Dockerfile");
  assert.deepEqual(svc.networks, ["flame-net"]);
  // The command and environment it runs with give the address Flame's clients use.
  const command = svc.command as string[];
  assert.equal(command[0], "serve");
  const config = serveConfig(
    command.map((a) => a.replace("/etc/flame/", `${ROOT}packaging/`)),
    svc.environment,
  );
  assert.equal(config.endpoint, "grpc://flame-object-cache:9090");
  assert.deepEqual(config.listen, { host: "0.0.0.0", port: 9090 });
  assert.equal(config.logLevel, "info");
});

Deno.test("packaging/Dockerfile: compile.sh build, debian-slim runtime, config, volume, ports, health check", () => {
  const text = read("packaging/Dockerfile");
  const lines = text.split("\n").filter((l) => !l.trim().startsWith("#"));
  const body = lines.join("\n");
  assert.match(body, /^FROM node:\S+ AS build$/m);
  assert.match(body, /npm install --global [^\n]*"deno@\$\{DENO_VERSION\}"/);
  assert.match(body, /^ARG DENO_VERSION=2\.9\.6$/m);
  assert.match(
    body,
    /scripts\/compile\.sh --output \/src\/dist\/flame-cache/,
    "same flags as deno task compile",
  );
  assert.match(body, /^FROM debian:\S+-slim$/m);
  assert.match(body, /^COPY --from=build \/src\/dist\/flame-cache \/usr\/local\/bin\/flame-cache$/m);
  assert.match(body, /^VOLUME \["\/var\/lib\/flame\/cache"\]$/m);
  assert.match(body, /^EXPOSE 9090( |$)/m);
  assert.match(body, /^HEALTHCHECK .*flame-cache-healthcheck/m);
  assert.match(body, /^ENTRYPOINT \["\/usr\/local\/bin\/flame-cache"\]$/m);
  assert.match(body, /^CMD \["serve", "--config", "\/etc\/flame\/flame-cluster\.yaml"\]$/m);
  assert.match(body, /\/usr\/local\/flame\/bin\/flame-object-cache/, "Helm chart's command name");
  // Every COPY source (from the context) exists and is let through by Dockerfile.dockerignore.
  const ignore = read("packaging/Dockerfile.dockerignore").split("\n").filter((l) => l && !l.startsWith("#"));
  assert.equal(ignore[0], "**");
  const allowed = ignore.slice(1).map((l) => l.replace(/^!/, "").replace(/\/\*\*$/, ""));
  for (const m of body.matchAll(/^COPY (?!--from)(.+) (\S+)$/gm)) {
    for (const src of m[1].split(/\s+/)) {
      Deno.statSync(`${ROOT}${src}`);
      assert.ok(
        allowed.some((a) => src === a || src.startsWith(`${a}/`)),
        `${src} excluded by .dockerignore`,
      );
    }
  }
});

Deno.test("packaging/flame-cache.service: simple, restarts on failure, --config, hardened", () => {
  const unit = read("packaging/flame-cache.service");
  assert.match(unit, /^Type=simple$/m);
  assert.match(unit, /^Restart=on-failure$/m);
  assert.match(
    unit,
    /^ExecStart=\/usr\/local\/bin\/flame-cache serve --config \/etc\/flame\/flame-cluster\.yaml$/m,
  );
  for (const opt of ["NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes"]) {
    assert.match(unit, new RegExp(`^${opt}$`, "m"));
  }
  assert.doesNotMatch(unit, /^MemoryDenyWriteExecute=yes/m, "V8's JIT needs writable code pages");
});

const SYSTEMD_ANALYZE = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"].find((p) => {
  try {
    return Deno.statSync(p).isFile;
  } catch {
    return false;
  }
});

/** `systemd-analyze verify` of a unit text: its exit code and what it said about the unit. */
async function verifyUnit(unit: string): Promise<{ code: number; said: string }> {
  const dir = await Deno.makeTempDir();
  try {
    // The executable is not installed here: verify a copy that runs /bin/true instead.
    await Deno.writeTextFile(
      `${dir}/flame-cache.service`,
      unit.replaceAll("/usr/local/bin/flame-cache", "/bin/true"),
    );
    const out = await new Deno.Command(SYSTEMD_ANALYZE!, { args: ["verify", `${dir}/flame-cache.service`] })
      .output();
    const text = new TextDecoder().decode(out.stderr) + new TextDecoder().decode(out.stdout);
    // verify exits 0 for unknown keys and bad values and only warns, so its warnings count as failures.
    return {
      code: out.code,
      said: text.split("\n").filter((l) => l.includes("flame-cache.service")).join("\n"),
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test({
  name:
    "packaging/flame-cache.service: systemd-analyze verify finds no error or warning (and does find a typo)",
  ignore: skipUnless(
    "systemd-analyze",
    SYSTEMD_ANALYZE !== undefined,
    "systemd-analyze not installed (apt-get install systemd)",
  ),
  async fn() {
    const unit = read("packaging/flame-cache.service");
    assert.deepEqual(await verifyUnit(unit), { code: 0, said: "" });
    // The check can fail: a misspelled key is reported.
    const typo = await verifyUnit(unit.replace(/^Restart=/m, "Restrat="));
    assert.match(typo.said, /Restrat/);
  },
});

Deno.test({
  name: "packaging/healthcheck.sh: healthy on 200, unhealthy on 503 or no listener",
  sanitizeResources: false,
  async fn() {
    let status = 200;
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      (req) =>
        new URL(req.url).pathname === "/healthz"
          ? new Response("x\n", { status })
          : new Response("", { status: 404 }),
    );
    const run = async (port: number) =>
      (await new Deno.Command("bash", {
        args: [`${ROOT}packaging/healthcheck.sh`],
        env: { FLAME_HEALTH_PORT: String(port) },
        stderr: "null",
      }).output()).code;
    try {
      assert.equal(await run(server.addr.port), 0);
      status = 503;
      assert.equal(await run(server.addr.port), 1);
    } finally {
      await server.shutdown();
    }
    assert.equal(await run(server.addr.port), 1, "nothing listening");
  },
});
