// Node http2 client that opens a connection, makes one gRPC call
// (ListActions) and closes the session gracefully (GOAWAY), N times.
// Deno 2.9.6's node:http2 server aborts on such GOAWAYs without the guard
// (denoland/deno#36788). Usage: node goaway_storm.mjs PORT CYCLES
import http2 from "node:http2";

const [port, cycles] = [Number(process.argv[2]), Number(process.argv[3] ?? 300)];
const deadline = Date.now() + 120_000;
let ok = 0;
let failed = 0;
for (let i = 0; i < cycles && Date.now() < deadline; i++) {
  try {
    await new Promise((resolve, reject) => {
      const session = http2.connect(`http://127.0.0.1:${port}`);
      session.on("error", reject);
      const req = session.request({
        ":method": "POST",
        ":path": "/arrow.flight.protocol.FlightService/ListActions",
        "content-type": "application/grpc",
        te: "trailers",
      });
      req.on("error", reject);
      req.on("data", () => {});
      req.on("response", () => {
        // Close while the stream is still open: GOAWAY reaches the server with
        // a live stream, which is what trips nghttp2 in Deno.
        session.close();
      });
      session.on("close", () => resolve());
      req.end(Buffer.from([0, 0, 0, 0, 0]));
    });
    ok++;
  } catch {
    failed++;
  }
}
console.log(JSON.stringify({ ok, failed }));
