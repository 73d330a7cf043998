/**
 * RFC 9113 conformance of the server role (src/h2), frame by frame over the in-memory harness: the
 * cases the stock h2spec suite checks (issue 12), each with the answer the RFC requires.
 * - malformed requests (8.2-8.3, 8.1.1): reset with PROTOCOL_ERROR, never seen by a handler;
 * - stream states (5.1, 5.1.1, 5.3.1): the right stream or connection error, and late frames on a
 *   stream we reset are ignored;
 * - a request answered without reading (respondWithoutReading) keeps its state machine;
 * - no RST_STREAM(NO_ERROR) once the client has ended its side.
 * The gRPC layer's answer to a request it will not serve is checked at the end over real TCP.
 */
import assert from "node:assert/strict";
import { H2ServerConnection } from "../../src/h2/server.ts";
import { H2ClientConnection } from "../../src/h2/client.ts";
import { DenoChannel } from "../../src/h2/channel.ts";
import { ClosedBy, ClosedStreams } from "../../src/h2/closed_streams.ts";
import {
  CLIENT_PREFACE,
  Flag,
  frame,
  FrameType,
  H2Error,
  rstStreamFrame,
  Setting,
  settingsFrame,
  windowUpdateFrame,
} from "../../src/h2/frames.ts";
import { HpackDecoder, HpackEncoder } from "../../src/h2/hpack.ts";
import type { H2Stream } from "../../src/h2/stream.ts";
import { GrpcServer } from "../../src/grpc/mod.ts";
import { MemoryChannel } from "../helpers/memory_channel.ts";

const tick = () => new Promise((r) => setTimeout(r, 5));
/** Wait until `done()` holds (up to 2 s). */
async function until(done: () => boolean): Promise<void> {
  for (let i = 0; i < 400 && !done(); i++) await tick();
}
const encoder = new HpackEncoder();
type Fields = [string, string][];

const BASE: Fields = [
  [":method", "POST"],
  [":scheme", "http"],
  [":path", "/svc/Method"],
  [":authority", "localhost"],
  ["content-type", "application/grpc"],
  ["te", "trailers"],
];

function headers(streamId: number, fields: Fields, endStream: boolean, extraFlags = 0, prefix?: Uint8Array) {
  const block = encoder.encode(fields);
  const payload = prefix ? new Uint8Array([...prefix, ...block]) : block;
  const flags = Flag.END_HEADERS | (endStream ? Flag.END_STREAM : 0) | extraFlags;
  return frame(FrameType.HEADERS, flags, streamId, payload);
}
const data = (streamId: number, bytes: number, end = false) =>
  frame(FrameType.DATA, end ? Flag.END_STREAM : 0, streamId, new Uint8Array(bytes));
/** PRIORITY payload: dependency (not exclusive) and weight. */
const priority = (dependency: number) => new Uint8Array([0, 0, 0, dependency, 15]);

interface Started {
  channel: MemoryChannel;
  conn: H2ServerConnection;
  running: Promise<void>;
  /** Stream ids that reached onStream. */
  opened: number[];
}

/** A server connection whose handler is `onStream`; `peerSettings` are the client's SETTINGS. */
function start(
  onStream: (s: H2Stream) => void = () => {},
  peerSettings: [number, number][] = [],
  maxConcurrentStreams = 8,
): Started {
  const channel = new MemoryChannel();
  const opened: number[] = [];
  const conn = new H2ServerConnection(channel, {
    streamWindow: 256 * 1024,
    connectionWindow: 4 << 20,
    maxFrameSize: 1 << 20,
    maxConcurrentStreams,
    maxHeaderListSize: 16 * 1024,
    onStream: (s) => {
      opened.push(s.id);
      onStream(s);
    },
  });
  const running = conn.run();
  channel.feed(CLIENT_PREFACE, settingsFrame(peerSettings));
  return { channel, conn, running, opened };
}

async function stop({ channel, running }: Started): Promise<void> {
  channel.end();
  await running;
}

const u32 = (p: Uint8Array, at = 0) => new DataView(p.buffer, p.byteOffset + at, 4).getUint32(0);
/** RST_STREAM frames written: [stream, code]. */
const resets = (c: MemoryChannel) =>
  c.frames().filter((f) => f.type === FrameType.RST_STREAM).map((f) => [f.stream, u32(f.payload)]);
const goawayCode = (c: MemoryChannel) => {
  const g = c.frames().find((f) => f.type === FrameType.GOAWAY);
  return g ? u32(g.payload, 4) : undefined;
};
const framesOf = (c: MemoryChannel, type: number, stream: number) =>
  c.frames().filter((f) => f.type === type && f.stream === stream);
const decodeHeaders = (payload: Uint8Array) =>
  Object.fromEntries(new HpackDecoder(4096, 1 << 20).decode(payload));

/** A handler answering at once with a trailers-only gRPC reply. */
const answerAtOnce = (s: H2Stream) => s.respond([[":status", "200"], ["grpc-status", "0"]], true);

Deno.test("h2 conformance: malformed request headers are reset with PROTOCOL_ERROR before any handler", async () => {
  const without = (name: string) => BASE.filter(([n]) => n !== name);
  const cases: [string, Fields, boolean?][] = [
    ["uppercase name", [...BASE, ["X-Test", "ok"]]],
    ["unknown pseudo-header", [...BASE, [":test", "ok"]]],
    ["response pseudo-header", [...BASE, [":status", "200"]]],
    ["extended CONNECT :protocol (not enabled)", [...BASE, [":protocol", "websocket"]]],
    ["duplicated :method", [...BASE, [":method", "POST"]]],
    ["duplicated :scheme", [BASE[0], BASE[1], BASE[1], ...BASE.slice(2)]],
    ["duplicated :path", [BASE[0], BASE[1], BASE[2], BASE[2], ...BASE.slice(3)]],
    ["pseudo-header after a regular one", [...without(":authority"), [":authority", "localhost"]]],
    ["connection", [...BASE, ["connection", "keep-alive"]]],
    ["keep-alive", [...BASE, ["keep-alive", "timeout=5"]]],
    ["proxy-connection", [...BASE, ["proxy-connection", "keep-alive"]]],
    ["transfer-encoding", [...BASE, ["transfer-encoding", "chunked"]]],
    ["upgrade", [...BASE, ["upgrade", "h2c"]]],
    ["te other than trailers", [...without("te"), ["te", "trailers, deflate"]]],
    ["missing :method", without(":method")],
    ["missing :scheme", without(":scheme")],
    ["missing :path", without(":path")],
    ["empty :path", [BASE[0], BASE[1], [":path", ""], ...BASE.slice(3)]],
    ["CONNECT without :authority", [[":method", "CONNECT"]]],
    ["CONNECT with :path", [[":method", "CONNECT"], [":authority", "h:1"], [":path", "/"]]],
    ["name with a space", [...BASE, ["x test", "ok"]]],
    ["content-length not a number", [...BASE, ["content-length", "12x"]]],
    ["content-length on a request without body", [...BASE, ["content-length", "5"]], true],
  ];
  for (const [name, fields, endStream] of cases) {
    const s = start(answerAtOnce);
    s.channel.feed(headers(1, fields, endStream ?? false), headers(3, BASE, true));
    await until(() => s.opened.length > 0 && framesOf(s.channel, FrameType.HEADERS, 3).length > 0);
    assert.deepEqual(resets(s.channel), [[1, H2Error.PROTOCOL_ERROR]], name);
    assert.deepEqual(s.opened, [3], `${name}: only the well-formed request reaches the handler`);
    assert.equal(goawayCode(s.channel), undefined, `${name}: a stream error, not a connection error`);
    await stop(s);
  }
});

Deno.test("h2 conformance: well-formed requests pass validation with their fields intact", async () => {
  const cases: [string, Fields][] = [
    ["te: trailers and a repeated field", [...BASE, ["x-a", "1"], ["x-a", "2"]]],
    ["CONNECT with :authority only", [[":method", "CONNECT"], [":authority", "h:1"]]],
    ["a field named like an Object member", [...BASE, ["constructor", "x"], ["__proto__", "y"]]],
    ["value with inner spaces and tabs", [...BASE, ["x-test", "a b\tc"]]],
    ["values with leading or trailing spaces (tolerated)", [...BASE, ["x-a", " a"], ["x-b", "b\t"], [
      "x-c",
      " ",
    ]]],
    ["content-length 0 without body", [...BASE, ["content-length", "0"]]],
  ];
  for (const [name, fields] of cases) {
    let seen: Record<string, string> | undefined;
    const s = start((st) => {
      seen = st.headers;
      answerAtOnce(st);
    });
    s.channel.feed(headers(1, fields, true));
    await until(() => seen !== undefined);
    assert.deepEqual(resets(s.channel), [], name);
    for (const [n, v] of fields) assert.ok(seen![n]?.includes(v), `${name}: ${n}`);
    await stop(s);
  }
});

Deno.test("h2 conformance: trailers with a pseudo-header, without END_STREAM, or with a bad field are malformed", async () => {
  const cases: [string, Fields, boolean, number][] = [
    ["pseudo-header in trailers", [[":method", "POST"]], true, H2Error.PROTOCOL_ERROR],
    ["second HEADERS without END_STREAM", [["x-test", "ok"]], false, H2Error.PROTOCOL_ERROR],
    ["connection-specific trailer", [["connection", "close"]], true, H2Error.PROTOCOL_ERROR],
    ["uppercase trailer", [["X-Test", "ok"]], true, H2Error.PROTOCOL_ERROR],
  ];
  for (const [name, trailers, endStream, code] of cases) {
    let aborted = "";
    const s = start((st) => (st.onAbort = (r) => (aborted = r)));
    s.channel.feed(headers(1, BASE, false), data(1, 4), headers(1, trailers, endStream));
    await until(() => resets(s.channel).length > 0);
    assert.deepEqual(resets(s.channel), [[1, code]], name);
    assert.match(aborted, /reset/, `${name}: the handler learns of it`);
    await stop(s);
  }
  // Good trailers end the request.
  let ended = false;
  const s = start((st) => (st.onEnd = () => (ended = true)));
  s.channel.feed(headers(1, BASE, false), data(1, 4), headers(1, [["x-checksum", "1"]], true));
  await until(() => ended);
  assert.ok(ended);
  assert.deepEqual(resets(s.channel), []);
  await stop(s);
});

Deno.test("h2 conformance: a content-length that disagrees with the DATA received is malformed", async () => {
  const withLength = (n: number): Fields => [...BASE, ["content-length", String(n)]];
  const cases: [string, Uint8Array[], boolean][] = [
    ["one DATA frame longer", [headers(1, withLength(1), false), data(1, 4, true)], false],
    ["several DATA frames longer", [headers(1, withLength(5), false), data(1, 3), data(1, 3, true)], false],
    ["body shorter at END_STREAM", [headers(1, withLength(10), false), data(1, 4, true)], false],
    [
      "body shorter before trailers",
      [headers(1, withLength(10), false), data(1, 4), headers(1, [["x-t", "1"]], true)],
      false,
    ],
    ["exact, in two frames", [headers(1, withLength(7), false), data(1, 3), data(1, 4, true)], true],
    [
      "exact, padding not counted",
      [
        headers(1, withLength(3), false),
        frame(FrameType.DATA, Flag.PADDED | Flag.END_STREAM, 1, new Uint8Array([5, 1, 2, 3, 0, 0, 0, 0, 0])),
      ],
      true,
    ],
  ];
  for (const [name, frames, good] of cases) {
    let ended = false;
    const s = start((st) => (st.onEnd = () => (ended = true)));
    s.channel.feed(...frames);
    await until(() => ended || resets(s.channel).length > 0);
    if (good) {
      assert.ok(ended, name);
      assert.deepEqual(resets(s.channel), [], name);
    } else {
      assert.ok(!ended, `${name}: the request never completes`);
      assert.deepEqual(resets(s.channel), [[1, H2Error.PROTOCOL_ERROR]], name);
    }
    await stop(s);
  }
});

Deno.test("h2 conformance: HEADERS on a used stream id: lower id, closed, half-closed (remote), reset by us", async () => {
  {
    const s = start(answerAtOnce);
    s.channel.feed(headers(5, BASE, true), headers(3, BASE, true));
    await s.running;
    assert.equal(goawayCode(s.channel), H2Error.PROTOCOL_ERROR, "a stream id lower than one already used");
  }
  {
    const s = start(answerAtOnce);
    s.channel.feed(headers(1, BASE, true));
    await until(() => s.conn.streams.size === 0 && framesOf(s.channel, FrameType.HEADERS, 1).length > 0);
    s.channel.feed(headers(1, BASE, true));
    await s.running;
    assert.equal(goawayCode(s.channel), H2Error.STREAM_CLOSED, "HEADERS on a closed stream");
  }
  {
    const s = start(); // no answer: the stream stays half-closed (remote)
    s.channel.feed(headers(1, BASE, true), headers(1, [["x-t", "1"]], true));
    await until(() => resets(s.channel).length > 0);
    assert.deepEqual(
      resets(s.channel),
      [[1, H2Error.STREAM_CLOSED]],
      "HEADERS on a half-closed (remote) stream",
    );
    assert.equal(goawayCode(s.channel), undefined);
    await stop(s);
  }
  {
    // Our reset races the client's trailers: they were in flight and are ignored (RFC 9113 5.1).
    const s = start((st) => st.reset(H2Error.CANCEL));
    s.channel.feed(headers(1, BASE, false), data(1, 10), headers(1, [["x-t", "1"]], true));
    s.channel.feed(headers(3, BASE, true));
    await until(() => s.opened.length === 2);
    assert.deepEqual(resets(s.channel), [[1, H2Error.CANCEL], [3, H2Error.CANCEL]]);
    assert.equal(goawayCode(s.channel), undefined);
    await stop(s);
  }
});

Deno.test("h2 conformance: DATA on a closed or half-closed (remote) stream is answered with STREAM_CLOSED", async () => {
  {
    const s = start(answerAtOnce);
    s.channel.feed(headers(1, BASE, true));
    await until(() => s.conn.streams.size === 0 && framesOf(s.channel, FrameType.HEADERS, 1).length > 0);
    s.channel.feed(data(1, 4), data(1, 4, true));
    await until(() => resets(s.channel).length > 0);
    await tick();
    assert.deepEqual(resets(s.channel), [[1, H2Error.STREAM_CLOSED]], "closed: answered once, then ignored");
    assert.equal(goawayCode(s.channel), undefined);
    await stop(s);
  }
  {
    const s = start();
    s.channel.feed(headers(1, BASE, false), rstStreamFrame(1, H2Error.CANCEL), data(1, 4, true));
    await until(() => resets(s.channel).length > 0);
    assert.deepEqual(resets(s.channel), [[1, H2Error.STREAM_CLOSED]], "DATA after the client's RST_STREAM");
    await stop(s);
  }
  {
    const s = start(); // no answer: half-closed (remote)
    s.channel.feed(headers(1, BASE, true), data(1, 4, true));
    await until(() => resets(s.channel).length > 0);
    assert.deepEqual(
      resets(s.channel),
      [[1, H2Error.STREAM_CLOSED]],
      "DATA on a half-closed (remote) stream",
    );
    await stop(s);
  }
  {
    // Late DATA on a stream we reset is ignored, yet its bytes still return to the connection window.
    const s = start((st) => st.reset(H2Error.CANCEL));
    s.channel.feed(headers(1, BASE, false));
    await until(() => resets(s.channel).length > 0);
    s.channel.feed(data(1, 700_000), data(1, 700_000, true));
    await until(() => framesOf(s.channel, FrameType.WINDOW_UPDATE, 0).length > 1);
    assert.deepEqual(resets(s.channel), [[1, H2Error.CANCEL]]);
    assert.equal(framesOf(s.channel, FrameType.WINDOW_UPDATE, 0).length, 2, "connection window granted back");
    await stop(s);
  }
});

Deno.test("h2 conformance: a stream cannot depend on itself (HEADERS priority or PRIORITY frame)", async () => {
  {
    const s = start(answerAtOnce);
    s.channel.feed(
      headers(1, BASE, true, Flag.PRIORITY, priority(1)),
      headers(3, BASE, true, Flag.PRIORITY, priority(1)),
    );
    await until(() => framesOf(s.channel, FrameType.HEADERS, 3).length > 0);
    assert.deepEqual(resets(s.channel), [[1, H2Error.PROTOCOL_ERROR]]);
    assert.deepEqual(s.opened, [3], "a dependency on another stream is fine");
    await stop(s);
  }
  {
    let aborted = "";
    const s = start((st) => (st.onAbort = (r) => (aborted = r)));
    s.channel.feed(headers(1, BASE, false), frame(FrameType.PRIORITY, 0, 1, priority(1)));
    s.channel.feed(
      frame(FrameType.PRIORITY, 0, 7, priority(7)),
      frame(FrameType.PRIORITY, 0, 9, priority(1)),
    );
    await until(() => resets(s.channel).length > 1);
    assert.deepEqual(resets(s.channel), [[1, H2Error.PROTOCOL_ERROR], [7, H2Error.PROTOCOL_ERROR]]);
    assert.match(aborted, /reset/);
    assert.equal(s.conn.streams.size, 0);
    assert.equal(goawayCode(s.channel), undefined, "a stream error only");
    await stop(s);
  }
});

Deno.test("h2 conformance: no RST_STREAM(NO_ERROR) for a request the client has already ended", async () => {
  {
    const s = start(answerAtOnce);
    s.channel.feed(headers(1, BASE, true));
    await until(() => framesOf(s.channel, FrameType.HEADERS, 1).length > 0);
    await tick();
    assert.deepEqual(resets(s.channel), []);
    assert.equal(s.conn.streams.size, 0, "closed cleanly");
    await stop(s);
  }
  {
    // Still sending: a complete answer asks the client to stop (RFC 9113 8.1); its late DATA is ignored.
    const s = start(answerAtOnce);
    s.channel.feed(headers(1, BASE, false));
    await until(() => resets(s.channel).length > 0);
    s.channel.feed(data(1, 4, true));
    await tick();
    assert.deepEqual(resets(s.channel), [[1, H2Error.NO_ERROR]]);
    await stop(s);
  }
});

Deno.test("h2 conformance: a request answered without reading keeps its stream state machine", async () => {
  const body = new TextEncoder().encode("not served here\n");
  const refuse = (st: H2Stream) => st.respondWithoutReading([[":status", "415"]], body);
  {
    // The client's window is 0: HEADERS go out, DATA waits for WINDOW_UPDATE (h2spec generic/2/2).
    const s = start(refuse, [[Setting.INITIAL_WINDOW_SIZE, 0]]);
    s.channel.feed(headers(1, BASE, true));
    await until(() => framesOf(s.channel, FrameType.HEADERS, 1).length > 0);
    const [h] = framesOf(s.channel, FrameType.HEADERS, 1);
    assert.equal(h.flags & Flag.END_STREAM, 0, "the body follows");
    assert.equal(decodeHeaders(h.payload)[":status"], "415");
    assert.equal(framesOf(s.channel, FrameType.DATA, 1).length, 0);
    s.channel.feed(frame(FrameType.PRIORITY, 0, 1, priority(0)), windowUpdateFrame(1, 1));
    await until(() => framesOf(s.channel, FrameType.DATA, 1).length > 0);
    assert.equal(framesOf(s.channel, FrameType.DATA, 1)[0].payload.length, 1);
    s.channel.feed(windowUpdateFrame(1, 100));
    await until(() => s.conn.streams.size === 0);
    const sent = framesOf(s.channel, FrameType.DATA, 1);
    assert.equal(sent.reduce((n, f) => n + f.payload.length, 0), body.length);
    assert.ok(sent.at(-1)!.flags & Flag.END_STREAM);
    assert.deepEqual(resets(s.channel), [], "closed by END_STREAM both ways");
    await stop(s);
  }
  const followUps: [string, Uint8Array[], [number, number][]][] = [
    ["its body is dropped; END_STREAM closes it", [data(1, 100_000), data(1, 4, true)], []],
    ["a second HEADERS without END_STREAM", [data(1, 4), headers(1, [["x-t", "1"]], false)], [[
      1,
      H2Error.PROTOCOL_ERROR,
    ]]],
    ["pseudo-header trailers", [headers(1, [[":method", "POST"]], true)], [[1, H2Error.PROTOCOL_ERROR]]],
    ["WINDOW_UPDATE of 0", [windowUpdateFrame(1, 0)], [[1, H2Error.PROTOCOL_ERROR]]],
    [
      "window overflow",
      [windowUpdateFrame(1, 0x7fffffff), windowUpdateFrame(1, 0x7fffffff)],
      [[1, H2Error.FLOW_CONTROL_ERROR]],
    ],
    [
      "more than its content-length",
      [data(1, 8)],
      [[1, H2Error.PROTOCOL_ERROR]],
    ],
  ];
  for (const [name, frames, expected] of followUps) {
    const s = start(refuse);
    const fields: Fields = name.includes("content-length") ? [...BASE, ["content-length", "4"]] : BASE;
    s.channel.feed(headers(1, fields, false));
    await until(() => framesOf(s.channel, FrameType.DATA, 1).some((f) => f.flags & Flag.END_STREAM));
    assert.equal(s.conn.streams.size, 1, `${name}: half-closed (local), not reset`);
    s.channel.feed(...frames);
    await until(() => s.conn.streams.size === 0);
    await tick();
    assert.equal(s.conn.streams.size, 0, name);
    assert.deepEqual(resets(s.channel), expected, name);
    if (name.startsWith("its body")) {
      assert.ok(
        framesOf(s.channel, FrameType.WINDOW_UPDATE, 1).length > 0,
        "the dropped body's window is granted",
      );
    }
    await stop(s);
  }
});

Deno.test("h2 conformance: at most 16 streams answered without reading wait for the client; the oldest is stopped", async () => {
  const body = new Uint8Array(10);
  const s = start((st) => st.respondWithoutReading([[":status", "415"]], body), [], 64);
  const ids = Array.from({ length: 17 }, (_, i) => 1 + 2 * i);
  s.channel.feed(...ids.map((id) => headers(id, BASE, false)));
  await until(() => resets(s.channel).length > 0);
  await tick();
  assert.deepEqual(resets(s.channel), [[1, H2Error.NO_ERROR]], "the 17th pushes out the oldest");
  assert.equal(s.conn.streams.size, 16);
  s.channel.feed(data(3, 4, true));
  await until(() => s.conn.streams.size === 15);
  assert.equal(s.conn.streams.size, 15, "the client's END_STREAM closes a waiting stream");
  s.channel.feed(headers(99, BASE, false));
  await tick();
  assert.deepEqual(resets(s.channel), [[1, H2Error.NO_ERROR]], "room again: nothing more is stopped");
  await stop(s);
});

Deno.test("h2 conformance: the closed-stream memory keeps the latest records of the last 512 streams", () => {
  const m = new ClosedStreams();
  m.add(1, false);
  m.add(3, true);
  assert.equal(m.find(1), ClosedBy.CLOSED);
  assert.equal(m.find(3), ClosedBy.OUR_RESET);
  assert.equal(m.find(5), ClosedBy.UNKNOWN);
  m.add(1, true);
  assert.equal(m.find(1), ClosedBy.OUR_RESET, "the latest record wins");
  for (let id = 101; id < 101 + 2 * 511; id += 2) m.add(id, false);
  assert.equal(m.find(3), ClosedBy.UNKNOWN, "forgotten after 512 newer records");
  assert.equal(m.find(1), ClosedBy.OUR_RESET);
  m.add(2 ** 31 - 1, true);
  assert.equal(m.find(2 ** 31 - 1), ClosedBy.OUR_RESET, "the largest stream id fits");
});

Deno.test("h2 conformance: the gRPC server answers a GET with 405 and a non-gRPC POST with 415, in full", async () => {
  const server = new GrpcServer({ maxMessageBytes: 1 << 20 });
  server.handle("/svc/Method", () => Promise.resolve());
  const port = await server.listen("127.0.0.1", 0);
  const tcp = await Deno.connect({ hostname: "127.0.0.1", port });
  const client = new H2ClientConnection(new DenoChannel(tcp), {
    streamWindow: 1 << 20,
    connectionWindow: 4 << 20,
    maxFrameSize: 1 << 20,
    maxConcurrentStreams: 8,
    maxHeaderListSize: 16 * 1024,
  });
  const running = client.run();
  try {
    const ask = (fields: Fields, body?: Uint8Array) => {
      const st = client.request(fields, body === undefined);
      const got: { headers?: Record<string, string>; body: string; reset?: number } = { body: "" };
      st.onHeaders = (h) => (got.headers ??= h);
      st.onData = (p) => {
        got.body += new TextDecoder().decode(p);
        return false;
      };
      const done = new Promise<typeof got>((r) => {
        st.onClose = () => r({ ...got, reset: st.resetCode });
      });
      if (body) {
        st.write(body);
        st.endRequest();
      }
      return done;
    };
    const get = await ask([[":method", "GET"], [":scheme", "http"], [":path", "/svc/Method"], [
      ":authority",
      "x",
    ]]);
    assert.equal(get.headers?.[":status"], "405");
    assert.equal(get.headers?.["allow"], "POST");
    assert.match(get.body, /gRPC only/);
    const post = await ask(
      [[":method", "POST"], [":scheme", "http"], [":path", "/svc/Method"], ["content-type", "text/plain"]],
      new Uint8Array(100_000),
    );
    assert.equal(post.headers?.[":status"], "415");
    assert.match(post.body, /gRPC only/);
    assert.equal(post.reset, undefined, "the whole request body was taken, no RST_STREAM");
  } finally {
    client.destroy();
    await running;
    await server.close(100);
  }
});
