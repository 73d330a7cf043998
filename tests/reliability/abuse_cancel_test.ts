/**
 * Cancelled transfers against a real server process: slow raw-HTTP/2 writers
 * cancelled by RST_STREAM or TCP close, a DoPut cancelled halfway, DoGets
 * cancelled after the first bytes. Nothing is stored, the server keeps serving.
 *
 * Its own file (and so its own test runner process under scripts/test.sh):
 * after abuse_test.ts's connection storms, Deno's node:http2 client in the
 * same runner crashed with SIGSEGV in this test (2 of 2 runs with the Python
 * abusers; 71 s instead of 6 s without them), and once kept a core busy for
 * 10 minutes in CI.
 */
import assert from "node:assert/strict";
import type http2 from "node:http2";
import {
  alive,
  bytesMessage,
  callWorks,
  crashMarkers,
  enc,
  FLIGHT,
  fmtMiB,
  FRAME,
  grpcFrame,
  h2call,
  h2close,
  h2connect,
  h2frame,
  listKeys,
  logLines,
  MiB,
  opaqueUpload,
  putObject,
  RawH2,
  rss,
  S,
  sleep,
  withServer,
} from "./helpers.ts";

Deno.test({
  name:
    "abuse: slow writers and uploads cancelled midway store nothing; DoGet cancelled midway; server keeps serving",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withServer([], { storage: "none" }, async (server) => {
      const pid = server.child.pid;
      await putObject(server.port, "ab/s/big64", 64 * MiB);
      const before = await listKeys(server.port);
      const sessions: http2.ClientHttp2Session[] = [];
      try {
        const upload = opaqueUpload("ab/cancel/o", [new Uint8Array(64 * MiB).fill(7)]).map((m) =>
          grpcFrame(m)
        );
        const whole = new Uint8Array(upload.reduce((n, m) => n + m.length, 0));
        let off = 0;
        for (const m of upload) {
          whole.set(m, off);
          off += m.length;
        }
        // 1. Slow writers: 8 raw uploads trickling 256 KiB every 100 ms, then cancelled (RST or TCP close).
        const base = rss(pid);
        const writers: RawH2[] = [];
        for (let i = 0; i < 8; i++) {
          const r = await RawH2.open(server.port);
          r.request(1, FLIGHT + "DoPut", new Uint8Array(0), false);
          writers.push(r);
        }
        let sent = 0;
        for (let t = 0; t < 30; t++) {
          const piece = whole.subarray(sent, sent + 256 * 1024);
          for (const r of writers) {
            // Stay within the server's 16 MiB stream window; never END_STREAM.
            for (let p = 0; p < piece.length; p += 16384) {
              r.write(h2frame(FRAME.DATA, 0, 1, piece.subarray(p, p + 16384)));
            }
          }
          sent += piece.length;
          await sleep(100);
        }
        const during = rss(pid);
        const latency = await callWorks(server.port);
        writers.forEach((r, i) => {
          if (i % 2) r.destroy();
          else {
            const code = new Uint8Array(4);
            new DataView(code.buffer).setUint32(0, 8); // CANCEL
            r.write(h2frame(FRAME.RST_STREAM, 0, 1, code));
          }
        });
        await sleep(500);
        for (const r of writers) r.destroy();
        console.log(
          `slow writers: 8 x ${fmtMiB(sent)} of a 64 MiB upload; RSS ${fmtMiB(base)} -> ${fmtMiB(during)} (+${
            fmtMiB(during - base)
          }); ListActions meanwhile ${latency.toFixed(0)} ms`,
        );
        assert.ok(
          during - base < 8 * sent + 64 * MiB,
          "server buffered more than it received (pre-allocation?)",
        );

        // 2. grpc-style cancel of a DoPut after half the bytes, through node:http2.
        const s = await h2connect(server.port, { initialWindowSize: 16 * MiB });
        sessions.push(s);
        const half = await new Promise<{ rst?: number; status?: string }>((resolve) => {
          const req = s.request({
            ":method": "POST",
            ":path": FLIGHT + "DoPut",
            "content-type": "application/grpc",
            te: "trailers",
          });
          let status: string | undefined;
          req.on("trailers", (t) => (status = String(t["grpc-status"])));
          req.on("response", (h) => h["grpc-status"] !== undefined && (status = String(h["grpc-status"])));
          req.on("error", () => {});
          req.on("data", () => {});
          req.on("close", () => resolve({ rst: req.rstCode, status }));
          req.write(whole.subarray(0, whole.length >> 1), () => req.close(8));
        });
        // 3. DoGet of 64 MiB cancelled after the first bytes, and one with the socket destroyed.
        for (const how of ["rst", "destroy"]) {
          const g = await h2connect(server.port);
          sessions.push(g);
          await new Promise<void>((resolve) => {
            const req = g.request({
              ":method": "POST",
              ":path": FLIGHT + "DoGet",
              "content-type": "application/grpc",
              te: "trailers",
            });
            req.on("error", () => {});
            req.once("data", () => (how === "rst" ? req.close(8) : g.destroy()));
            req.on("close", () => resolve());
            req.end(grpcFrame(bytesMessage(enc.encode("ab/s/big64"))));
          });
        }
        await sleep(500);
        assert.deepEqual(await listKeys(server.port), before, "a cancelled upload stored something");
        assert.ok(alive(pid));
        const full = await h2call(
          sessions[0],
          FLIGHT + "DoGet",
          grpcFrame(bytesMessage(enc.encode("ab/s/big64"))),
          {
            timeoutMs: 60_000,
          },
        );
        assert.equal(full.grpcStatus, S.OK, "a full read still works after the cancels");
        const cancelled = logLines(server).filter((l) => l.code === "CANCELLED");
        console.log(
          `cancels: DoPut half-sent then RST -> ${
            JSON.stringify(half)
          }; server logged ${cancelled.length} CANCELLED calls`,
        );
        assert.ok(cancelled.length >= 3, "the server saw the cancels as CANCELLED");
      } finally {
        for (const s of sessions) await h2close(s);
      }
      assert.deepEqual(crashMarkers(server.logs()), []);
    });
  },
});
