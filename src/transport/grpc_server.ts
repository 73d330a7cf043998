/**
 * The gRPC server: our own HTTP/2 (src/transport/h2) on Deno TCP sockets, or
 * on `node:tls` sockets when TLS is on. Request DATA reaches the decoder as
 * views of the bytes read from the socket; replies leave as views of stored
 * objects or file pieces, with per-stream backpressure.
 *
 * @module
 */
import net from "node:net";
import tls from "node:tls";
import {
  encodeGrpcMessage,
  type IncomingMessage,
  MessageDecoder,
  messagePrefix,
  parseGrpcTimeout,
} from "./framing.ts";
import { LargeMessage } from "./large_message.ts";
import { CacheError, Status } from "../errors.ts";
import type { Principal } from "../auth/auth.ts";
import { type ByteChannel, DenoChannel, NodeChannel } from "./h2/channel.ts";
import { H2Connection } from "./h2/connection.ts";
import { H2Error } from "./h2/frames.ts";
import type { H2Stream } from "./h2/stream.ts";

/** Request headers: lower-case names, repeated headers joined with ", ". */
export type RequestHeaders = Readonly<Record<string, string | undefined>>;

/** One incoming RPC as seen by a handler. */
export interface GrpcCall {
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
  readonly principal?: Principal;
  /** Add headers to the response's initial metadata (before the first send). */
  setHeaders(headers: Record<string, string>): void;
  /** Send one response message made of `parts` (concatenated on the wire). Resolves when
   * the transport can take more (backpressure). */
  send(parts: MessagePart[]): Promise<void>;
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

/** Transport options. */
export interface GrpcServerOptions {
  /** Largest accepted request message (checked before buffering). */
  maxMessageBytes: number;
  /** HTTP/2 stream receive window. */
  windowBytes?: number;
  /** Max concurrent streams per connection. */
  maxConcurrentStreams?: number;
  /** Max open connections; more are refused at accept time. */
  maxConnections?: number;
  /** TLS: PEM cert/key and optional CA for client-certificate verification. */
  tls?: { cert: Uint8Array; key: Uint8Array; ca?: Uint8Array };
  /**
   * Authenticate a call from its headers before its handler runs (throw a
   * CacheError to refuse). Not called for paths in `publicPaths`. `peer` is
   * the client's `host:port` (for rate limits).
   */
  authenticate?: (headers: RequestHeaders, peer: string) => Principal;
  /** Method paths (or prefixes ending in '/') callable without authentication. */
  publicPaths?: string[];
  /** Request bytes all calls together may hold while they are being received and stored. */
  maxInflightBytes?: number;
  /** Cancel a call whose request stream stays silent this long (ms). */
  idleTimeoutMs?: number;
  /** Called on each finished call (for logs and metrics). */
  onCallEnd?: (path: string, code: number, ms: number, message: string) => void;
  /** Called for transport-level errors worth logging. */
  onError?: (where: string, err: unknown) => void;
}

/** A connection must send its HTTP/2 preface and settings within this time. */
const PREFACE_TIMEOUT_MS = 10_000;
/** After a deadline, trailers get this long to go out before the stream is reset. */
const TRAILER_GRACE_MS = 1_000;
/** Reply views are queued in pieces of this size (views, not copies). */
const SEND_SLICE = 1024 * 1024;
/** Request messages decoded ahead of the handler before the stream stops granting window. */
const MAX_QUEUED_MESSAGES = 4;

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

const RESPONSE_HEADERS: [string, string][] = [[":status", "200"], ["content-type", "application/grpc"]];

/** The server: register handlers, then {@link GrpcServer.listen}. */
export class GrpcServer {
  /** Byte and connection counters. */
  readonly stats: TransportStats = { bytesIn: 0, bytesOut: 0, connectionsAccepted: 0, connectionsRefused: 0 };
  private readonly handlers = new Map<string, Handler>();
  private readonly connections = new Set<H2Connection>();
  private denoListener?: Deno.Listener;
  private tlsListener?: net.Server;
  private inflight = 0;
  private inflightBytes = 0;
  private idleWaiters: (() => void)[] = [];
  /** Set by {@link close}: new calls and connections are refused. */
  draining = false;

  constructor(private readonly options: GrpcServerOptions) {}

  /** Register a handler for a full method path. */
  handle(path: string, handler: Handler): void {
    this.handlers.set(path, handler);
  }

  /** Start accepting connections; resolves with the bound port. */
  listen(host: string, port: number): Promise<number> {
    const t = this.options.tls;
    if (!t) {
      const listener = Deno.listen({ hostname: host, port, transport: "tcp" });
      this.denoListener = listener;
      this.acceptLoop(listener);
      return Promise.resolve((listener.addr as Deno.NetAddr).port);
    }
    // TLS through node:tls: it verifies client certificates (mutual TLS), which Deno.listenTls cannot.
    const server = tls.createServer({
      cert: Buffer.from(t.cert),
      key: Buffer.from(t.key),
      ca: t.ca ? Buffer.from(t.ca) : undefined,
      requestCert: !!t.ca,
      rejectUnauthorized: !!t.ca,
      ALPNProtocols: ["h2"],
    }, (socket) => {
      socket.setNoDelay(true);
      socket.on("error", () => {});
      this.accept(new NodeChannel(socket));
    });
    this.tlsListener = server;
    server.on("error", (err) => this.options.onError?.("listener", err));
    server.on("tlsClientError", (err) => this.options.onError?.("tls", err));
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => resolve((server.address() as net.AddressInfo).port));
    });
  }

  private async acceptLoop(listener: Deno.Listener): Promise<void> {
    while (true) {
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
      } catch (err) {
        if (this.draining || err instanceof Deno.errors.BadResource) return;
        // e.g. EMFILE: log, back off briefly, keep serving.
        this.options.onError?.("accept", err);
        await new Promise((r) => setTimeout(r, 50));
        continue;
      }
      try {
        (conn as Deno.TcpConn).setNoDelay(true);
      } catch { /* closed already */ }
      this.accept(new DenoChannel(conn));
    }
  }

  private accept(channel: ByteChannel): void {
    if (this.draining || this.connections.size >= (this.options.maxConnections ?? 4096)) {
      this.stats.connectionsRefused++;
      channel.close();
      return;
    }
    this.stats.connectionsAccepted++;
    const window = Math.min(this.options.windowBytes ?? 16 * 1024 * 1024, 2 ** 31 - 1);
    const connection = new H2Connection(channel, {
      streamWindow: window,
      connectionWindow: Math.min(Math.max(window * 4, 64 * 1024 * 1024), 2 ** 31 - 1),
      maxFrameSize: 1024 * 1024,
      maxConcurrentStreams: this.options.maxConcurrentStreams ?? 256,
      maxHeaderListSize: 64 * 1024,
      onStream: (stream) => this.onStream(stream),
      onError: this.options.onError,
    });
    this.connections.add(connection);
    // Silent or half-open connections must not hold a slot: the preface and SETTINGS must come in time.
    const prefaceTimer = setTimeout(() => {
      if (!connection.established) connection.destroy("no HTTP/2 preface");
    }, PREFACE_TIMEOUT_MS);
    connection.run().catch((err) => this.options.onError?.("connection", err)).finally(() => {
      clearTimeout(prefaceTimer);
      this.connections.delete(connection);
    });
  }

  /** Number of open connections. */
  get connectionCount(): number {
    return this.connections.size;
  }

  /** Number of calls in progress. */
  get inflightCalls(): number {
    return this.inflight;
  }

  /**
   * Stop accepting, let in-flight calls finish for up to `graceMs`, then close
   * every connection once its replies are written and read.
   */
  async close(graceMs: number): Promise<void> {
    this.draining = true;
    try {
      this.denoListener?.close();
    } catch { /* closed */ }
    this.tlsListener?.close();
    const deadline = Date.now() + graceMs;
    for (const c of this.connections) c.goaway();
    if (this.inflight > 0) {
      await Promise.race([
        new Promise<void>((r) => this.idleWaiters.push(r)),
        new Promise<void>((r) => setTimeout(r, graceMs)),
      ]);
    }
    // Replies already queued still go out; the peer gets until the deadline
    // (at least a moment) to read them and close.
    const end = Math.max(deadline, Date.now() + 100);
    await Promise.all([...this.connections].map((c) => c.shutdown(end)));
  }

  private onStream(stream: H2Stream): void {
    const headers = stream.headers;
    const path = headers[":path"] ?? "";
    const started = performance.now();
    const handler = this.handlers.get(path);
    const controller = new AbortController();
    let finished = false;
    let extraHeaders: [string, string][] = [];

    const finish = (code: number, message: string) => {
      if (finished) return;
      finished = true;
      this.options.onCallEnd?.(path, code, performance.now() - started, message);
      if (stream.closed) return;
      const trailers: [string, string][] = [["grpc-status", String(code)]];
      if (message) trailers.push(["grpc-message", encodeGrpcMessage(message)]);
      if (!stream.headersSent) stream.respond([...RESPONSE_HEADERS, ...extraHeaders, ...trailers], true);
      else stream.end(trailers);
    };

    const contentType = headers["content-type"] ?? "";
    if (!contentType.startsWith("application/grpc")) {
      finished = true;
      stream.respond([[":status", "415"]], true);
      return;
    }
    if (!handler) return finish(Status.UNIMPLEMENTED, `Method ${path} is not implemented`);
    if (this.draining) return finish(Status.UNAVAILABLE, "Server is shutting down");

    let principal: Principal | undefined;
    const auth = this.options.authenticate;
    const isPublic = (this.options.publicPaths ?? []).some((p) =>
      p.endsWith("/") ? path.startsWith(p) : path === p
    );
    if (auth && !isPublic) {
      try {
        principal = auth(headers, stream.peer);
      } catch (err) {
        if (err instanceof CacheError) finish(err.code, err.message);
        else finish(Status.INTERNAL, "authentication failed");
        return;
      }
    }

    const budget = this.options.maxInflightBytes ?? 8 * 1024 ** 3;
    const decoder = new MessageDecoder(this.options.maxMessageBytes, (n) => {
      // Small messages always pass, so a full budget cannot block control calls.
      if (n > 64 * 1024 && this.inflightBytes + n > budget) return false;
      this.inflightBytes += n;
      return true;
    });
    const incoming = new IncomingMessages(stream, decoder, this.stats, this.options.idleTimeoutMs ?? 300_000);
    stream.onAbort = () => {
      controller.abort();
      incoming.fail(new CacheError(Status.CANCELLED, "Call cancelled by the client"));
    };
    stream.onClose = () => {
      if (!finished) controller.abort();
    };

    const timeoutMs = parseGrpcTimeout(headers["grpc-timeout"]);
    let timer: ReturnType<typeof setTimeout> | undefined;
    if (timeoutMs !== undefined) {
      timer = setTimeout(() => {
        controller.abort();
        incoming.fail(new CacheError(Status.DEADLINE_EXCEEDED, "Deadline exceeded"));
        finish(Status.DEADLINE_EXCEEDED, "Deadline exceeded");
        // The DEADLINE_EXCEEDED trailers go first; reset only what is still open later.
        setTimeout(() => stream.reset(H2Error.CANCEL), TRAILER_GRACE_MS);
      }, Math.max(0, timeoutMs));
    }

    const cancelled = () => new CacheError(Status.CANCELLED, "Call cancelled");
    const call: GrpcCall = {
      path,
      headers,
      signal: controller.signal,
      peer: stream.peer,
      principal,
      setHeaders: (h) => {
        extraHeaders = [...extraHeaders, ...Object.entries(h)];
      },
      messages: () => incoming.iterate(controller.signal),
      send: async (parts: MessagePart[]) => {
        if (controller.signal.aborted || finished || stream.closed) throw cancelled();
        if (!stream.headersSent) stream.respond([...RESPONSE_HEADERS, ...extraHeaders]);
        let total = 0;
        for (const p of parts) total += p.length;
        this.stats.bytesOut += total;
        stream.write(messagePrefix(total));
        for (const p of parts) {
          if (p instanceof Uint8Array) {
            // Queued in slices, so a deadline or cancel stops the reply within a slice.
            for (let off = 0; off < p.length; off += SEND_SLICE) {
              if (finished || stream.closed) throw cancelled();
              stream.write(off === 0 && p.length <= SEND_SLICE ? p : p.subarray(off, off + SEND_SLICE));
              if (stream.congested) await this.drained(stream, controller.signal);
            }
            continue;
          }
          let sent = 0;
          for await (const chunk of p.chunks()) {
            sent += chunk.length;
            if (sent > p.length) break;
            if (finished || stream.closed) throw cancelled();
            stream.write(chunk, p.release ? () => p.release!(chunk) : undefined);
            if (stream.congested) await this.drained(stream, controller.signal);
          }
          if (sent !== p.length) {
            // The message prefix promised p.length bytes: end the call rather than send a torn message.
            stream.reset(H2Error.INTERNAL_ERROR);
            throw new CacheError(Status.DATA_LOSS, `reply source produced ${sent} of ${p.length} bytes`);
          }
        }
      },
    };

    this.inflight++;
    handler(call).then(
      () => finish(Status.OK, ""),
      (err) => {
        if (err instanceof CacheError) finish(err.code, err.message);
        else if (controller.signal.aborted) finish(Status.CANCELLED, "Call cancelled");
        else {
          this.options.onError?.(`handler ${path}`, err);
          finish(Status.INTERNAL, `Internal error: ${(err as Error)?.message ?? String(err)}`);
        }
      },
    ).finally(() => {
      if (timer !== undefined) clearTimeout(timer);
      incoming.close();
      this.inflightBytes -= decoder.reserved;
      this.inflight--;
      if (this.inflight === 0) { for (const w of this.idleWaiters.splice(0)) w(); }
    });
  }

  private async drained(stream: H2Stream, signal: AbortSignal): Promise<void> {
    if (signal.aborted) throw new CacheError(Status.CANCELLED, "Call cancelled");
    try {
      await stream.drained();
    } catch {
      throw new CacheError(Status.CANCELLED, "Call cancelled");
    }
  }
}

/**
 * Request messages of one call, decoded as DATA arrives (from the moment the
 * stream opens, before the handler asks) and handed out one at a time. The
 * stream stops granting flow-control window while the handler is behind.
 */
class IncomingMessages {
  private readonly queue: IncomingMessage[] = [];
  private ended = false;
  private error: CacheError | null = null;
  private wake: (() => void) | null = null;
  private idleTimer: ReturnType<typeof setTimeout> | undefined;
  private lastActivity = performance.now();

  constructor(
    private readonly stream: H2Stream,
    private readonly decoder: MessageDecoder,
    private readonly stats: TransportStats,
    private readonly idleTimeoutMs: number,
  ) {
    stream.onData = (piece) => this.onData(piece);
    stream.onEnd = () => this.onEnd();
  }

  private notify(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  /** Fail the call's reading side (cancel, deadline, protocol error). */
  fail(err: CacheError): void {
    this.error ??= err;
    this.decoder.current?.fail(err);
    clearTimeout(this.idleTimer);
    this.notify();
  }

  /** The handler is done: stop the idle timer. */
  close(): void {
    clearTimeout(this.idleTimer);
    this.ended = true;
  }

  /** A client that stalls mid-request for too long is cut off (one timer, re-armed lazily). */
  private armIdle(delay = this.idleTimeoutMs): void {
    this.idleTimer = setTimeout(() => {
      if (this.ended || this.error) return;
      const quiet = performance.now() - this.lastActivity;
      if (quiet < this.idleTimeoutMs) return this.armIdle(this.idleTimeoutMs - quiet);
      this.fail(new CacheError(Status.DEADLINE_EXCEEDED, `request stream idle for ${this.idleTimeoutMs} ms`));
    }, delay);
  }

  private backlogged(): boolean {
    const large = this.decoder.current;
    return this.queue.length > MAX_QUEUED_MESSAGES || (large !== null && large.queued > large.highWater);
  }

  private onData(piece: Uint8Array): boolean {
    if (this.error) return false;
    this.stats.bytesIn += piece.length;
    // Bytes handed to a large message are kept as views of the read buffer.
    let retained = this.decoder.current !== null;
    try {
      for (const m of this.decoder.push(piece)) {
        if (m instanceof LargeMessage) {
          retained = true;
          m.onDrain = () => {
            if (this.stream.paused && !this.backlogged()) this.stream.resume();
          };
        }
        this.queue.push(m);
      }
    } catch (err) {
      this.stream.pause();
      this.fail(err instanceof CacheError ? err : new CacheError(Status.INTERNAL, String(err)));
      return retained;
    }
    if (this.backlogged()) this.stream.pause();
    this.lastActivity = performance.now();
    this.notify();
    return retained;
  }

  private onEnd(): void {
    this.ended = true;
    clearTimeout(this.idleTimer);
    if (this.decoder.partial) this.decoder.current?.fail(this.decoder.truncatedError());
    this.notify();
  }

  async *iterate(signal: AbortSignal): AsyncGenerator<IncomingMessage> {
    while (true) {
      if (this.error) throw this.error;
      if (this.queue.length > 0) {
        const m = this.queue.shift()!;
        if (this.stream.paused && !this.backlogged()) this.stream.resume();
        yield m;
        continue;
      }
      if (this.ended) {
        if (this.decoder.partial) throw this.decoder.truncatedError();
        return;
      }
      if (signal.aborted) throw new CacheError(Status.CANCELLED, "Call cancelled by the client");
      if (this.stream.paused && !this.backlogged()) this.stream.resume();
      // The idle timer only matters while the handler waits for the client (most unary
      // requests are complete before the handler first asks).
      if (this.idleTimer === undefined) this.armIdle();
      await new Promise<void>((r) => (this.wake = r));
    }
  }
}
