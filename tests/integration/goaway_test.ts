/**
 * Regression test for the Deno node:http2 abort on client GOAWAY
 * (field notes; denoland/deno#36788): Node http2 clients that send GOAWAY
 * while a stream is open, hundreds of times. Deno's node:http2 server died
 * within about 400 such cycles (nghttp2 assertion, exit 134); our own HTTP/2
 * (src/h2) treats GOAWAY as "no new streams" and must stay up.
 */
import assert from "node:assert/strict";
import { startServer } from "../helpers/server.ts";
import { connect, doAction } from "../helpers/flight_client.ts";

const STORM = new URL("../helpers/goaway_storm.mjs", import.meta.url).pathname;

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
