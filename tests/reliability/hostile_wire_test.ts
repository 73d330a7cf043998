/**
 * Hostile input over the wire, against a real server process: a few thousand
 * fast-check cases sent as raw gRPC over node:http2 (mutated DoPut uploads with
 * lying IPC lengths/offsets, mutated gRPC framing, tickets, action bodies,
 * descriptors, criteria, handshake payloads, metadata headers, unknown paths,
 * content types). Every call must end with a clear status (OK or a client
 * error; HTTP 415 for a non-gRPC content type) - never INTERNAL, UNKNOWN, a
 * bare reset or a timeout; nothing may be stored by a rejected call
 * (ListFlights shows only keys that OK answers returned); the server stays up.
 *
 * Plus the 4.5 KB IPC "heap bomb" (field notes): apache-arrow dies on it (shown
 * in a child process with a capped heap), the server refuses it as a DoPut
 * with INVALID_ARGUMENT, and an fs store holding it as a file starts anyway.
 */
import assert from "node:assert/strict";
import type http2 from "node:http2";
import fc from "fast-check";
import {
  action,
  alive,
  bytesMessage,
  CLIENT_ERROR_CODES,
  concat,
  crashMarkers,
  dec,
  descriptor,
  enc,
  fdCount,
  FLIGHT,
  fmtMiB,
  grpcFrame,
  grpcMessages,
  h2call,
  h2close,
  h2connect,
  type H2Result,
  listKeys,
  MiB,
  opaqueUpload,
  pbFields,
  refKey,
  ROOT,
  rss,
  S,
  withServer,
} from "./helpers.ts";
import { byteMutation, keyString, mutateBytes, mutateUpload, protoish, uploadMutation } from "./mutators.ts";
import { heapBomb, heapBombUpload, uploadSeeds } from "./ipc_seeds.ts";

const CASES = Number(Deno.env.get("WIRE_FUZZ_CASES") ?? 5000);
const CONCURRENCY = 16;

/** One generated call. */
interface WireCase {
  kind: string;
  path: string;
  body: Uint8Array;
  headers?: Record<string, string>;
  /** Expect HTTP 415 instead of a gRPC status. */
  notGrpc?: boolean;
}

function caseArbitrary(): fc.Arbitrary<WireCase> {
  const seeds = uploadSeeds();
  const frames = (msgs: Uint8Array[]) => concat(msgs.map((m) => grpcFrame(m)));
  const upload = fc.nat(seeds.length - 1).chain((i) =>
    fc.tuple(
      fc.constant(i),
      fc.array(uploadMutation(seeds[i].messages.length), { minLength: 1, maxLength: 4 }),
    )
  ).map(([i, muts]): WireCase => ({
    kind: `DoPut:${seeds[i].name}`,
    path: FLIGHT + "DoPut",
    body: frames(mutateUpload(seeds[i], muts)),
  }));
  // Mutations of the framed bytes themselves (lying gRPC prefixes, compressed flag, cut frames).
  const framing = fc.tuple(fc.nat(seeds.length - 1), fc.array(byteMutation, { minLength: 1, maxLength: 3 }))
    .map((
      [i, muts],
    ): WireCase => {
      const framed = frames(seeds[i].messages.map((m) => mutateUpload({ name: "", messages: [m] }, [])[0]));
      return { kind: "DoPut:framing", path: FLIGHT + "DoPut", body: mutateBytes(framed, muts, false) };
    });
  const ticket = fc.oneof(
    keyString.map((k) => enc.encode(k)),
    fc.tuple(
      keyString,
      fc.oneof(fc.string({ maxLength: 12 }), fc.bigInt({ min: 0n, max: 2n ** 70n }).map(String)),
    )
      .map(([k, v]) => enc.encode(`${k}:${v}`)),
    fc.constantFrom("fz/base/o1", "fz/base/o1:1", "fz/base/o1:0", "fz/base/o1:99", "fz/base/nope").map((s) =>
      enc.encode(s)
    ),
  );
  const doGet = fc.oneof(
    ticket.map((t): WireCase => ({
      kind: "DoGet",
      path: FLIGHT + "DoGet",
      body: grpcFrame(bytesMessage(t)),
    })),
    protoish.map((b): WireCase => ({ kind: "DoGet:proto", path: FLIGHT + "DoGet", body: grpcFrame(b) })),
  );
  const doAction = fc.oneof(
    fc.tuple(
      fc.constantFrom("DELETE", "PUT", "UPDATE", "delete", "", "GET", "PATCH"),
      fc.oneof(
        keyString.map((k) => enc.encode(k)),
        fc.tuple(keyString, fc.oneof(fc.base64String({ maxLength: 40 }), fc.string({ maxLength: 20 })))
          .map(([k, d]) => enc.encode(`${k}:${d}`)),
        fc.uint8Array({ maxLength: 40 }),
      ),
    ).map(([t, b]): WireCase => ({
      kind: `DoAction:${t}`,
      path: FLIGHT + "DoAction",
      body: grpcFrame(action(t, b)),
    })),
    protoish.map((b): WireCase => ({
      kind: "DoAction:proto",
      path: FLIGHT + "DoAction",
      body: grpcFrame(b),
    })),
  );
  const desc = fc.oneof(
    fc.record({
      type: fc.nat(4),
      cmd: fc.uint8Array({ maxLength: 12 }),
      path: fc.array(keyString, { maxLength: 4 }),
    }).map((d) => descriptor(d)),
    protoish,
  );
  const info = fc.tuple(fc.constantFrom("GetFlightInfo", "GetSchema", "PollFlightInfo"), desc).map((
    [m, d],
  ): WireCase => ({ kind: m, path: FLIGHT + m, body: grpcFrame(d) }));
  const misc = fc.oneof(
    fc.oneof(keyString.map((k) => bytesMessage(enc.encode(k))), protoish).map((b): WireCase => ({
      kind: "ListFlights",
      path: FLIGHT + "ListFlights",
      body: grpcFrame(b),
    })),
    protoish.map((b): WireCase => ({
      kind: "ListActions",
      path: FLIGHT + "ListActions",
      body: grpcFrame(b),
    })),
    protoish.map((b): WireCase => ({ kind: "Handshake", path: FLIGHT + "Handshake", body: grpcFrame(b) })),
    protoish.map((b): WireCase => ({ kind: "DoExchange", path: FLIGHT + "DoExchange", body: grpcFrame(b) })),
    // Unary calls with zero or two messages, a truncated frame, a compressed frame, a huge claim.
    fc.constantFrom<[string, Uint8Array]>(
      ["none", new Uint8Array(0)],
      ["two", concat([grpcFrame(new Uint8Array(0)), grpcFrame(new Uint8Array(0))])],
      ["cut", grpcFrame(bytesMessage(enc.encode("fz/base/o1"))).subarray(0, 7)],
      ["compressed", grpcFrame(bytesMessage(enc.encode("fz/base/o1")), 1)],
      ["claim-3GiB", new Uint8Array([0, 0xc0, 0, 0, 0, 1, 2, 3])],
      ["claim-4GiB", new Uint8Array([0, 0xff, 0xff, 0xff, 0xff, 9])],
      ["prefix-only", new Uint8Array([0, 0, 0])],
    ).chain(([name, body]) =>
      fc.constantFrom("DoGet", "DoAction", "GetFlightInfo", "DoPut", "ListFlights").map((m): WireCase => ({
        kind: `framing:${name}`,
        path: FLIGHT + m,
        body,
      }))
    ),
    // Unknown or odd paths.
    fc.oneof(
      fc.constantFrom(
        "/",
        "/x",
        "/arrow.flight.protocol.FlightService/",
        "/arrow.flight.protocol.FlightService/DoGett",
      ),
      fc.stringMatching(/^\/[a-zA-Z0-9./_-]{0,80}$/),
    ).map((p): WireCase => ({ kind: "path", path: p, body: grpcFrame(new Uint8Array(0)) })),
  );
  const token = fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/);
  const value = fc.stringMatching(/^[\x20-\x7e]{0,100}$/);
  const headers = fc.tuple(
    fc.dictionary(
      fc.oneof(
        fc.constantFrom(
          "grpc-timeout",
          "authorization",
          "grpc-encoding",
          "grpc-accept-encoding",
          "user-agent",
        ),
        token.map((t) => `x-${t}`),
      ),
      fc.oneof(
        value,
        fc.constantFrom("1n", "0m", "99999999H", "-1S", "1x", "gzip", "identity", "Bearer x", "Basic !!"),
      ),
      { maxKeys: 4 },
    ),
    fc.oneof(
      { weight: 5, arbitrary: fc.constant("application/grpc") },
      fc.constantFrom(
        "application/grpc+proto",
        "application/grpc+json",
        "application/json",
        "text/plain",
        "",
      ),
    ),
    fc.constantFrom("DoGet", "ListActions", "DoAction"),
  ).map(([h, ct, m]): WireCase => ({
    kind: "headers",
    path: FLIGHT + m,
    body: m === "DoGet"
      ? grpcFrame(bytesMessage(enc.encode("fz/base/o1")))
      : m === "DoAction"
      ? grpcFrame(action("DELETE", "zz/nothing"))
      : grpcFrame(new Uint8Array(0)),
    headers: { ...h, "content-type": ct },
    notGrpc: !ct.startsWith("application/grpc"),
  }));
  return fc.oneof(
    { weight: 40, arbitrary: upload },
    { weight: 6, arbitrary: framing },
    { weight: 12, arbitrary: doGet },
    { weight: 12, arbitrary: doAction },
    { weight: 8, arbitrary: info },
    { weight: 10, arbitrary: misc },
    { weight: 12, arbitrary: headers },
  );
}

/** Keys named by OK answers (PutResult ObjectRefs, PUT/UPDATE action metadata). */
function okKeys(c: WireCase, r: H2Result): string[] {
  if (r.grpcStatus !== 0 || !r.data) return [];
  const out: string[] = [];
  for (const m of grpcMessages(r.data)) {
    for (const f of pbFields(m)) {
      if (f.field !== 1 || f.wire !== 2) continue;
      const k = refKey(f.bytes);
      if (k && k !== "undefined") out.push(k);
    }
  }
  void c;
  return out;
}

async function pool<T>(items: T[], n: number, fn: (t: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: n }, async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i], i);
    }
  }));
}

Deno.test({
  name:
    "wire fuzz: thousands of hostile calls get a clear status, store nothing when rejected, server stays up",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const seed = Number(Deno.env.get("FUZZ_SEED") ?? Math.floor(Math.random() * 2 ** 31));
    const cases = fc.sample(caseArbitrary(), { numRuns: CASES, seed });
    await withServer([], { storage: "none" }, async (server) => {
      const pid = server.child.pid;
      const sessions: http2.ClientHttp2Session[] = [];
      for (let i = 0; i < 4; i++) {
        sessions.push(await h2connect(server.port, { initialWindowSize: 16 * MiB }));
      }
      try {
        // Baseline objects the fuzz cases aim at (tickets, patches, deletes).
        const allowed = new Set<string>();
        for (const k of ["fz/base/o1", "fz/base/o2", "fz/s/o1"]) {
          const r = await h2call(
            sessions[0],
            FLIGHT + "DoPut",
            opaqueUpload(k, [enc.encode(`seed ${k}`)]).map((m) => grpcFrame(m)),
            { keep: true },
          );
          assert.equal(r.grpcStatus, 0, JSON.stringify(r));
          allowed.add(k);
        }
        const rss0 = rss(pid);
        const fds0 = fdCount(pid);
        const tally = new Map<string, number>();
        const bad: string[] = [];
        const started = performance.now();
        await pool(cases, CONCURRENCY, async (c, i) => {
          const r = await h2call(sessions[i % sessions.length], c.path, c.body, {
            headers: c.headers,
            keep: true,
            timeoutMs: 20_000,
          });
          const outcome = r.grpcStatus !== undefined
            ? `grpc ${r.grpcStatus}`
            : r.httpStatus !== undefined
            ? `http ${r.httpStatus}`
            : `reset ${r.rstCode} ${r.error ?? ""}`;
          const k = `${c.kind.split(":")[0]} -> ${outcome}`;
          tally.set(k, (tally.get(k) ?? 0) + 1);
          const clear = c.notGrpc
            ? r.httpStatus === 415
            : r.grpcStatus !== undefined && (r.grpcStatus === S.OK || CLIENT_ERROR_CODES.has(r.grpcStatus));
          const messageOk = r.grpcStatus === undefined || r.grpcStatus === 0 ||
            (r.grpcMessage ?? "").length > 0;
          if (!clear || !messageOk || r.error === "timeout") {
            bad.push(
              `case ${i} ${c.kind} ${c.path} headers=${JSON.stringify(c.headers ?? {})} body=${
                Array.from(c.body.subarray(0, 64), (b) => b.toString(16).padStart(2, "0")).join("")
              }(${c.body.length}B) -> ${JSON.stringify({ ...r, data: undefined, headers: undefined })}`,
            );
          }
          for (const key of okKeys(c, r)) allowed.add(key);
        });
        const ms = performance.now() - started;
        const stored = await listKeys(server.port, sessions[0]);
        const strays = stored.filter((k) => !allowed.has(k));
        const rss1 = rss(pid);
        console.log(
          `wire fuzz: ${cases.length} calls in ${
            (ms / 1000).toFixed(1)
          } s (seed ${seed}), ${stored.length} objects stored by OK calls, RSS ${fmtMiB(rss0)} -> ${
            fmtMiB(rss1)
          }, fds ${fds0} -> ${fdCount(pid)}\n  ${
            [...tally].sort().map(([k, v]) => `${k}: ${v}`).join("\n  ")
          }`,
        );
        assert.deepEqual(
          bad.slice(0, 20),
          [],
          `${bad.length} calls without a clear client status (seed ${seed})`,
        );
        assert.deepEqual(strays, [], "objects stored although every call naming them was rejected");
        assert.ok(alive(pid), "server process is alive");
        assert.ok(rss1 - rss0 < 256 * MiB, `RSS grew by ${fmtMiB(rss1 - rss0)}`);
        // Still serving.
        const again = await h2call(
          sessions[1],
          FLIGHT + "DoGet",
          grpcFrame(bytesMessage(enc.encode("fz/base/o2"))),
        );
        assert.equal(again.grpcStatus, 0);
      } finally {
        for (const s of sessions) await h2close(s);
      }
      assert.deepEqual(crashMarkers(server.logs()), []);
      assert.ok(!/"level":"(warn|error)".*handler/.test(server.logs()), "no handler crashed (INTERNAL)");
    });
  },
});

Deno.test({
  name: "heap bomb: a 4.5 KB IPC file kills apache-arrow; the server refuses it with INVALID_ARGUMENT",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const file = heapBomb("file");
    const stream = heapBomb("stream");
    assert.ok(file.length > 4000 && file.length < 5000, `bomb file is ${file.length} bytes`);
    const dir = await Deno.makeTempDir({ prefix: "flame-bomb-" });
    try {
      // 1. It is a real bomb: apache-arrow's tableFromIPC exhausts a 256 MiB heap on it.
      await Deno.writeFile(`${dir}/bomb.arrow`, file);
      const script = `${dir}/read.ts`;
      await Deno.writeTextFile(
        script,
        `import { tableFromIPC } from "apache-arrow";\n` +
          `const t = tableFromIPC(Deno.readFileSync(Deno.args[0]));\nconsole.log("read", t.numRows);\n`,
      );
      const child = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          `--config=${ROOT}deno.json`,
          "--v8-flags=--max-old-space-size=256",
          script,
          `${dir}/bomb.arrow`,
        ],
        cwd: ROOT,
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const killer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch { /* gone */ }
      }, 60_000);
      const out = await child.output().finally(() => clearTimeout(killer));
      const err = dec.decode(out.stderr);
      assert.notEqual(out.code, 0, "apache-arrow survived the bomb; the test's bomb is not a bomb any more");
      console.log(
        `apache-arrow on the ${file.length}-byte bomb: exit ${out.code} (${
          /out of memory|heap limit|Invalid array length|RangeError/.exec(err)?.[0] ?? err.slice(-200)
        })`,
      );

      // 2. The server refuses it as an upload, stores nothing, and stays up.
      await withServer([], { storage: "none" }, async (server) => {
        const s = await h2connect(server.port);
        try {
          const before = await listKeys(server.port, s);
          const r = await h2call(s, FLIGHT + "DoPut", heapBombUpload("fz/s/bomb").map((m) => grpcFrame(m)));
          assert.equal(r.grpcStatus, S.INVALID_ARGUMENT, JSON.stringify(r));
          assert.match(r.grpcMessage ?? "", /IPC|node|field/i);
          assert.ok(r.ms < 2_000, `refused in ${r.ms} ms`);
          assert.deepEqual(await listKeys(server.port, s), before);
          assert.ok(alive(server.child.pid));
          console.log(`server refused the bomb upload in ${r.ms.toFixed(1)} ms: ${r.grpcMessage}`);
        } finally {
          await h2close(s);
        }
      });
      assert.ok(stream.length < 5000);

      // 3. The bomb as a stored object file (fs storage): the server starts and does not serve it.
      const root = `${dir}/store`;
      await Deno.mkdir(`${root}/fz/s`, { recursive: true });
      await Deno.writeFile(`${root}/fz/s/bomb.arrow`, file);
      await withServer([], { storage: root }, async (server) => {
        const s = await h2connect(server.port);
        try {
          const r = await h2call(s, FLIGHT + "DoGet", grpcFrame(bytesMessage(enc.encode("fz/s/bomb"))));
          assert.ok(
            r.grpcStatus !== undefined && r.grpcStatus !== S.OK && r.grpcStatus !== S.INTERNAL &&
              r.grpcStatus !== S.UNKNOWN,
            `DoGet of the bomb file: ${JSON.stringify(r)}`,
          );
          assert.ok(alive(server.child.pid));
          console.log(`fs store with the bomb file: DoGet -> ${r.grpcStatus} ${r.grpcMessage ?? ""}`);
        } finally {
          await h2close(s);
        }
        assert.deepEqual(crashMarkers(server.logs()), []);
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
