/**
 * What a gRPC method handler sees of a call, and the shapes of its reply
 * parts. Implemented by {@link ./server_call.ts}.
 *
 * @module
 */
import type { IncomingMessage } from "./request_decoder.ts";

/** Request headers: lower-case names, repeated headers joined with ", ". */
export type RequestHeaders = Readonly<Record<string, string | undefined>>;

/**
 * One incoming RPC as seen by a handler. `P` is the type of what the server's
 * `authenticate` hook returns (the caller's identity); a service that installed
 * the hook may view its calls as `GrpcCall<ItsPrincipal>`.
 */
export interface GrpcCall<P = unknown> {
  /** Full method path, e.g. `/arrow.flight.protocol.FlightService/DoGet`. */
  readonly path: string;
  /** Request headers (lower-case names). */
  readonly headers: RequestHeaders;
  /** Aborted when the client cancels, resets, disconnects or the deadline passes. */
  readonly signal: AbortSignal;
  /** Peer address, for logs. */
  readonly peer: string;
  /**
   * Receive the request messages, one at a time. Messages of 8 MiB or more
   * arrive as a {@link LargeMessage} to be consumed piece by piece before the
   * next message.
   */
  messages(): AsyncIterable<IncomingMessage>;
  /** Who is calling, when authentication is on (set before the handler runs). */
  readonly principal?: P;
  /** Add headers to the response's initial metadata (before the first send). */
  setHeaders(headers: Record<string, string>): void;
  /** Send one response message made of `parts` (concatenated on the wire). Resolves when
   * the transport can take more (backpressure). */
  send(parts: MessagePart[]): Promise<void>;
  /**
   * Send several small response messages as one write (listings: thousands of messages would otherwise
   * cost a socket write and a turn each). Resolves when the transport can take more.
   */
  sendMany(messages: Uint8Array[]): Promise<void>;
}

/**
 * Response bytes produced while they are sent (e.g. read from a file), so a
 * large reply never sits in memory whole. It must yield exactly `length` bytes.
 */
export interface ByteSource {
  readonly length: number;
  chunks(): AsyncIterable<Uint8Array>;
  /** Called once the transport no longer needs a chunk it was given (its buffer may be reused). */
  release?(chunk: Uint8Array): void;
}

/** One piece of a response message. */
export type MessagePart = Uint8Array | ByteSource;

/** A method implementation. Throw a {@link CacheError} to answer with its status. */
export type Handler = (call: GrpcCall) => Promise<void>;

/** Transport counters, read by metrics. */
export interface TransportStats {
  /** Request message bytes received (gRPC payloads, without framing). */
  bytesIn: number;
  /** Response message bytes sent. */
  bytesOut: number;
  /** Connections accepted since start. */
  connectionsAccepted: number;
  /** Connections refused (limit reached or draining). */
  connectionsRefused: number;
}
