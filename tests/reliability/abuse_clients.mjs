// Abusive connections from Node: node:http2 (graceful GOAWAY closes, abrupt
// destroys, RST_STREAM cancels mid-DoGet and mid-DoPut), raw TCP (resets,
// silence, half a frame, garbage) and grpc-js (calls then close, cancels).
// Every connection is bounded (5 s) and closed by the script.
//
// Usage: node abuse_clients.mjs PORT COUNT CONCURRENCY BIG_KEY [kinds,comma,separated]
// Prints one JSON line: { total, ms, kinds: { kind: { ok, failed, errors: [first few] } } }
import http2 from "node:http2";
import net from "node:net";
import * as grpc from "@grpc/grpc-js";

const [port, count, concurrency, bigKey] = [
  Number(process.argv[2]),
  Number(process.argv[3] ?? 1000),
  Number(process.argv[4] ?? 16),
  process.argv[5] ?? "ab/s/big",
];
const FLIGHT = "/arrow.flight.protocol.FlightService/";
const ALL = [
  "goaway",
  "destroy-mid-get",
  "rst-mid-get",
  "rst-mid-put",
  "tcp-reset",
  "silent",
  "preface-only",
  "half-frame",
  "garbage",
  "grpcjs-call-close",
  "grpcjs-cancel-get",
];
const kinds = (process.argv[6] ?? ALL.join(",")).split(",");
const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
const GRPC_HEADERS = { ":method": "POST", "content-type": "application/grpc", te: "trailers" };

function frame(msg) {
  const b = Buffer.alloc(5 + msg.length);
  b.writeUInt32BE(msg.length, 1);
  msg.copy(b, 5);
  return b;
}
function ticket(key) {
  const k = Buffer.from(key);
  return Buffer.concat([Buffer.from([0x0a, k.length]), k]);
}
function h2frame(type, flags, stream, payload = Buffer.alloc(0)) {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream, 5);
  return Buffer.concat([h, payload]);
}
function hpack(headers) {
  const out = [];
  for (const [n, v] of headers) {
    out.push(Buffer.from([0, n.length]), Buffer.from(n), Buffer.from([v.length]), Buffer.from(v));
  }
  return Buffer.concat(out);
}
const withTimeout = (p, ms, what) =>
  Promise.race([p, new Promise((_, rej) => setTimeout(() => rej(new Error(`${what}: timeout`)), ms))]);

function h2session() {
  return new Promise((resolve, reject) => {
    const s = http2.connect(`http://127.0.0.1:${port}`);
    s.once("connect", () => resolve(s));
    s.once("error", reject);
  });
}

function tcp() {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: "127.0.0.1", port }, () => resolve(s));
    s.once("error", reject);
  });
}

const grpcOptions = {
  "grpc.use_local_subchannel_pool": 1,
  "grpc.max_receive_message_length": -1,
  "grpc.max_send_message_length": -1,
};
const pass = (x) => x;

const actions = {
  // Call, then close the session gracefully while the stream is live (client GOAWAY).
  async goaway() {
    const s = await h2session();
    s.on("error", () => {});
    await new Promise((resolve, reject) => {
      const req = s.request({ ...GRPC_HEADERS, ":path": FLIGHT + "ListActions" });
      req.on("error", reject);
      req.on("data", () => {});
      req.on("response", () => s.close());
      s.on("close", resolve);
      req.end(frame(Buffer.alloc(0)));
    });
  },
  // A well-behaved big DoGet read to the end (the control group).
  async "full-get"() {
    const s = await h2session();
    s.on("error", () => {});
    await new Promise((resolve, reject) => {
      const req = s.request({ ...GRPC_HEADERS, ":path": FLIGHT + "DoGet" });
      let status;
      req.on("error", reject);
      req.on("data", () => {});
      req.on("trailers", (t) => (status = t["grpc-status"]));
      req.on("close", () => (status === "0" ? resolve() : reject(new Error(`grpc-status ${status}`))));
      req.end(frame(ticket(bigKey)));
    });
    await new Promise((r) => s.close(r));
  },
  // Start a big DoGet and destroy the connection after the first bytes.
  async "destroy-mid-get"() {
    const s = await h2session();
    s.on("error", () => {});
    await new Promise((resolve) => {
      const req = s.request({ ...GRPC_HEADERS, ":path": FLIGHT + "DoGet" });
      req.on("error", () => {});
      req.once("data", () => {
        s.destroy();
        resolve();
      });
      req.on("close", resolve);
      req.end(frame(ticket(bigKey)));
    });
  },
  // Start a big DoGet and cancel the stream (RST_STREAM) after the first bytes, then GOAWAY.
  async "rst-mid-get"() {
    const s = await h2session();
    s.on("error", () => {});
    await new Promise((resolve) => {
      const req = s.request({ ...GRPC_HEADERS, ":path": FLIGHT + "DoGet" });
      req.on("error", () => {});
      req.once("data", () => req.close(http2.constants.NGHTTP2_CANCEL));
      req.on("close", resolve);
      req.end(frame(ticket(bigKey)));
    });
    await new Promise((r) => s.close(r));
  },
  // Start a DoPut claiming 1 MiB, send 64 KiB, cancel.
  async "rst-mid-put"() {
    const s = await h2session();
    s.on("error", () => {});
    await new Promise((resolve) => {
      const req = s.request({ ...GRPC_HEADERS, ":path": FLIGHT + "DoPut" });
      req.on("error", () => {});
      req.on("close", resolve);
      const head = Buffer.alloc(5);
      head.writeUInt32BE(1 << 20, 1);
      req.write(
        Buffer.concat([head, Buffer.alloc(64 * 1024, 1)]),
        () => req.close(http2.constants.NGHTTP2_CANCEL),
      );
    });
    s.destroy();
  },
  // Preface, SETTINGS, a DoGet HEADERS+DATA, then a TCP RST.
  async "tcp-reset"() {
    const sock = await tcp();
    sock.on("error", () => {});
    const headers = hpack([
      [":method", "POST"],
      [":scheme", "http"],
      [":path", FLIGHT + "DoGet"],
      [":authority", "x"],
      ["content-type", "application/grpc"],
    ]);
    sock.write(Buffer.concat([
      PREFACE,
      h2frame(4, 0, 0),
      h2frame(1, 4, 1, headers),
      h2frame(0, 1, 1, frame(ticket(bigKey))),
    ]));
    await new Promise((r) => sock.once("data", r).setTimeout(1000, r));
    sock.resetAndDestroy();
  },
  // Connect and say nothing, briefly.
  async silent() {
    const sock = await tcp();
    sock.on("error", () => {});
    await new Promise((r) => setTimeout(r, 50));
    sock.end();
    sock.destroy();
  },
  async "preface-only"() {
    const sock = await tcp();
    sock.on("error", () => {});
    sock.write(PREFACE);
    await new Promise((r) => setTimeout(r, 20));
    sock.destroy();
  },
  // Half a frame header after the preface, then end.
  async "half-frame"() {
    const sock = await tcp();
    sock.on("error", () => {});
    sock.write(Buffer.concat([PREFACE, Buffer.from([0, 0, 8, 1, 4])]));
    await new Promise((r) => setTimeout(r, 20));
    sock.end();
    await new Promise((r) => sock.once("close", r).setTimeout(2000, r).resume());
    sock.destroy();
  },
  async garbage() {
    const sock = await tcp();
    sock.on("error", () => {});
    const junk = Buffer.alloc(64 + Math.floor(Math.random() * 512));
    for (let i = 0; i < junk.length; i++) junk[i] = Math.floor(Math.random() * 256);
    sock.write(Math.random() < 0.5 ? junk : Buffer.concat([PREFACE, junk]));
    await new Promise((r) => sock.once("close", r).setTimeout(2000, r).resume());
    sock.destroy();
  },
  // grpc-js: a fresh channel, one call, close.
  async "grpcjs-call-close"() {
    const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), grpcOptions);
    try {
      await new Promise((resolve, reject) => {
        const call = client.makeServerStreamRequest(FLIGHT + "ListActions", pass, pass, Buffer.alloc(0));
        call.on("data", () => {});
        call.on("error", reject);
        call.on("end", resolve);
      });
    } finally {
      client.close();
    }
  },
  // grpc-js: big DoGet, cancel after the first message.
  async "grpcjs-cancel-get"() {
    const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), grpcOptions);
    try {
      await new Promise((resolve, reject) => {
        const call = client.makeServerStreamRequest(FLIGHT + "DoGet", pass, pass, ticket(bigKey));
        let n = 0;
        call.on("data", () => {
          if (++n === 1) call.cancel();
        });
        call.on("error", (e) => (e.code === grpc.status.CANCELLED ? resolve() : reject(e)));
        call.on("end", resolve);
      });
    } finally {
      client.close();
    }
  },
};

const stats = {};
const started = Date.now();
let next = 0;
async function worker() {
  while (next < count) {
    const i = next++;
    const kind = kinds[i % kinds.length];
    const st = (stats[kind] ??= { ok: 0, failed: 0, maxMs: 0, totalMs: 0, errors: [] });
    const t0 = Date.now();
    try {
      await withTimeout(actions[kind](), 5000, kind);
      st.ok++;
      st.maxMs = Math.max(st.maxMs, Date.now() - t0);
      st.totalMs += Date.now() - t0;
    } catch (e) {
      st.failed++;
      if (st.errors.length < 3) st.errors.push(String(e?.message ?? e));
    }
  }
}
await Promise.all(Array.from({ length: concurrency }, worker));
console.log(JSON.stringify({ total: count, ms: Date.now() - started, kinds: stats }));
process.exit(0);
