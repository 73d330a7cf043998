/**
 * flame-cache's HTTP/2 (RFC 9113) for gRPC: the server and client roles of a
 * connection, its streams, and the byte channels it runs over. The layers
 * above (src/grpc, the server, the client SDK) import this module only.
 *
 * @module
 */
export { type ByteChannel, DenoChannel, NodeChannel } from "./channel.ts";
export type { H2Connection, H2ConnectionOptions } from "./connection.ts";
export { H2ServerConnection, type H2ServerOptions } from "./server.ts";
export { H2ClientConnection } from "./client.ts";
export { H2Stream, STREAM_HIGH_WATER } from "./stream.ts";
export { H2Error } from "./frames.ts";
