/**
 * Limits, each answered with a clear status: a gRPC prefix claiming 3 GiB
 * (refused at once, nothing allocated), claims of 2 GiB objects that never
 * arrive (nothing committed), 1000 patches then RESOURCE_EXHAUSTED, max
 * concurrent streams per connection, max connections, the idle request-stream
 * timeout, and grpc-timeout deadlines.
 */
import assert from "node:assert/strict";
import {
  alive,
  bytesMessage,
  concat,
  descriptor,
  enc,
  fbTable,
  FLIGHT,
  flightData,
  fmtMiB,
  FRAME,
  grpcFrame,
  h2call,
  h2close,
  h2connect,
  ipcMessages,
  listKeys,
  logLines,
  MiB,
  opaqueStream,
  opaqueUpload,
  pbBytes,
  RawH2,
  ROOT,
  rss,
  S,
  sleep,
  tcpConnect,
  varint,
  withServer,
} from "./helpers.ts";
import { FLAGS } from "../../src/cli/help.ts";
import { skipUnless } from "../helpers/skip.ts";
import { collect, connect, statusOf } from "../helpers/flight_client.ts";
import { GrpcServer } from "../../src/grpc/mod.ts";
import type net from "node:net";

Deno.test({
  name: "limits: a gRPC message claiming 3 GiB is refused at once with RESOURCE_EXHAUSTED, nothing allocated",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withServer([], { storage: "none" }, async (server) => {
      const s = await h2connect(server.port);
      try {
        const before = rss(server.child.pid);
        const results = await Promise.all(Array.from({ length: 32 }, () =>
          // 3 GiB claimed, 3 bytes sent, stream left open: the refusal must not wait for the rest.
          h2call(s, FLIGHT + "DoPut", new Uint8Array([0, 0xc0, 0, 0, 0, 1, 2, 3]), {
            end: false,
            timeoutMs: 5_000,
          })));
        const after = rss(server.child.pid);
        for (const r of results) {
          assert.equal(r.grpcStatus, S.RESOURCE_EXHAUSTED, JSON.stringify(r));
          assert.match(r.grpcMessage ?? "", /3221225472 bytes exceeds the server limit/);
          assert.ok(r.statusMs! < 2_000, `refused after ${r.statusMs} ms`);
        }
        console.log(
          `3 GiB claims: 32 refused in <= ${Math.max(...results.map((r) => r.statusMs!)).toFixed(0)} ms: "${
            results[0].grpcMessage
          }"; RSS ${fmtMiB(before)} -> ${fmtMiB(after)}`,
        );
        assert.ok(after - before < 32 * MiB);
      } finally {
        await h2close(s);
      }
    });
  },
});

/** Replace the first little-endian int64 equal to `from` in `bytes` (after `start`) by `to`. */
function patchI64(bytes: Uint8Array, from: bigint, to: bigint, start = 0): void {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = start; i + 8 <= bytes.length; i++) {
    if (dv.getBigInt64(i, true) === from) {
      dv.setBigInt64(i, to, true);
      return;
    }
  }
  throw new Error(`patchI64: ${from} not found`);
}

Deno.test({
  name: "limits: 64 uploads claiming ~2 GiB objects that never arrive do not commit memory",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    // A valid record batch for one 1000-byte row, its header patched to declare a 2 GiB - 4 KiB row.
    const N = 2 ** 31 - 4096;
    const msgs = ipcMessages(opaqueStream([new Uint8Array(1000).fill(1)]));
    const header = msgs[1].header.slice();
    const dv = new DataView(header.buffer);
    const m = fbTable(dv, dv.getUint32(0, true));
    dv.setBigInt64(m(3), BigInt(16 + N), true); // Message.bodyLength
    patchI64(header, 1000n, BigInt(N)); // the data buffer's length
    const bodyStart = msgs[1].body.slice(0, 16); // version value + offsets [0, N]
    new DataView(bodyStart.buffer).setInt32(12, N, true);
    const schemaMsg = grpcFrame(flightData({
      descriptor: descriptor({ type: 1, path: ["lim/huge/o"] }),
      header: msgs[0].header,
    }));
    // FlightData for the batch: header field, then the body field's tag and length, then 16 real bytes.
    const fdPrefix = concat([pbBytes(2, header), new Uint8Array([0xc2, 0x3e, ...varint(16 + N)])]);
    const grpcLength = fdPrefix.length + 16 + N;
    const prefix = new Uint8Array(5);
    new DataView(prefix.buffer).setUint32(1, grpcLength);
    await withServer([], { storage: "none" }, async (server) => {
      const pid = server.child.pid;
      const before = rss(pid);
      const raws: RawH2[] = [];
      try {
        for (let c = 0; c < 4; c++) {
          const r = await RawH2.open(server.port);
          for (let i = 0; i < 16; i++) {
            r.request(1 + 2 * i, FLIGHT + "DoPut", concat([schemaMsg, prefix, fdPrefix, bodyStart]), false);
          }
          raws.push(r);
        }
        await sleep(3_000);
        const after = rss(pid);
        const statuses = raws.flatMap((r) => [...r.resets().values()]);
        console.log(
          `2 GiB claims: 64 streams x ${fmtMiB(16 + N)} declared, ~4 KiB sent each; RSS ${
            fmtMiB(before)
          } -> ${fmtMiB(after)}; resets ${JSON.stringify(statuses)}; VmSize ${
            Math.round(
              Number(/VmSize:\s+(\d+)/.exec(Deno.readTextFileSync(`/proc/${pid}/status`))![1]) / 1024,
            )
          } MiB`,
        );
        assert.ok(alive(pid));
        assert.ok(after - before < 128 * MiB, `claims committed ${fmtMiB(after - before)}`);
      } finally {
        for (const r of raws) r.destroy();
      }
      await sleep(500);
      assert.ok(!(await listKeys(server.port)).includes("lim/huge/o"));
      assert.ok(!/INTERNAL/.test(server.logs()), "no INTERNAL errors");
    });
  },
});

/** A server under an address-space limit (ulimit -v), as with strict overcommit or a VM limit. */
async function startLimitedServer(
  kib: number,
): Promise<{ port: number; logs: () => string; kill: () => Promise<void> }> {
  const child = new Deno.Command("bash", {
    args: [
      "-c",
      `ulimit -v ${kib} && exec "$0" run -A main.ts serve --listen 127.0.0.1:0 --storage none`,
      Deno.execPath(),
    ],
    cwd: ROOT,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let text = "";
  const decoder = new TextDecoder();
  const pump = (async () => {
    for await (const c of child.stderr) text += decoder.decode(c, { stream: true });
  })();
  const kill = async () => {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
    await child.status;
    await pump.catch(() => {});
  };
  const deadline = Date.now() + 30_000;
  while (!text.includes('"flame-cache started"')) {
    if (Date.now() > deadline) {
      await kill();
      throw new Error(`limited server did not start:\n${text}`);
    }
    await sleep(100);
  }
  return { port: Number(/"listen":"127\.0\.0\.1:(\d+)"/.exec(text)![1]), logs: () => text, kill };
}

/** The address-space limit of the test below: 40 GB, far less than V8 reserves with its defaults on some hosts. */
const LIMIT_KIB = 40_000_000;

/** Whether Deno starts at all under {@link LIMIT_KIB} here (V8 reserves large ranges, e.g. its CagedHeap). */
function startsUnderLimit(): boolean {
  const r = new Deno.Command("bash", {
    args: ["-c", `ulimit -v ${LIMIT_KIB} && exec "$0" eval 0`, Deno.execPath()],
    stdout: "null",
    stderr: "null",
  }).outputSync();
  return r.success;
}

Deno.test({
  ignore: skipUnless(
    "40 GB address-space limit",
    startsUnderLimit(),
    "Deno cannot start under `ulimit -v 40000000` on this host (V8 reserves more address space)",
  ),
  // Was a bug: PayloadBuilder.expect allocated the announced size outside the in-flight budget, so
  // claims under an address-space limit ended INTERNAL. The reservation now counts against the budget.
  name: "limits: claims of 2 GiB uploads under an address-space limit get RESOURCE_EXHAUSTED, never INTERNAL",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const N = 2 ** 31 - 4096;
    const msgs = ipcMessages(opaqueStream([new Uint8Array(1000).fill(1)]));
    const header = msgs[1].header.slice();
    const dv = new DataView(header.buffer);
    dv.setBigInt64(fbTable(dv, dv.getUint32(0, true))(3), BigInt(16 + N), true);
    patchI64(header, 1000n, BigInt(N));
    const bodyStart = msgs[1].body.slice(0, 16);
    new DataView(bodyStart.buffer).setInt32(12, N, true);
    const fdPrefix = concat([pbBytes(2, header), new Uint8Array([0xc2, 0x3e, ...varint(16 + N)])]);
    const prefix = new Uint8Array(5);
    new DataView(prefix.buffer).setUint32(1, fdPrefix.length + 16 + N);
    const body = concat([
      grpcFrame(
        flightData({ descriptor: descriptor({ type: 1, path: ["lim/huge/o"] }), header: msgs[0].header }),
      ),
      prefix,
      fdPrefix,
      bodyStart,
    ]);
    const server = await startLimitedServer(LIMIT_KIB);
    try {
      const s = await h2connect(server.port);
      try {
        const rs = await Promise.all(
          Array.from(
            { length: 40 },
            () => h2call(s, FLIGHT + "DoPut", body, { end: false, timeoutMs: 5_000 }),
          ),
        );
        const codes = rs.map((r) => r.grpcStatus);
        assert.ok(
          !/INTERNAL|allocation failed/.test(server.logs()),
          "allocation failures surfaced as INTERNAL",
        );
        assert.ok(codes.every((c) => c === undefined || c === S.RESOURCE_EXHAUSTED), `statuses ${codes}`);
      } finally {
        await h2close(s);
      }
    } finally {
      await server.kill();
    }
  },
});

Deno.test({
  name: "limits: 1000 patches, then the 1001st gets RESOURCE_EXHAUSTED (fs storage, also after a restart)",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "flame-patch-" });
    const patch = (i: number) =>
      opaqueUpload(null, [enc.encode(`patch ${i}`)], "PATCH:lim/p/o").map((m) => grpcFrame(m));
    try {
      await withServer([], { storage: dir }, async (server) => {
        const s = await h2connect(server.port);
        try {
          const put = await h2call(
            s,
            FLIGHT + "DoPut",
            opaqueUpload("lim/p/o", [enc.encode("base")]).map((m) => grpcFrame(m)),
          );
          assert.equal(put.grpcStatus, 0);
          const t0 = performance.now();
          // 8 at a time: the cache applies them in arrival order.
          for (let i = 0; i < 1000; i += 8) {
            const rs = await Promise.all(
              Array.from({ length: 8 }, (_, j) => h2call(s, FLIGHT + "DoPut", patch(i + j))),
            );
            for (const r of rs) assert.equal(r.grpcStatus, 0, JSON.stringify(r));
          }
          const ms = performance.now() - t0;
          const over = await h2call(s, FLIGHT + "DoPut", patch(1000));
          console.log(
            `patches: 1000 accepted in ${
              (ms / 1000).toFixed(1)
            } s; 1001st -> ${over.grpcStatus}: ${over.grpcMessage}`,
          );
          assert.equal(over.grpcStatus, S.RESOURCE_EXHAUSTED);
          assert.match(over.grpcMessage ?? "", /maximum of 1000 patches/);
        } finally {
          await h2close(s);
        }
      });
      // The count survives a restart; an update starts the object again.
      await withServer([], { storage: dir }, async (server) => {
        const s = await h2connect(server.port);
        try {
          const over = await h2call(s, FLIGHT + "DoPut", patch(1001));
          assert.equal(over.grpcStatus, S.RESOURCE_EXHAUSTED, `after restart: ${JSON.stringify(over)}`);
          const put = await h2call(
            s,
            FLIGHT + "DoPut",
            opaqueUpload("lim/p/o", [enc.encode("new base")]).map((m) => grpcFrame(m)),
          );
          assert.equal(put.grpcStatus, 0);
          assert.equal((await h2call(s, FLIGHT + "DoPut", patch(1))).grpcStatus, 0);
        } finally {
          await h2close(s);
        }
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "limits: 256 concurrent streams per connection; a client opening more is refused, others unaffected",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withServer([], { storage: "none" }, async (server) => {
      // A well-behaved client (node:http2 honours SETTINGS_MAX_CONCURRENT_STREAMS): 400 parallel calls
      // on one connection all succeed, queued by the client.
      const s = await h2connect(server.port);
      const r = await RawH2.open(server.port);
      try {
        const settings = await r.until(
          () => r.frames.some((f) => f.type === FRAME.SETTINGS && !(f.flags & 1)),
          3000,
        );
        assert.ok(settings);
        const sf = r.frames.find((f) => f.type === FRAME.SETTINGS && !(f.flags & 1))!;
        const advertised = new Map<number, number>();
        for (let i = 0; i + 6 <= sf.payload.length; i += 6) {
          const d = new DataView(sf.payload.buffer, sf.payload.byteOffset + i);
          advertised.set(d.getUint16(0), d.getUint32(2));
        }
        assert.equal(advertised.get(3), 256, "SETTINGS_MAX_CONCURRENT_STREAMS");
        const many = await Promise.all(
          Array.from({ length: 400 }, () => h2call(s, FLIGHT + "ListActions", grpcFrame(new Uint8Array(0)))),
        );
        assert.ok(many.every((x) => x.grpcStatus === 0));
        // A raw client that ignores the limit: 256 uploads left open, then a 257th.
        await sleep(200); // our SETTINGS ACK is in
        for (let i = 0; i < 257; i++) {
          r.request(1 + 2 * i, FLIGHT + "DoPut", new Uint8Array([0, 0, 0, 1, 0]), false);
        }
        await r.until(() => r.resets().has(513) || r.goaway() !== undefined || r.closed, 5_000);
        const refused = r.resets().get(513);
        console.log(
          `streams: advertised ${
            advertised.get(3)
          }; 400 calls queued by node:http2 all OK; raw 257th stream -> ${
            refused !== undefined
              ? `RST_STREAM ${refused}`
              : `GOAWAY ${r.goaway()} (connection closed: ${r.closed})`
          }`,
        );
        assert.ok(refused === 7 || refused === 1 || r.goaway() === 1, "the 257th stream is refused");
        // Other connections are unaffected.
        const other = await h2call(s, FLIGHT + "ListActions", grpcFrame(new Uint8Array(0)));
        assert.equal(other.grpcStatus, 0);
      } finally {
        r.destroy();
        await h2close(s);
      }
      assert.ok(alive(server.child.pid));
    });
  },
});

Deno.test({
  name: "limits: max 4096 connections; the 4097th is refused at accept, and freed slots are reusable",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withServer([], { storage: "none" }, async (server) => {
      const pid = server.child.pid;
      const socks: net.Socket[] = [];
      try {
        const before = rss(pid);
        const t0 = performance.now();
        for (let i = 0; i < 4096; i += 64) {
          const batch = await Promise.all(Array.from({ length: 64 }, () => tcpConnect(server.port)));
          for (const b of batch) {
            b.on("error", () => {});
            b.resume();
          }
          socks.push(...batch);
        }
        await sleep(1000);
        const open = socks.filter((x) => !x.destroyed && !x.readableEnded).length;
        assert.equal(open, 4096, "the first 4096 connections stay open");
        // The 4097th: accepted by the kernel, closed by the server at once.
        const extra = await tcpConnect(server.port);
        extra.on("error", () => {});
        extra.resume();
        const closed = await new Promise<boolean>((r) => {
          extra.once("close", () => r(true));
          setTimeout(() => r(false), 3_000);
        });
        const refusedCall = await h2connect(server.port).then(
          async (s) => {
            const x = await h2call(s, FLIGHT + "ListActions", grpcFrame(new Uint8Array(0)), {
              timeoutMs: 3_000,
            });
            await h2close(s);
            return x.grpcStatus === 0 ? "served" : `refused (${x.error ?? x.rstCode})`;
          },
          (e) => `refused (${(e as Error).message})`,
        );
        const held = rss(pid);
        // Free 64 slots: new clients are served again.
        for (const s of socks.splice(0, 64)) s.destroy();
        await sleep(500);
        const s = await h2connect(server.port);
        const ok = await h2call(s, FLIGHT + "ListActions", grpcFrame(new Uint8Array(0)));
        await h2close(s);
        console.log(
          `connections: 4096 open in ${((performance.now() - t0) / 1000).toFixed(1)} s, RSS ${
            fmtMiB(before)
          } -> ${
            fmtMiB(held)
          }; 4097th closed by the server: ${closed}; a gRPC client meanwhile: ${refusedCall}; after freeing 64: ${
            ok.grpcStatus === 0 ? "served" : JSON.stringify(ok)
          }`,
        );
        assert.ok(closed, "the 4097th connection is closed at once");
        assert.match(refusedCall, /refused/);
        assert.equal(ok.grpcStatus, 0);
      } finally {
        for (const s of socks) s.destroy();
      }
      assert.ok(alive(pid));
    });
  },
});

Deno.test({
  name: "limits: a request stream that stalls mid-message is cut off by the idle timeout (transport, 1.5 s)",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    // The production server's idle timeout is 300 s and not configurable (see the ignored test below),
    // so the mechanism is checked on the transport itself with a short value.
    const server = new GrpcServer({ maxMessageBytes: 1 << 20, idleTimeoutMs: 1_500 });
    server.handle(FLIGHT + "DoPut", async (call) => {
      for await (const _ of call.messages()) { /* drain */ }
    });
    const port = await server.listen("127.0.0.1", 0);
    const s = await h2connect(port);
    try {
      const head = new Uint8Array(5);
      new DataView(head.buffer).setUint32(1, 1000);
      const r = await h2call(s, FLIGHT + "DoPut", concat([head, new Uint8Array(500)]), {
        end: false,
        timeoutMs: 10_000,
      });
      console.log(
        `idle timeout (transport): ${r.grpcStatus} "${r.grpcMessage}" after ${r.statusMs?.toFixed(0)} ms`,
      );
      assert.equal(r.grpcStatus, S.DEADLINE_EXCEEDED);
      assert.match(r.grpcMessage ?? "", /idle/);
      assert.ok(r.statusMs! >= 1_400 && r.statusMs! < 5_000, `cut off after ${r.statusMs} ms`);
    } finally {
      await h2close(s);
      await server.close(100);
    }
  },
});

Deno.test({
  // Was a missing setting: the idle request timeout is now configurable (--idle-timeout,
  // FLAME_CACHE_IDLE_TIMEOUT, cache.idle_timeout; default 300 s).
  name: "limits: --idle-timeout cuts off a DoPut stalled mid-message on the real server",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    assert.ok(FLAGS.some((f) => f.name === "idle-timeout"), "--idle-timeout is a flag");
    await withServer(["--idle-timeout", "2s"], { storage: "none" }, async (server) => {
      const s = await h2connect(server.port);
      try {
        const msgs = opaqueUpload("lim/idle/o", [new Uint8Array(100_000)]).map((m) => grpcFrame(m));
        const all = concat(msgs);
        const r = await h2call(s, FLIGHT + "DoPut", all.subarray(0, all.length >> 1), {
          end: false,
          timeoutMs: 20_000,
        });
        assert.equal(r.grpcStatus, S.DEADLINE_EXCEEDED, JSON.stringify(r));
        assert.ok(r.statusMs! < 6_000);
        assert.ok(!(await listKeys(server.port, s)).includes("lim/idle/o"));
      } finally {
        await h2close(s);
      }
    });
  },
});

Deno.test({
  name:
    "limits: grpc-timeout is honoured: DoGet of 64 MiB with a 1 ms deadline ends at once (DEADLINE_EXCEEDED)",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withServer([], { storage: "none" }, async (server) => {
      const s = await h2connect(server.port, { initialWindowSize: 16 * MiB });
      const client = connect(server.address);
      try {
        const put = await h2call(
          s,
          FLIGHT + "DoPut",
          opaqueUpload("lim/d/big", [new Uint8Array(64 * MiB).fill(1)]).map((m) => grpcFrame(m)),
          { timeoutMs: 60_000 },
        );
        assert.equal(put.grpcStatus, 0);
        // What a Flame client sees: grpc-js with a 1 ms deadline (it sends grpc-timeout and keeps its own timer).
        for (let i = 0; i < 5; i++) {
          const st = await statusOf(
            collect(client.DoGet({ ticket: enc.encode("lim/d/big") }, { deadline: Date.now() + 1 })),
          );
          assert.equal(st.code, S.DEADLINE_EXCEEDED, JSON.stringify(st));
        }
        // What the server does on its own (raw client, no timer of its own): it stops at the deadline.
        const ticket = grpcFrame(bytesMessage(enc.encode("lim/d/big")));
        const outcomes: string[] = [];
        for (const t of ["1m", "1u", "1n", "30m"]) {
          const r = await h2call(s, FLIGHT + "DoGet", ticket, { headers: { "grpc-timeout": t } });
          outcomes.push(
            `${t} -> ${
              r.grpcStatus !== undefined ? `status ${r.grpcStatus}` : `RST_STREAM ${r.rstCode}`
            } after ${r.ms.toFixed(0)} ms, ${fmtMiB(r.bytes)}`,
          );
          assert.ok(
            r.grpcStatus === S.DEADLINE_EXCEEDED || (r.grpcStatus === undefined && r.rstCode === 8),
            `grpc-timeout ${t}: ${JSON.stringify({ ...r, headers: undefined })}`,
          );
          assert.ok(r.bytes < 64 * MiB && r.ms < 2_000, "the reply stops at the deadline");
        }
        console.log(`deadlines: grpc-js 1 ms x5 -> DEADLINE_EXCEEDED; raw: ${outcomes.join("; ")}`);
      } finally {
        client.close();
        await h2close(s);
      }
      const logged = logLines(server).filter((l) => l.code === "DEADLINE_EXCEEDED").length;
      assert.ok(logged >= 4, `server logged ${logged} DEADLINE_EXCEEDED calls`);
    });
  },
});

Deno.test({
  // Was a bug: on a deadline after the headers, the stream was reset at once and the trailers lost.
  // The transport now sends grpc-status 4 first and resets only what is still open a second later.
  name:
    "limits: a deadline that expires after the headers (1 ms, or mid-reply) ends with grpc-status DEADLINE_EXCEEDED",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withServer([], { storage: "none" }, async (server) => {
      const s = await h2connect(server.port, { initialWindowSize: 16 * MiB });
      try {
        await h2call(
          s,
          FLIGHT + "DoPut",
          opaqueUpload("lim/d/big", [new Uint8Array(64 * MiB)]).map((m) => grpcFrame(m)),
        );
        for (const t of ["1m", "1m", "1m", "1m", "30m"]) {
          const r = await h2call(s, FLIGHT + "DoGet", grpcFrame(bytesMessage(enc.encode("lim/d/big"))), {
            headers: { "grpc-timeout": t },
          });
          assert.equal(
            r.grpcStatus,
            S.DEADLINE_EXCEEDED,
            `${t}: ${JSON.stringify({ ...r, headers: undefined })}`,
          );
        }
      } finally {
        await h2close(s);
      }
    });
  },
});
