/**
 * Regression test for the Deno node:http2 abort on client GOAWAY
 * (field notes; denoland/deno#36788): Node http2 clients that send GOAWAY
 * while a stream is open, hundreds of times. Without the guard, the bare
 * transport (tests/helpers/bare_server.ts unguarded) died in 2 of 3 runs here,
 * within about 400 cycles, with exactly the nghttp2 assertion (exit 134) or a
 * segfault (139); the crash is timing-dependent, so that run is informative only.
 */
import assert from "node:assert/strict";
import { startServer } from "../helpers/server.ts";
import { connect, doAction } from "../helpers/flight_client.ts";

const STORM = new URL("../helpers/goaway_storm.mjs", import.meta.url).pathname;
const BARE = new URL("../helpers/bare_server.ts", import.meta.url).pathname;

async function storm(port: number, cycles: number, variant: string) {
  const out = await new Deno.Command("node", {
    args: [STORM, String(port), String(cycles), variant],
    stderr: "inherit",
  }).output();
  return JSON.parse(new TextDecoder().decode(out.stdout)) as { ok: number; refused: number };
}

Deno.test({
  name: "GOAWAY storm: 2 x 500 GOAWAYs with open streams leave the server up",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const server = await startServer();
    try {
      for (const variant of ["close-mid", "goaway-open"]) {
        const result = await storm(server.port, 500, variant);
        assert.equal(result.ok, 500, `${variant}: every cycle connects: ${JSON.stringify(result)}`);
      }
      const client = connect(server.address);
      const [ok] = await doAction(client, "DELETE", "app/*");
      assert.equal(new TextDecoder().decode(ok), "OK", "server still answers");
      client.close();
    } finally {
      const status = await server.stop();
      assert.equal(status.code, 0, `server exited cleanly (not 134/139); logs:\n${server.logs()}`);
    }
  },
});

Deno.test({
  name: "GOAWAY storm against the unguarded transport (informative: shows the crash the guard prevents)",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", BARE, "unguarded"],
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const reader = child.stdout.getReader();
    const { value } = await reader.read();
    reader.releaseLock();
    const port = Number(new TextDecoder().decode(value).trim());
    try {
      const result = await storm(port, 300, "close-mid");
      const status = await Promise.race([
        child.status,
        new Promise<null>((r) => setTimeout(() => r(null), 500)),
      ]);
      console.log(
        `unguarded transport: ${result.ok} cycles, ${
          status ? `died with exit ${status.code}` : "still alive"
        }`,
      );
    } finally {
      try {
        child.kill("SIGKILL");
      } catch { /* already dead */ }
      await child.status;
      await child.stdout.cancel().catch(() => {});
    }
  },
});
