/**
 * Connection abuse against a real server process: a storm of >= 10,000
 * abusive connections from Node http2 / raw TCP / grpc-js (abuse_clients.mjs)
 * and Python grpcio / pyarrow (abuse_clients.py, interop .venv) while hundreds
 * of half-open sockets are held; slow readers of a 64 MiB object; half-open
 * sockets that never finish their preface. Cancelled transfers are in
 * abuse_cancel_test.ts (a runner of their own, see there).
 */
import assert from "node:assert/strict";
import {
  alive,
  bytesMessage,
  callWorks,
  crashMarkers,
  enc,
  fdCount,
  FLIGHT,
  fmtMiB,
  grpcFrame,
  h2call,
  h2close,
  h2connect,
  HERE,
  MiB,
  PREFACE,
  putObject,
  RawH2,
  ROOT,
  rss,
  sleep,
  tcpConnect,
  withServer,
} from "./helpers.ts";
import type net from "node:net";
import { skipUnless } from "../helpers/skip.ts";

const PYTHON = `${ROOT}.venv/bin/python`;
/** The grpcio/pyarrow abusers run when the interop virtualenv has them (in CI it must: skip.ts). */
const hasPython = !skipUnless(
  "pyarrow",
  (() => {
    try {
      return new Deno.Command(PYTHON, {
        args: ["-c", "import grpc, pyarrow.flight"],
        stdout: "null",
        stderr: "null",
      })
        .outputSync().success;
    } catch {
      return false;
    }
  })(),
  "no .venv/bin/python with grpcio and pyarrow: the storm's Python abusers are left out (run scripts/interop.sh once)",
);

interface ClientReport {
  total: number;
  ms: number;
  kinds: Record<string, { ok: number; failed: number; errors: string[] }>;
}

async function runClients(cmd: string, args: string[], timeoutMs: number): Promise<ClientReport> {
  const child = new Deno.Command(cmd, { args, cwd: HERE, stdout: "piped", stderr: "piped" }).spawn();
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
  }, timeoutMs);
  const out = await child.output().finally(() => clearTimeout(timer));
  const text = new TextDecoder().decode(out.stdout).trim();
  if (out.code !== 0 || !text) {
    throw new Error(
      `${cmd} ${args.join(" ")} exited ${out.code}/${out.signal}:\n${
        new TextDecoder().decode(out.stderr).slice(-3000)
      }`,
    );
  }
  return JSON.parse(text.split("\n").pop()!);
}

function nodeClients(port: number, count: number, concurrency: number, key: string, kinds?: string) {
  return runClients("node", [
    `${HERE}abuse_clients.mjs`,
    String(port),
    String(count),
    String(concurrency),
    key,
    ...(kinds ? [kinds] : []),
  ], 150_000);
}

function pythonClients(port: number, count: number, threads: number, key: string) {
  return runClients(
    PYTHON,
    [`${HERE}abuse_clients.py`, String(port), String(count), String(threads), key],
    150_000,
  );
}

function failures(r: ClientReport): string[] {
  return Object.entries(r.kinds).filter(([, v]) => v.failed > 0).map(([k, v]) =>
    `${k}: ${v.failed} failed (${v.errors.join(" | ")})`
  );
}

function connections(reports: ClientReport[]): number {
  return reports.reduce((n, r) => n + r.total, 0);
}

/** Sockets held open during a storm: silent, preface + half a frame, DoPut stalled in the middle of a message. */
async function holdHalfOpen(
  port: number,
  n: number,
): Promise<{ close(): void; raws: RawH2[]; socks: net.Socket[] }> {
  const socks: net.Socket[] = [];
  const raws: RawH2[] = [];
  for (let i = 0; i < n; i++) {
    const kind = i % 3;
    if (kind === 0) {
      const s = await tcpConnect(port);
      s.on("error", () => {});
      s.resume();
      socks.push(s);
    } else if (kind === 1) {
      const s = await tcpConnect(port);
      s.on("error", () => {});
      s.write(new Uint8Array([...PREFACE, 0, 0, 8, 1]));
      s.resume();
      socks.push(s);
    } else {
      const r = await RawH2.open(port);
      const head = new Uint8Array(5);
      new DataView(head.buffer).setUint32(1, 1 << 20);
      r.request(1, FLIGHT + "DoPut", new Uint8Array([...head, ...new Uint8Array(1000)]), false);
      raws.push(r);
    }
  }
  return {
    socks,
    raws,
    close() {
      for (const s of socks) s.destroy();
      for (const r of raws) r.destroy();
    },
  };
}

/**
 * The storm: warm-up round, then the main rounds, with 240 half-open sockets
 * held throughout. `objectBytes` is the size of the object the DoGet kinds
 * fetch and cancel.
 */
async function storm(objectBytes: number, warm: number, total: number, nodeConcurrency: number) {
  return await withServer([], { storage: "none" }, async (server) => {
    const pid = server.child.pid;
    await putObject(server.port, "ab/s/big", objectBytes);
    const fds0 = fdCount(pid);
    const held = await holdHalfOpen(server.port, 240);
    const reports: ClientReport[] = [];
    try {
      const pyShare = hasPython ? 0.12 : 0;
      // Warm-up: V8 and the allocator settle only after a few thousand connections.
      const w = [nodeClients(server.port, Math.round(warm * (1 - pyShare)), nodeConcurrency, "ab/s/big")];
      if (hasPython) w.push(pythonClients(server.port, Math.round(warm * pyShare), 6, "ab/s/big"));
      reports.push(...await Promise.all(w));
      await sleep(1000);
      const rssWarm = rss(pid);
      const main = total;
      const started = performance.now();
      const m = [nodeClients(server.port, Math.round(main * (1 - pyShare)), nodeConcurrency, "ab/s/big")];
      if (hasPython) m.push(pythonClients(server.port, Math.round(main * pyShare), 6, "ab/s/big"));
      const latencyDuring = callWorks(server.port);
      reports.push(...await Promise.all(m));
      const stormMs = performance.now() - started;
      const heldOpen = held.socks.filter((s) => !s.destroyed).length +
        held.raws.filter((r) => !r.closed).length;
      const latency = await latencyDuring;
      held.close();
      await sleep(2000);
      const rssAfter = rss(pid);
      const fdsAfter = fdCount(pid);
      await callWorks(server.port);
      const kinds = new Map<string, number>();
      for (const r of reports) {
        for (const [k, v] of Object.entries(r.kinds)) kinds.set(k, (kinds.get(k) ?? 0) + v.ok + v.failed);
      }
      console.log(
        `storm: ${connections(reports) + 240} connections (${
          connections(reports)
        } abusive, the first ${warm} as warm-up, + 240 held half-open, ` +
          `${heldOpen} still open at the end), main phase ${(stormMs / 1000).toFixed(1)} s; ` +
          `RSS after warm-up ${fmtMiB(rssWarm)}, after ${fmtMiB(rssAfter)} (${
            fmtMiB(rssAfter - rssWarm)
          }); ` +
          `fds ${fds0} -> ${fdsAfter}; ListActions during the storm ${latency.toFixed(0)} ms\n  ${
            [...kinds].map(([k, v]) => `${k}=${v}`).join(" ")
          }${
            hasPython
              ? ""
              : "\n  (no .venv/bin/python: grpcio/pyarrow clients skipped; run scripts/interop.sh once)"
          }`,
      );
      assert.ok(alive(pid), "server alive");
      assert.deepEqual(reports.flatMap(failures), [], "client connections that did not behave as expected");
      assert.ok(connections(reports) >= warm + total, `ran ${connections(reports)} connections`);
      assert.ok(fdsAfter <= fds0 + 4, `file descriptors ${fds0} -> ${fdsAfter}: connections leaked`);
      assert.deepEqual(crashMarkers(server.logs()), []);
      return { rssWarm, rssAfter };
    } finally {
      held.close();
    }
  });
}

Deno.test({
  name:
    "abuse: 10,000 abusive connections (GOAWAY, resets, cancels, half-open, garbage; node, grpc-js, grpcio, pyarrow)",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    // 512 KiB objects: DoGet replies fit in one write slice (see the ignored 8 MiB variant below).
    const { rssWarm, rssAfter } = await storm(512 * 1024, 3_000, 10_000, 16);
    // Measured +23..+80 MiB across runs (GC timing); a leak shows as hundreds of MiB (a session
    // timer leak once made it +700 MiB).
    assert.ok(
      rssAfter - rssWarm < 128 * MiB,
      `RSS grew by ${fmtMiB(rssAfter - rssWarm)} after warm-up (limit 128 MiB)`,
    );
  },
});

Deno.test({
  // Was a bug on the old node:http2 transport: with 4 MiB write slices, concurrent cancelled DoGets of
  // 8 MiB objects ballooned RSS to 1-3.5 GiB (it copied each written piece into memory V8 accounted for
  // late). Our own HTTP/2 queues views and drops them on reset; the bound is far below those gigabytes.
  name: "abuse: storm with 8 MiB DoGet cancels keeps RSS within +256 MiB of warm-up",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const { rssWarm, rssAfter } = await storm(8 * MiB, 3_000, 6_000, 32);
    assert.ok(rssAfter - rssWarm < 256 * MiB, `RSS grew by ${fmtMiB(rssAfter - rssWarm)} after warm-up`);
  },
});

Deno.test({
  name: "abuse: 16 slow readers of a 64 MiB object do not make the server buffer the object per reader",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withServer([], { storage: "none" }, async (server) => {
      const pid = server.child.pid;
      const size = 64 * MiB;
      await putObject(server.port, "ab/s/big64", size);
      const fast = await h2connect(server.port, { initialWindowSize: 16 * MiB });
      const readers: RawH2[] = [];
      try {
        // Warm-up: one full read.
        const full = await h2call(fast, FLIGHT + "DoGet", grpcFrame(bytesMessage(enc.encode("ab/s/big64"))), {
          timeoutMs: 60_000,
        });
        assert.equal(full.grpcStatus, 0);
        assert.ok(full.bytes > size);
        await sleep(1000);
        const base = rss(pid);
        const N = 16;
        const GRANT = 128 * 1024;
        for (let i = 0; i < N; i++) {
          const r = await RawH2.open(server.port); // 64 KiB windows, never enlarged except by grants
          r.request(1, FLIGHT + "DoGet", grpcFrame(bytesMessage(enc.encode("ab/s/big64"))));
          readers.push(r);
        }
        let peak = base;
        const ticks = 24; // 6 s at 4 ticks/s: ~3 MiB read per reader of 64
        for (let t = 0; t < ticks; t++) {
          await sleep(250);
          for (const r of readers) r.grant(1, GRANT);
          peak = Math.max(peak, rss(pid));
        }
        const t0 = performance.now();
        const small = await h2call(fast, FLIGHT + "ListActions", grpcFrame(new Uint8Array(0)));
        const latency = performance.now() - t0;
        const got = readers.map((r) => r.dataBytes.get(1) ?? 0);
        const allowed = 65535 + ticks * GRANT;
        console.log(
          `slow readers: ${N} x 64 MiB at ${GRANT * 4 / 1024} KiB/s; each received ${
            fmtMiB(Math.min(...got))
          }..${fmtMiB(Math.max(...got))}; RSS base ${fmtMiB(base)}, peak ${fmtMiB(peak)} (+${
            fmtMiB(peak - base)
          }, unbounded would be +${fmtMiB(N * size)}); ListActions meanwhile ${latency.toFixed(0)} ms`,
        );
        assert.equal(small.grpcStatus, 0);
        assert.ok(
          got.every((g) => g > 0 && g <= allowed),
          `flow control overrun: ${got} (window allows ${allowed})`,
        );
        assert.ok(readers.every((r) => !r.ended(1)), "slow readers are still reading, not cut off");
        // Each slow reader may cost about one write slice (4 MiB) plus its copies, never the 64 MiB object.
        assert.ok(peak - base < N * 24 * MiB, `RSS grew by ${fmtMiB(peak - base)} for ${N} slow readers`);
        assert.ok(latency < 2_000, `a small call took ${latency} ms while slow readers were connected`);
      } finally {
        for (const r of readers) r.destroy();
        await h2close(fast);
      }
      await sleep(500);
      assert.ok(alive(pid));
      await callWorks(server.port);
    });
  },
});

Deno.test({
  name:
    "abuse: 600 half-open sockets (silent, preface only, half a frame) do not stop others from being served",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withServer([], { storage: "none" }, async (server) => {
      const held = await holdHalfOpen(server.port, 600);
      try {
        const latencies: number[] = [];
        for (let i = 0; i < 5; i++) latencies.push(await callWorks(server.port));
        console.log(
          `half-open: 600 held; calls meanwhile ${latencies.map((l) => l.toFixed(0)).join(", ")} ms`,
        );
        assert.ok(Math.max(...latencies) < 2_000);
      } finally {
        held.close();
      }
      assert.ok(alive(server.child.pid));
    });
  },
});

Deno.test({
  // Was a bug: silent and preface-only sockets stayed open forever. The transport now closes a
  // connection whose preface and SETTINGS frame do not arrive within 10 s.
  name: "abuse: silent and half-preface connections are closed by the server within 30 s",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withServer([], { storage: "none" }, async (server) => {
      const held = await holdHalfOpen(server.port, 30);
      try {
        const deadline = Date.now() + 30_000;
        const open = () => held.socks.filter((s) => !s.destroyed && !s.readableEnded).length;
        while (open() > 0 && Date.now() < deadline) await sleep(500);
        assert.equal(open(), 0, `${open()} half-open sockets still open after 30 s`);
      } finally {
        held.close();
      }
    });
  },
});
