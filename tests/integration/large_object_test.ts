/**
 * Bounded memory for large objects with durable storage: a 384 MiB object sent
 * as ONE gRPC message (as Flame's clients do) is streamed to a staging file and
 * adopted; the get streams it back from disk. The server's peak RSS must grow
 * by far less than the object size.
 */
import assert from "node:assert/strict";
import { connect, doGet, doPut, opaqueFlightData } from "../helpers/flight_client.ts";
import { startServer } from "../helpers/server.ts";
import type * as grpc from "@grpc/grpc-js";

function memory(pid: number): { rss: number; hwm: number } {
  const s = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kib = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(s)![1]) * 1024;
  return { rss: kib("VmRSS"), hwm: kib("VmHWM") };
}

Deno.test({
  name: "a 384 MiB single-message object goes to disk and back with bounded server memory",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir();
    const server = await startServer(["--storage", dir]);
    const client = connect(
      server.address,
      { "grpc-node.flow_control_window": 16 << 20 } as grpc.ClientOptions,
    );
    try {
      const size = 384 << 20;
      const big = new Uint8Array(size);
      for (let i = 0; i < size; i += 4096) big[i] = (i >>> 12) & 0xff;
      big[size - 1] = 0x5a;
      const before = memory(server.child.pid);
      const msgs = opaqueFlightData([big]);
      msgs[0].flight_descriptor = { type: 1, path: ["app/big/obj"] };
      await doPut(client, msgs);
      const got = await doGet(client, "app/big/obj:0");
      const after = memory(server.child.pid);
      // The reply: schema message, then one row whose body ends with the payload.
      const body = got[1].data_body!;
      const data = body.subarray(
        body.length - size - ((8 - (size % 8)) % 8),
        body.length - ((8 - (size % 8)) % 8),
      );
      assert.equal(data.length, size);
      for (let i = 0; i < size; i += 4096) assert.equal(data[i], (i >>> 12) & 0xff);
      assert.equal(data[size - 1], 0x5a);
      const growth = after.hwm - before.rss;
      console.log(`server RSS ${before.rss >> 20} MiB -> peak ${after.hwm >> 20} MiB (+${growth >> 20} MiB)`);
      assert.ok(growth < 256 << 20, `peak RSS grew by ${growth >> 20} MiB for a ${size >> 20} MiB object`);
      // The file on disk is a complete Arrow IPC file.
      const file = await Deno.stat(`${dir}/app/big/obj.arrow`);
      assert.ok(file.size > size);
    } finally {
      client.close();
      await server.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
