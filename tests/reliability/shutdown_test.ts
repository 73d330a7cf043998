/**
 * Graceful shutdown (main.ts: SIGTERM/SIGINT, 10 s grace): stop accepting,
 * let in-flight calls finish, flush, exit 0. A slow 64 MiB upload in flight at
 * SIGTERM completes and is on disk after a restart; a slow DoGet in flight at
 * SIGINT completes; a stalled upload is cut at the end of the grace period and
 * the process still exits 0; an idle server exits at once.
 */
import assert from "node:assert/strict";
import type http2 from "node:http2";
import { startServer } from "../helpers/server.ts";
import { Channel } from "../../src/grpc/mod.ts";
import { parseEndpoint } from "../../src/grpc/endpoint.ts";
import {
  bytesMessage,
  concat,
  crashMarkers,
  enc,
  FLIGHT,
  grpcFrame,
  grpcMessages,
  h2call,
  h2close,
  h2connect,
  listKeys,
  logLines,
  MiB,
  opaqueUpload,
  pbFields,
  S,
  sleep,
  tcpConnect,
} from "./helpers.ts";

/** Write `body` in `piece`-byte chunks every `everyMs`; resolves with the call's grpc-status. */
function slowUpload(
  session: http2.ClientHttp2Session,
  body: Uint8Array,
  piece: number,
  everyMs: number,
): { done: Promise<{ status?: number; message?: string; ms: number }>; sentBytes: () => number } {
  let sent = 0;
  const started = performance.now();
  const done = new Promise<{ status?: number; message?: string; ms: number }>((resolve) => {
    const req = session.request({
      ":method": "POST",
      ":path": FLIGHT + "DoPut",
      "content-type": "application/grpc",
      te: "trailers",
    });
    let status: number | undefined;
    let message: string | undefined;
    const take = (h: http2.IncomingHttpHeaders) => {
      if (h["grpc-status"] !== undefined) status = Number(h["grpc-status"]);
      if (h["grpc-message"] !== undefined) message = String(h["grpc-message"]);
    };
    req.on("response", take);
    req.on("trailers", take);
    req.on("data", () => {});
    req.on("error", () => {});
    req.on("close", () => resolve({ status, message, ms: performance.now() - started }));
    const tick = () => {
      if (req.closed || req.destroyed) return;
      const chunk = body.subarray(sent, sent + piece);
      sent += chunk.length;
      if (sent >= body.length) req.end(chunk);
      else {
        req.write(chunk);
        setTimeout(tick, everyMs);
      }
    };
    tick();
  });
  return { done, sentBytes: () => sent };
}

function framed(key: string, data: Uint8Array): Uint8Array {
  return concat(opaqueUpload(key, [data]).map((m) => grpcFrame(m)));
}

Deno.test({
  name: "shutdown: SIGTERM mid-upload - the upload is stored durably, new connections are refused, exit 0",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "flame-shutdown-" });
    const data = new Uint8Array(64 * MiB);
    for (let i = 0; i < data.length; i += 997) data[i] = i & 0xff;
    try {
      const server = await startServer([], { storage: dir });
      const s = await h2connect(server.port, { initialWindowSize: 16 * MiB });
      try {
        // ~4 s: 1 MiB every 60 ms.
        const up = slowUpload(s, framed("sd/s/big", data), MiB, 60);
        await sleep(1_000);
        const sentAtSignal = up.sentBytes();
        const signalledAt = performance.now();
        server.child.kill("SIGTERM");
        await sleep(300);
        // Stop accepting: a new connection is refused (listener closed) or told to go away.
        const fresh = await tcpConnect(server.port).then(
          async (sock) => {
            sock.destroy();
            const c = await h2connect(server.port).catch(() => null);
            if (!c) return "refused";
            const r = await h2call(c, FLIGHT + "ListActions", grpcFrame(new Uint8Array(0)), {
              timeoutMs: 3_000,
            });
            await h2close(c);
            return r.grpcStatus === S.UNAVAILABLE ? "UNAVAILABLE" : `served (${JSON.stringify(r)})`;
          },
          () => "refused",
        );
        const result = await up.done;
        const status = await server.stop(20_000);
        const exitedAfter = performance.now() - signalledAt;
        console.log(
          `SIGTERM after ${(sentAtSignal / MiB).toFixed(0)} of 64 MiB sent: upload -> ${result.status} in ${
            (result.ms / 1000).toFixed(1)
          } s; new connection: ${fresh}; exit ${status.code} ${
            (exitedAfter / 1000).toFixed(1)
          } s after the signal`,
        );
        assert.ok(sentAtSignal < data.length / 2, "the signal came mid-upload");
        // (Whether the client receives its PutResult is checked by the ignored BUG test below.)
        assert.match(fresh, /refused|UNAVAILABLE/);
        assert.equal(status.code, 0);
        assert.ok(exitedAfter < 12_000);
        assert.deepEqual(crashMarkers(server.logs()), []);
        assert.ok(logLines(server).some((l) => l.msg === "stopped"));
      } finally {
        await h2close(s);
      }
      // Flushed: the object is there after a restart, byte for byte.
      const again = await startServer([], { storage: dir });
      try {
        const c = await h2connect(again.port, { initialWindowSize: 16 * MiB });
        try {
          assert.ok((await listKeys(again.port, c)).includes("sd/s/big"));
          const r = await h2call(c, FLIGHT + "DoGet", grpcFrame(bytesMessage(enc.encode("sd/s/big"))), {
            keep: true,
            timeoutMs: 60_000,
          });
          assert.equal(r.grpcStatus, 0);
          let found = false;
          for (const m of grpcMessages(r.data!)) {
            for (const f of pbFields(m)) {
              if (f.field !== 1000 || f.bytes.length < data.length) continue;
              // The read-schema body ends with the payload (then padding).
              const start = f.bytes.length - data.length - ((8 - (data.length % 8)) % 8);
              found = f.bytes.subarray(start, start + data.length).every((b, i) => b === data[i]);
            }
          }
          assert.ok(found, "the payload read back after the restart is the one uploaded");
        } finally {
          await h2close(c);
        }
      } finally {
        await again.stop();
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "shutdown: a stalled upload is cut at the end of the 10 s grace; the process still exits 0; idle exit is fast",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    // Idle server: exits at once.
    const idle = await startServer([], { storage: "none" });
    const t0 = performance.now();
    const idleStatus = await idle.stop(15_000);
    const idleMs = performance.now() - t0;
    assert.equal(idleStatus.code, 0);
    assert.ok(idleMs < 3_000, `idle shutdown took ${idleMs} ms`);

    const server = await startServer([], { storage: "none" });
    const s = await h2connect(server.port);
    try {
      const all = framed("sd/stall/o", new Uint8Array(100_000).fill(1));
      const stalled = h2call(s, FLIGHT + "DoPut", all.subarray(0, all.length >> 1), {
        end: false,
        timeoutMs: 30_000,
      });
      await sleep(300);
      const t1 = performance.now();
      server.child.kill("SIGTERM");
      const status = await server.stop(25_000);
      const ms = performance.now() - t1;
      const r = await stalled;
      console.log(
        `stalled upload at SIGTERM: exit ${status.code} after ${(ms / 1000).toFixed(1)} s; client saw ${
          r.grpcStatus ?? `reset ${r.rstCode} ${r.error ?? ""}`
        }; idle server exited in ${idleMs.toFixed(0)} ms`,
      );
      assert.equal(status.code, 0);
      assert.ok(ms >= 9_000 && ms < 14_000, `exit ${ms} ms after SIGTERM (grace is 10 s)`);
      assert.notEqual(r.grpcStatus, S.OK);
    } finally {
      await h2close(s);
      await server.kill();
    }
  },
});

Deno.test({
  name: "shutdown: calls in flight at SIGINT/SIGTERM get their whole reply (DoGet 64 MiB, DoPut 64 MiB)",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const server = await startServer([], { storage: "none" });
    const s = await h2connect(server.port, { initialWindowSize: 16 * MiB });
    try {
      const put = await h2call(s, FLIGHT + "DoPut", framed("sd/g/big", new Uint8Array(64 * MiB).fill(9)), {
        timeoutMs: 60_000,
      });
      assert.equal(put.grpcStatus, 0);
      // A slow reader (our TypeScript client's channel, 64 KiB stream window, ~20 MiB/s with pauses):
      // it is still reading when the server is told to stop. (Deno's node:http2 client lost the tail of
      // a paused stream when its session closed, whatever the server did.)
      const channel = new Channel(parseEndpoint(`127.0.0.1:${server.port}`), {
        streamWindowBytes: 64 * 1024,
      });
      const result = (async () => {
        const call = await channel.call(FLIGHT + "DoGet", { streamAbove: 1 << 20 });
        await call.write([bytesMessage(enc.encode("sd/g/big"))]);
        call.end();
        let bytes = 0;
        let chunks = 0;
        let status: number | undefined;
        try {
          for await (const e of call.events()) {
            if (e.type === "chunk" || e.type === "message") bytes += e.data.length;
            if (++chunks % 8 === 0) await sleep(5);
          }
          status = S.OK;
        } catch (err) {
          status = (err as { code?: number }).code ?? -1;
        }
        return { status, bytes };
      })();
      await sleep(800);
      const t0 = performance.now();
      server.child.kill("SIGINT");
      const got = await result;
      const status = await server.stop(20_000);
      console.log(
        `SIGINT mid-DoGet: read -> ${got.status}, ${
          (got.bytes / MiB).toFixed(1)
        } MiB (${got.bytes} bytes); exit ${status.code} after ${
          ((performance.now() - t0) / 1000).toFixed(1)
        } s`,
      );
      assert.equal(status.code, 0);
      assert.equal(got.status, S.OK, `DoGet in flight at SIGINT: ${JSON.stringify(got)}`);
      assert.ok(got.bytes > 64 * MiB, `the whole reply arrived: ${got.bytes} bytes`);
      await channel.close();
      // And a DoPut in flight at SIGTERM gets its PutResult.
      const again = await startServer([], { storage: "none" });
      const c = await h2connect(again.port, { initialWindowSize: 16 * MiB });
      try {
        const up = slowUpload(c, framed("sd/s/big", new Uint8Array(64 * MiB)), MiB, 60);
        await sleep(1_000);
        again.child.kill("SIGTERM");
        const result = await up.done;
        assert.equal((await again.stop(20_000)).code, 0);
        assert.equal(result.status, S.OK, `DoPut in flight at SIGTERM: ${JSON.stringify(result)}`);
      } finally {
        await h2close(c);
        await again.kill();
      }
    } finally {
      await h2close(s);
      await server.kill();
    }
  },
});
