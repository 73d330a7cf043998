// Node http2 clients that close their sessions in the ways that make
// Deno 2.9.6's node:http2 server abort (denoland/deno#36788; nghttp2
// `find_stream_on_goaway_func` assertion): GOAWAY while a stream is open.
// Usage: node goaway_storm.mjs PORT CYCLES [VARIANT]
//   close-mid:   call, then open a second stream and close the session gracefully
//   goaway-open: half-sent request, explicit GOAWAY, then destroy
// Stops early when the server stops accepting connections. Prints JSON.
import http2 from "node:http2";

const [port, cycles, variant] = [
  Number(process.argv[2]),
  Number(process.argv[3] ?? 300),
  process.argv[4] ?? "close-mid",
];
const deadline = Date.now() + 120_000;
let ok = 0;
let refused = 0;

function request(session) {
  const req = session.request({
    ":method": "POST",
    ":path": "/arrow.flight.protocol.FlightService/ListActions",
    "content-type": "application/grpc",
    te: "trailers",
  });
  req.on("error", () => {});
  req.on("data", () => {});
  return req;
}

function cycle() {
  return new Promise((resolve) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    let connected = false;
    session.on("connect", () => (connected = true));
    session.on("error", () => {});
    session.on("close", () => resolve(connected));
    const req = request(session);
    if (variant === "goaway-open") {
      req.write(Buffer.from([0, 0]));
      setTimeout(() => {
        try {
          session.goaway(0, 0);
        } catch { /* already gone */ }
        setTimeout(() => session.destroy(), 5);
      }, 2);
    } else {
      req.end(Buffer.from([0, 0, 0, 0, 0]));
      req.on("response", () => {
        request(session).write(Buffer.from([0]));
        session.close();
        setTimeout(() => session.destroy(), 20);
      });
    }
    setTimeout(() => session.destroy(), 2000);
  });
}

for (let i = 0; i < cycles && Date.now() < deadline; i++) {
  if (await cycle()) ok++;
  else if (++refused >= 3) break;
}
console.log(JSON.stringify({ ok, refused, variant }));
