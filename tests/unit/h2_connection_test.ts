/**
 * The HTTP/2 connection (src/h2/connection.ts, server.ts, client.ts) driven frame by frame over an
 * in-memory channel: protocol errors end in the right GOAWAY or RST_STREAM,
 * flow control holds, and random frames never throw anything but a clean
 * connection close.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { H2ClientConnection } from "../../src/h2/client.ts";
import { H2ServerConnection } from "../../src/h2/server.ts";
import {
  CLIENT_PREFACE,
  Flag,
  frame,
  FrameType,
  H2Error,
  settingsFrame,
  windowUpdateFrame,
} from "../../src/h2/frames.ts";
import { HpackDecoder, HpackEncoder } from "../../src/h2/hpack.ts";
import type { H2Stream } from "../../src/h2/stream.ts";
import { channelPair, MemoryChannel } from "../helpers/memory_channel.ts";

const tick = () => new Promise((r) => setTimeout(r, 5));
/** Wait until `done()` holds (up to 2 s): on a loaded machine one tick may not be enough for a write. */
async function until(done: () => boolean): Promise<void> {
  for (let i = 0; i < 400 && !done(); i++) await tick();
}
const encoder = new HpackEncoder();

function request(streamId: number, endStream = false, path = "/svc/Method"): Uint8Array {
  const block = encoder.encode([
    [":method", "POST"],
    [":scheme", "http"],
    [":path", path],
    [":authority", "localhost"],
    ["content-type", "application/grpc"],
  ]);
  return frame(FrameType.HEADERS, Flag.END_HEADERS | (endStream ? Flag.END_STREAM : 0), streamId, block);
}

function start(onStream: (s: H2Stream) => void = () => {}, streamWindow = 1 << 20) {
  const channel = new MemoryChannel();
  const errors: string[] = [];
  const conn = new H2ServerConnection(channel, {
    streamWindow,
    connectionWindow: 4 << 20,
    maxFrameSize: 1 << 20,
    maxConcurrentStreams: 4,
    maxHeaderListSize: 16 * 1024,
    onStream,
    onError: (w, e) => errors.push(`${w}: ${e}`),
  });
  const running = conn.run();
  channel.feed(CLIENT_PREFACE, settingsFrame([]));
  return { channel, conn, running, errors };
}

function goawayCode(channel: MemoryChannel): number | undefined {
  const g = channel.frames().find((f) => f.type === FrameType.GOAWAY);
  return g ? new DataView(g.payload.buffer, g.payload.byteOffset + 4, 4).getUint32(0) : undefined;
}

Deno.test("h2: settings exchange, a request with a body, a response with trailers", async () => {
  const received: Uint8Array[] = [];
  let ended = false;
  const { channel, conn, running } = start((s) => {
    s.onData = (p) => {
      received.push(p.slice());
      return false;
    };
    s.onEnd = () => {
      ended = true;
      s.respond([[":status", "200"], ["content-type", "application/grpc"]]);
      s.write(new Uint8Array(100_000).fill(7));
      s.end([["grpc-status", "0"]]);
    };
  });
  channel.feed(request(1), frame(FrameType.DATA, Flag.END_STREAM, 1, new Uint8Array([1, 2, 3])));
  await until(() => channel.frames().some((f) => f.type === FrameType.DATA));
  assert.ok(ended);
  assert.deepEqual(received, [new Uint8Array([1, 2, 3])]);
  const frames = channel.frames();
  assert.equal(frames[0].type, FrameType.SETTINGS);
  assert.ok(frames.some((f) => f.type === FrameType.SETTINGS && f.flags & Flag.ACK));
  // Default peer window (65,535): only that much DATA until the client grants more.
  const sent = () =>
    channel.frames().filter((f) => f.type === FrameType.DATA).reduce((n, f) => n + f.payload.length, 0);
  assert.equal(sent(), 65_535);
  channel.feed(windowUpdateFrame(0, 1 << 20), windowUpdateFrame(1, 1 << 20));
  await until(() => channel.frames().at(-1)?.type === FrameType.HEADERS);
  assert.equal(sent(), 100_000);
  const last = channel.frames().at(-1)!;
  assert.equal(last.type, FrameType.HEADERS);
  assert.ok(last.flags & Flag.END_STREAM);
  assert.deepEqual(new HpackDecoder().decode(last.payload), [["grpc-status", "0"]]);
  assert.equal(conn.streams.size, 0);
  channel.end();
  await running;
});

Deno.test("h2: protocol violations answer GOAWAY with the right code", async () => {
  const cases: [string, Uint8Array[], number][] = [
    ["DATA on an idle stream", [frame(FrameType.DATA, 0, 5, new Uint8Array(1))], H2Error.PROTOCOL_ERROR],
    ["HEADERS on an even stream", [request(2)], H2Error.PROTOCOL_ERROR],
    ["PING of 7 bytes", [frame(FrameType.PING, 0, 0, new Uint8Array(7))], H2Error.FRAME_SIZE_ERROR],
    ["zero connection WINDOW_UPDATE", [windowUpdateFrame(0, 0)], H2Error.PROTOCOL_ERROR],
    ["window overflow", [windowUpdateFrame(0, 0x7fffffff)], H2Error.FLOW_CONTROL_ERROR],
    [
      "CONTINUATION out of the blue",
      [frame(FrameType.CONTINUATION, Flag.END_HEADERS, 1)],
      H2Error.PROTOCOL_ERROR,
    ],
    ["bad header block", [
      frame(
        FrameType.HEADERS,
        Flag.END_HEADERS,
        1,
        new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
      ),
    ], H2Error.COMPRESSION_ERROR],
    [
      "interleaved HEADERS without CONTINUATION",
      [frame(FrameType.HEADERS, 0, 1, new Uint8Array([0x82])), request(3)],
      H2Error.PROTOCOL_ERROR,
    ],
    [
      "PUSH_PROMISE from a client",
      [frame(FrameType.PUSH_PROMISE, 0, 1, new Uint8Array(4))],
      H2Error.PROTOCOL_ERROR,
    ],
    [
      "more DATA than the stream window",
      [
        request(1),
        frame(FrameType.DATA, 0, 1, new Uint8Array(70_000)),
        frame(FrameType.DATA, 0, 1, new Uint8Array(4_200_000)),
      ],
      H2Error.FRAME_SIZE_ERROR, // 4.2 MB exceeds the 1 MiB frame limit
    ],
  ];
  for (const [name, frames, code] of cases) {
    const { channel, running } = start();
    channel.feed(...frames);
    await running;
    assert.equal(goawayCode(channel), code, name);
    assert.ok(channel.closed, `${name}: closed`);
  }
});

Deno.test("h2: a bad preface closes the connection; stream limits refuse extra streams", async () => {
  {
    const channel = new MemoryChannel();
    const conn = new H2ServerConnection(channel, {
      streamWindow: 1 << 20,
      connectionWindow: 4 << 20,
      maxFrameSize: 1 << 20,
      maxConcurrentStreams: 4,
      maxHeaderListSize: 16 * 1024,
      onStream: () => {},
    });
    const running = conn.run();
    channel.feed(new TextEncoder().encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    await running;
    assert.equal(goawayCode(channel), H2Error.PROTOCOL_ERROR);
  }
  {
    const { channel, conn, running } = start();
    channel.feed(request(1), request(3), request(5), request(7), request(9));
    await tick();
    const rst = channel.frames().filter((f) => f.type === FrameType.RST_STREAM);
    assert.deepEqual(rst.map((f) => f.stream), [9]);
    assert.equal(
      new DataView(rst[0].payload.buffer, rst[0].payload.byteOffset).getUint32(0),
      H2Error.REFUSED_STREAM,
    );
    assert.equal(conn.streams.size, 4);
    channel.end();
    await running;
  }
});

Deno.test("h2: stream flow control: a paused stream withholds its window until resumed", async () => {
  let stream!: H2Stream;
  const { channel, running } = start((s) => {
    stream = s;
    s.onData = () => false;
  }, 256 * 1024);
  channel.feed(request(1), frame(FrameType.DATA, 0, 1, new Uint8Array(70_000)));
  await tick();
  const updates = () =>
    channel.frames().filter((f) => f.type === FrameType.WINDOW_UPDATE && f.stream === 1).length;
  assert.equal(updates(), 1, "a quarter of the window consumed: granted back");
  stream.pause();
  channel.feed(frame(FrameType.DATA, 0, 1, new Uint8Array(70_000)));
  await tick();
  assert.equal(updates(), 1, "paused: nothing granted");
  stream.resume();
  await tick();
  assert.equal(updates(), 2, "resumed: granted");
  channel.end();
  await running;
});

Deno.test("h2: rapid resets and ping floods are cut off", async () => {
  {
    const { channel, running } = start((s) => (s.onData = () => false));
    const frames: Uint8Array[] = [];
    for (let id = 1; id < 2 * 1100 * 2; id += 2) {
      frames.push(request(id), frame(FrameType.RST_STREAM, 0, id, new Uint8Array([0, 0, 0, 8])));
    }
    channel.feed(...frames);
    await running;
    assert.equal(goawayCode(channel), H2Error.ENHANCE_YOUR_CALM);
  }
});

Deno.test("h2: shutdown sends GOAWAY, waits for open streams, then for the peer to close", async () => {
  let stream!: H2Stream;
  const { channel, conn, running } = start((s) => (stream = s));
  channel.feed(request(1, true));
  await tick();
  const done = conn.shutdown(Date.now() + 2_000);
  await tick();
  assert.equal(goawayCode(channel), H2Error.NO_ERROR);
  assert.equal(channel.writeClosed, false, "still waiting for stream 1");
  stream.respond([[":status", "200"]], true);
  await tick();
  assert.equal(channel.writeClosed, false, "idle: waits for the peer to close first");
  channel.end();
  await done;
  await running;
  assert.ok(channel.closed);
});

Deno.test("h2: random frames only ever end in a clean close (fuzz)", async () => {
  const frameArb = fc.record({
    type: fc.oneof(fc.nat(9), fc.constant(0), fc.constant(1), fc.nat(255)),
    flags: fc.oneof(
      fc.nat(255),
      fc.constant(Flag.END_HEADERS),
      fc.constant(Flag.END_STREAM | Flag.END_HEADERS),
    ),
    stream: fc.oneof(fc.nat(8), fc.nat(2 ** 31 - 1)),
    payload: fc.uint8Array({ maxLength: 64 }),
  });
  await fc.assert(
    fc.asyncProperty(fc.array(frameArb, { maxLength: 20 }), fc.nat(40), async (frames, cut) => {
      const { channel, running, errors } = start((s) => {
        s.onData = () => false;
        s.onEnd = () => s.respond([[":status", "200"]], true);
      });
      const bytes = frames.map((f) => frame(f.type, f.flags, f.stream, f.payload));
      const all = new Uint8Array(bytes.reduce((n, b) => n + b.length, 0));
      let o = 0;
      for (const b of bytes) {
        all.set(b, o);
        o += b.length;
      }
      const at = Math.min(cut, all.length);
      channel.feed(all.subarray(0, at), all.subarray(at));
      await tick();
      channel.end();
      await running;
      for (const e of errors) assert.ok(e.startsWith("h2 protocol"), e);
    }),
    { numRuns: 300 },
  );
});

Deno.test("h2: a written view is released once the socket has it, or when its stream is reset", async () => {
  const released: string[] = [];
  let stream!: H2Stream;
  const { channel, running } = start((s) => {
    stream = s;
    s.onEnd = () => {
      s.respond([[":status", "200"]]);
      s.write(new Uint8Array(1000), () => released.push("small"));
      s.write(new Uint8Array(200_000), () => released.push("big"));
    };
  });
  channel.feed(request(1, true));
  await tick();
  // The peer's default window (65,535) lets only part of "big" out: it is not released yet.
  assert.deepEqual(released, ["small"]);
  stream.reset(H2Error.CANCEL);
  assert.deepEqual(released, ["small", "big"], "reset releases what is still queued");
  channel.end();
  await running;
});

Deno.test("h2 client role: request with a body, reply with trailers, flow control both ways, GOAWAY", async () => {
  const [clientSide, serverSide] = channelPair();
  const options = {
    streamWindow: 1 << 20,
    connectionWindow: 4 << 20,
    maxFrameSize: 1 << 20,
    maxConcurrentStreams: 8,
    maxHeaderListSize: 16 * 1024,
  };
  const server = new H2ServerConnection(serverSide, {
    ...options,
    onStream: (s) => {
      let got = 0;
      s.onData = (p) => {
        got += p.length;
        return false;
      };
      s.onEnd = () => {
        s.respond([[":status", "200"], ["content-type", "application/grpc"]]);
        s.write(new Uint8Array(3_000_000).fill(5));
        s.end([["grpc-status", "0"], ["x-got", String(got)]]);
      };
    },
  });
  const client = new H2ClientConnection(clientSide, options);
  const running = [server.run(), client.run()];
  const stream = client.request([
    [":method", "POST"],
    [":scheme", "http"],
    [":path", "/x"],
    ["content-type", "application/grpc"],
  ]);
  const headers: Record<string, string>[] = [];
  let received = 0;
  stream.onHeaders = (h) => void headers.push(h);
  stream.onData = (p) => {
    received += p.length;
    return false;
  };
  const ended = new Promise<void>((r) => (stream.onEnd = r));
  stream.write(new Uint8Array(2_500_000).fill(1)); // more than the default 65,535 window
  stream.endRequest();
  await ended;
  assert.equal(received, 3_000_000);
  assert.equal(headers[0][":status"], "200");
  assert.deepEqual(headers[1], { "grpc-status": "0", "x-got": "2500000" });
  // GOAWAY: the client opens no new streams on this connection.
  server.goaway();
  await tick();
  assert.equal(client.goawayReceived, true);
  assert.throws(() => client.request([[":method", "POST"], [":path", "/y"]]), /closing/);
  client.destroy();
  await Promise.all(running);
});
