/**
 * `main.ts serve` under exactly the permission flags that `scripts/compile.sh`
 * bakes into dist/flame-cache (scripts/permissions.txt, the one list), doing
 * put + get + delete with fs storage (store worker), the HTTP side port and
 * `cache.network_interface`: a permission missing from the list fails here.
 */
import assert from "node:assert/strict";
import { BSON } from "bson";
import {
  connect,
  doAction,
  doGet,
  doPut,
  flightDataToTable,
  grpc,
  opaqueFlightData,
  readRows,
  statusOf,
} from "../helpers/flight_client.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

/** The flags of scripts/permissions.txt, parsed as scripts/compile.sh does. */
export function permissionFlags(): string[] {
  return Deno.readTextFileSync(`${ROOT}scripts/permissions.txt`)
    .split("\n")
    .map((l) => l.replace(/\s*#.*$/, "").trim())
    .filter((l) => l !== "");
}

Deno.test("permissions: the list is scoped (no --allow-all, no run/ffi/import)", () => {
  const flags = permissionFlags();
  assert.ok(flags.length > 0);
  for (const f of flags) {
    assert.match(f, /^--allow-(net|read|write|env|sys)(=[A-Za-z0-9_,.:/-]+)?$/, `unexpected flag ${f}`);
  }
  assert.ok(!flags.some((f) => f === "--allow-sys"), "sys access is limited to named APIs");
});

Deno.test({
  name:
    "permissions: main.ts serve under the compiled flags does put, get and delete (fs storage, HTTP port)",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "flame-ops-perm-" });
    const config = `${dir}/flame-cluster.yaml`;
    // network_interface makes the configuration list interfaces (--allow-sys=networkInterfaces).
    await Deno.writeTextFile(
      config,
      `cache:\n  network_interface: lo\n  storage: fs://${dir}/data\n  http: 127.0.0.1:0\n  log_level: debug\n`,
    );
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        ...permissionFlags(),
        `${ROOT}main.ts`,
        "serve",
        "--config",
        config,
        "--listen",
        "127.0.0.1:0",
      ],
      cwd: dir,
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    let logs = "";
    const started = new Promise<Record<string, unknown>>((resolve, reject) => {
      (async () => {
        for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
          logs += chunk;
          const line = logs.split("\n").find((l) => l.includes('"flame-cache started"'));
          if (line) resolve(JSON.parse(line));
        }
        reject(new Error(`server exited before starting:\n${logs}`));
      })().catch(reject);
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    try {
      const info = await started;
      const listen = String(info.listen);
      const address = `127.0.0.1:${listen.slice(listen.lastIndexOf(":") + 1)}`;
      assert.equal(info.endpoint, `grpc://${address}`, "advertised address from interface lo");
      const client = connect(address);
      try {
        const payload = new TextEncoder().encode("permission check");
        const msgs = opaqueFlightData([payload]);
        msgs[0].flight_descriptor = { type: 1, path: ["app/perm"] };
        const ref = BSON.deserialize((await doPut(client, msgs))[0]);
        const rows = readRows(flightDataToTable(await doGet(client, `${ref.key}:0`)));
        assert.deepEqual(rows.map((r) => new TextDecoder().decode(r.data)), ["permission check"]);
        await doAction(client, "DELETE", ref.key);
        assert.equal((await statusOf(doGet(client, ref.key))).code, grpc.status.NOT_FOUND);
      } finally {
        client.close();
      }
      const base = `http://${info.http}`;
      for (const path of ["/metrics", "/", "/healthz", "/status.json"]) {
        const res = await fetch(base + path);
        assert.equal(res.status, 200, path);
        await res.body?.cancel();
      }
      child.kill("SIGTERM");
      const status = await child.status;
      assert.equal(status.code, 0, logs);
      assert.ok(!/NotCapable|PermissionDenied|Requires \w+ access/.test(logs), `permission error:\n${logs}`);
      // The objects really went to disk (the worker wrote under the storage folder).
      const entries = [...Deno.readDirSync(`${dir}/data`)].map((e) => e.name);
      assert.ok(entries.length > 0, "storage folder used");
    } finally {
      clearTimeout(timer);
      try {
        child.kill("SIGKILL");
      } catch { /* exited */ }
      await child.status;
      await Deno.remove(dir, { recursive: true });
    }
  },
});
