/**
 * flame-cache's gRPC layer on its own HTTP/2 (src/h2): message framing, the
 * one message decoder, metadata formats, the server (GrpcServer, ServerCall)
 * and the client (Channel, ClientCall), endpoints and the client's typed
 * errors. Flight (src/flight), the server service and the client SDK build on
 * this module.
 *
 * @module
 */
export type { ByteSource, GrpcCall, Handler, MessagePart, RequestHeaders, TransportStats } from "./call.ts";
export { GrpcServer, type GrpcServerOptions } from "./server.ts";
export { ServerCall } from "./server_call.ts";
export { LargeMessage } from "./large_message.ts";
export { type IncomingMessage, RequestDecoder } from "./request_decoder.ts";
export { type DecoderPolicy, MessageDecoder, type MessageEvent } from "./decoder.ts";
export { messagePrefix, PrefixReader } from "./prefix.ts";
export {
  decodeGrpcMessage,
  encodeGrpcMessage,
  formatGrpcTimeout,
  parseGrpcTimeout,
  statusFromHttp,
} from "./metadata.ts";
export { type CallOptions, type CallStatus, ClientCall, type Metadata, replyDecoder } from "./client_call.ts";
export { Channel, type ChannelOptions, type TlsOptions } from "./client_channel.ts";
export * from "./client_errors.ts";
export {
  DEFAULT_PORT,
  type Endpoint,
  type EndpointSpec,
  EndpointSyntaxError,
  formatEndpoint,
  formatHost,
  parseEndpoint,
  parseEndpointUri,
  type Scheme,
} from "./endpoint.ts";
export * as defaults from "./defaults.ts";
