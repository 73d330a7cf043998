/**
 * `scripts/compile.sh` (deno task compile): the flags it passes, its clear
 * failures when denort is missing, the embedded store worker, and, when a
 * denort runtime is at hand (download reachable or DENORT_BIN set), the
 * executable itself doing put + get + delete.
 */
import assert from "node:assert/strict";
import { BSON } from "bson";
import {
  connect,
  doAction,
  doGet,
  doPut,
  grpc,
  opaqueFlightData,
  statusOf,
} from "../helpers/flight_client.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const SCRIPT = `${ROOT}scripts/compile.sh`;
// deno-lint-ignore no-control-regex
const strip = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, "");

async function run(
  cmd: string,
  args: string[],
  env: Record<string, string> = {},
  remove: string[] = [],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const base = Deno.env.toObject();
  for (const k of remove) delete base[k];
  const out = await new Deno.Command(cmd, {
    args,
    cwd: ROOT,
    env: { ...base, DENO: Deno.execPath(), ...env },
    clearEnv: true,
    stdin: "null",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: strip(dec.decode(out.stdout)), stderr: strip(dec.decode(out.stderr)) };
}

function permissionLines(): string[] {
  return Deno.readTextFileSync(`${ROOT}scripts/permissions.txt`).split("\n")
    .map((l) => l.replace(/\s*#.*$/, "").trim()).filter((l) => l !== "");
}

Deno.test("compile.sh --print-args: the permission list, the worker included, no --allow-all", async () => {
  const r = await run("bash", [SCRIPT, "--print-args", "-o", "/tmp/x/flame-cache"]);
  assert.equal(r.code, 0, r.stderr);
  const args = r.stdout.trim().split("\n");
  assert.equal(args[0], "compile");
  assert.equal(args[args.length - 1], "main.ts");
  const perms = args.filter((a) => a.startsWith("--allow") || a === "-A");
  assert.deepEqual(perms, permissionLines());
  assert.ok(!args.includes("--allow-all") && !args.includes("-A"));
  const inc = args.indexOf("--include");
  assert.equal(args[inc + 1], "src/store/worker.ts");
  assert.equal(args[args.indexOf("--output") + 1], "/tmp/x/flame-cache");
});

Deno.test("compile.sh: a DENORT_BIN that does not exist, or is the deno CLI, is refused clearly (exit 3)", async () => {
  let r = await run("bash", [SCRIPT, "-o", "/tmp/flame-compile-never/flame-cache"], {
    DENORT_BIN: "/nonexistent/denort",
  });
  assert.equal(r.code, 3, r.stderr);
  assert.match(r.stderr, /DENORT_BIN=\/nonexistent\/denort does not exist/);
  assert.match(r.stderr, /dl\.deno\.land\/release\/v\d+\.\d+\.\d+\/denort-/);
  r = await run("bash", [SCRIPT, "-o", "/tmp/flame-compile-never/flame-cache"], {
    DENORT_BIN: Deno.execPath(),
  });
  assert.equal(r.code, 3, r.stderr);
  assert.match(r.stderr, /is the deno CLI, not denort/);
});

Deno.test({
  name: "compile: the store worker and the whole source tree are embedded",
  sanitizeResources: false,
  async fn() {
    // Build on the deno CLI itself as the base (an executable that would not run
    // flame-cache, but deno lists what it embeds): needs no download.
    const dir = await Deno.makeTempDir({ prefix: "flame-ops-embed-" });
    try {
      const p = await run("bash", [SCRIPT, "--print-args", "--no-check", "-o", `${dir}/flame-cache`]);
      const r = await run(Deno.execPath(), p.stdout.trim().split("\n"), { DENORT_BIN: Deno.execPath() });
      assert.equal(r.code, 0, r.stderr);
      const tree = r.stdout + r.stderr;
      assert.match(tree, /Embedded Files/);
      // deno lists a folder's files, or collapses a big folder to `folder/* (size)`: either shows the
      // store worker's folder embedded whole.
      assert.match(tree, /worker\.ts|store\/\* \(/, tree);
      assert.match(tree, /store/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "compile.sh: builds dist/flame-cache when denort is available, else says what is missing (exit 3)",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "flame-ops-compile-" });
    const bin = `${dir}/flame-cache`;
    try {
      const r = await run("bash", [SCRIPT, "--no-check", "-o", bin]);
      if (r.code !== 0) {
        // No denort here: the failure names the runtime, where it comes from and DENORT_BIN.
        assert.equal(r.code, 3, `unexpected failure:\n${r.stderr}`);
        assert.match(r.stderr, /denort-[a-z0-9_]+-unknown-linux-gnu\.zip/);
        assert.match(r.stderr, /DENORT_BIN=\/path\/to\/denort deno task compile/);
        console.log("compile.sh: no denort runtime reachable here; checked the error message only");
        return;
      }
      const version = await new Deno.Command(bin, { args: ["--version"] }).output();
      assert.match(new TextDecoder().decode(version.stdout), /^flame-cache \d/);
      await serveAndCheck(bin, dir);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/** Run the executable: put + get + delete with fs storage, then SIGTERM. */
async function serveAndCheck(bin: string, dir: string): Promise<void> {
  const child = new Deno.Command(bin, {
    args: ["serve", "--listen", "127.0.0.1:0", "--storage", `${dir}/data`, "--http", "127.0.0.1:0"],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let logs = "";
  const info = await new Promise<Record<string, unknown>>((resolve, reject) => {
    (async () => {
      for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
        logs += chunk;
        const line = logs.split("\n").find((l) => l.includes('"flame-cache started"'));
        if (line) resolve(JSON.parse(line));
      }
      reject(new Error(`binary exited before starting:\n${logs}`));
    })().catch(reject);
  });
  const listen = String(info.listen);
  const client = connect(`127.0.0.1:${listen.slice(listen.lastIndexOf(":") + 1)}`);
  try {
    const msgs = opaqueFlightData([new TextEncoder().encode("compiled")]);
    msgs[0].flight_descriptor = { type: 1, path: ["app/bin"] };
    const ref = BSON.deserialize((await doPut(client, msgs))[0]);
    assert.ok((await doGet(client, `${ref.key}:0`)).length > 0);
    await doAction(client, "DELETE", ref.key);
    assert.equal((await statusOf(doGet(client, ref.key))).code, grpc.status.NOT_FOUND);
    const res = await fetch(`http://${info.http}/healthz`);
    assert.equal(await res.text(), "ok\n");
  } finally {
    client.close();
    child.kill("SIGTERM");
  }
  assert.equal((await child.status).code, 0, logs);
}
