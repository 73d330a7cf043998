/**
 * A GrpcServer with one method (ListActions answering nothing) and the GOAWAY
 * guard on or off, to show what the guard prevents.
 * Usage: deno run -A bare_server.ts guarded|unguarded ; prints the port.
 */
import { GrpcServer } from "../../src/transport/grpc_server.ts";

const guarded = Deno.args[0] !== "unguarded";
const server = new GrpcServer({ maxMessageBytes: 1 << 20, guardGoaway: guarded });
server.handle("/arrow.flight.protocol.FlightService/ListActions", async (call) => {
  for await (const _ of call.messages()) { /* drain */ }
});
const port = await server.listen("127.0.0.1", 0);
console.log(port);
