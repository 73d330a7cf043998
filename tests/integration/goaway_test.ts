/**
 * Regression test for the Deno node:http2 abort on client GOAWAY
 * (field notes; denoland/deno#36788): a Node http2 client making a call and
 * closing its session gracefully, hundreds of times. Without the guard the
 * server process dies (exit 134) within a few hundred cycles.
 */
import assert from "node:assert/strict";
import { startServer } from "../helpers/server.ts";
import { connect, doAction } from "../helpers/flight_client.ts";

const STORM = new URL("../helpers/goaway_storm.mjs", import.meta.url).pathname;

async function storm(port: number, cycles: number): Promise<{ ok: number; failed: number }> {
  const out = await new Deno.Command("node", {
    args: [STORM, String(port), String(cycles)],
    stderr: "inherit",
  })
    .output();
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

Deno.test({
  name: "GOAWAY storm: 600 graceful client closes leave the server up",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const server = await startServer();
    try {
      const result = await storm(server.port, 600);
      assert.equal(result.ok, 600, `all cycles succeed: ${JSON.stringify(result)}`);
      const client = connect(server.address);
      const [ok] = await doAction(client, "DELETE", "app/*");
      assert.equal(new TextDecoder().decode(ok), "OK", "server still answers");
      client.close();
    } finally {
      const status = await server.stop();
      assert.equal(status.code, 0, `server exited cleanly (not 134); logs:\n${server.logs()}`);
    }
  },
});
