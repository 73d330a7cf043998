/**
 * A gRPC server on `node:http2`, written for large payloads: HTTP/2 windows of
 * 16 MiB+, messages written as lists of views with drain backpressure, and the
 * GOAWAY guard in front of every connection. grpc-js is not used on the server
 * side because it cannot enlarge the server's flow-control window and copies
 * every message (see README, "Transport").
 *
 * @module
 */
import http2 from "node:http2";
import net from "node:net";
import tls from "node:tls";
import type { Duplex } from "node:stream";
import { guardSocket } from "./goaway_guard.ts";
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

/** One incoming RPC as seen by a handler. */
export interface GrpcCall {
  /** Full method path, e.g. `/arrow.flight.protocol.FlightService/DoGet`. */
  readonly path: string;
  /** Request headers (lower-case names). */
  readonly headers: http2.IncomingHttpHeaders;
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
}

/** One piece of a response message. */
export type MessagePart = Uint8Array | ByteSource;

/** A method implementation. Throw a {@link CacheError} to answer with its status. */
export type Handler = (call: GrpcCall) => Promise<void>;

/** Transport options. */
export interface GrpcServerOptions {
  /** Largest accepted request message (checked before buffering). */
  maxMessageBytes: number;
  /** HTTP/2 stream and connection receive window. */
  windowBytes?: number;
  /** Max concurrent streams per connection. */
  maxConcurrentStreams?: number;
  /** Max open connections; more are refused at accept time. */
  maxConnections?: number;
  /** TLS: PEM cert/key and optional CA for client-certificate verification. */
  tls?: { cert: Uint8Array; key: Uint8Array; ca?: Uint8Array };
  /** Filter client GOAWAY frames (default true; false only to demonstrate the crash in tests). */
  guardGoaway?: boolean;
  /**
   * Authenticate a call from its headers before its handler runs (throw a
   * CacheError to refuse). Not called for paths in `publicPaths`.
   */
  authenticate?: (headers: http2.IncomingHttpHeaders) => Principal;
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

/**
 * Response bytes handed to node:http2 per write. Deno's node:http2 copies each
 * written piece into memory the garbage collector does not see promptly: large
 * pieces made concurrent big replies balloon RSS (4 MiB: 1.8 GiB under 32
 * cancelled 8 MiB gets; 256 KiB: 227 MiB), with no throughput gain.
 */
const WRITE_SLICE = 256 * 1024;
/**
 * Response bytes a stream may queue before the sender waits for 'drain': keeps
 * the socket busy between slices; a slow reader costs at most this per stream.
 */
const MAX_QUEUED = 2 * 1024 * 1024;
/** A connection must send its HTTP/2 preface and settings within this time. */
const PREFACE_TIMEOUT_MS = 10_000;
/** After a deadline, trailers get this long to go out before the stream is reset. */
const TRAILER_GRACE_MS = 1_000;

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

/** The server: register handlers, then {@link GrpcServer.listen}. */
export class GrpcServer {
  /** Byte and connection counters. */
  readonly stats: TransportStats = { bytesIn: 0, bytesOut: 0, connectionsAccepted: 0, connectionsRefused: 0 };
  private readonly handlers = new Map<string, Handler>();
  private readonly h2: http2.Http2Server;
  private listener?: net.Server;
  private readonly sessions = new Set<http2.ServerHttp2Session>();
  /** Streams not yet closed, per session: a session without any can be dropped at once on shutdown. */
  private readonly openStreams = new WeakMap<http2.ServerHttp2Session, number>();
  private readonly sockets = new Set<Duplex>();
  private inflight = 0;
  private inflightBytes = 0;
  private idleWaiters: (() => void)[] = [];
  /** Fallback for unknown methods (UNIMPLEMENTED by default). */
  draining = false;

  constructor(private readonly options: GrpcServerOptions) {
    const window = options.windowBytes ?? 16 * 1024 * 1024;
    this.h2 = http2.createServer({
      settings: {
        initialWindowSize: Math.min(window, 2 ** 31 - 1),
        maxFrameSize: 1024 * 1024,
        maxConcurrentStreams: options.maxConcurrentStreams ?? 256,
        maxHeaderListSize: 64 * 1024,
      },
      maxSessionMemory: 64,
    });
    this.h2.on("session", (session: http2.ServerHttp2Session) => {
      this.sessions.add(session);
      session.on("close", () => this.sessions.delete(session));
      session.on("error", (err) => this.options.onError?.("session", err));
      try {
        session.setLocalWindowSize(Math.max(window * 4, 64 * 1024 * 1024));
      } catch (err) {
        this.options.onError?.("setLocalWindowSize", err);
      }
    });
    this.h2.on("stream", (stream, headers) => this.onStream(stream as http2.ServerHttp2Stream, headers));
  }

  /** Register a handler for a full method path. */
  handle(path: string, handler: Handler): void {
    this.handlers.set(path, handler);
  }

  /** Start accepting connections; resolves with the bound port. */
  listen(host: string, port: number): Promise<number> {
    const accept = (socket: Duplex) => {
      if (this.draining || this.sockets.size >= (this.options.maxConnections ?? 4096)) {
        this.stats.connectionsRefused++;
        socket.destroy();
        return;
      }
      this.stats.connectionsAccepted++;
      this.sockets.add(socket);
      // Silent or half-open connections must not hold a connection slot: the
      // client preface (24 bytes) and its SETTINGS frame must arrive in time.
      let received = 0;
      const countBytes = (chunk: Uint8Array) => {
        received += chunk.length;
        if (received >= 33) socket.off("data", countBytes);
      };
      socket.on("data", countBytes);
      const prefaceTimer = setTimeout(() => {
        if (received < 33) socket.destroy();
      }, PREFACE_TIMEOUT_MS);
      socket.on("close", () => {
        clearTimeout(prefaceTimer);
        this.sockets.delete(socket);
      });
      socket.on("error", () => {});
      this.h2.emit("connection", this.options.guardGoaway === false ? socket : guardSocket(socket));
    };
    const t = this.options.tls;
    this.listener = t
      ? tls.createServer({
        cert: Buffer.from(t.cert),
        key: Buffer.from(t.key),
        ca: t.ca ? Buffer.from(t.ca) : undefined,
        requestCert: !!t.ca,
        rejectUnauthorized: !!t.ca,
        ALPNProtocols: ["h2"],
      }, (socket) => {
        socket.setNoDelay(true);
        accept(socket);
      })
      : net.createServer((socket) => {
        socket.setNoDelay(true);
        accept(socket);
      });
    this.listener.on("error", (err) => this.options.onError?.("listener", err));
    if (t) {
      this.listener.on("tlsClientError", (err) => this.options.onError?.("tls", err));
    }
    return new Promise((resolve, reject) => {
      this.listener!.once("error", reject);
      this.listener!.listen(port, host, () => {
        const addr = this.listener!.address() as net.AddressInfo;
        resolve(addr.port);
      });
    });
  }

  /** Number of open connections. */
  get connectionCount(): number {
    return this.sockets.size;
  }

  /** Number of calls in progress. */
  get inflightCalls(): number {
    return this.inflight;
  }

  /**
   * Stop accepting, let in-flight calls finish for up to `graceMs`, then close
   * everything.
   */
  async close(graceMs: number): Promise<void> {
    this.draining = true;
    this.listener?.close();
    const deadline = Date.now() + graceMs;
    // GOAWAY tells clients to open no new streams here.
    for (const s of this.sessions) {
      try {
        s.goaway?.(0);
      } catch { /* already closing */ }
    }
    if (this.inflight > 0) {
      await Promise.race([
        new Promise<void>((r) => this.idleWaiters.push(r)),
        new Promise<void>((r) => setTimeout(r, graceMs)),
      ]);
    }
    // Close gracefully, so replies and trailers already queued still reach the
    // clients; destroy only what is left when the grace period is over.
    const closing = [...this.sessions].map((s) =>
      new Promise<void>((resolve) => {
        if (s.closed || s.destroyed || !this.openStreams.get(s)) {
          s.destroy();
          return resolve();
        }
        s.once("close", () => resolve());
        try {
          s.close();
        } catch {
          resolve();
        }
      })
    );
    const left = () => Math.max(100, deadline - Date.now());
    await Promise.race([Promise.all(closing), new Promise<void>((r) => setTimeout(r, left()))]);
    for (const s of this.sessions) s.destroy();
    // A closed session may still have bytes in its socket's write buffer: end the
    // sockets (flush, then FIN) and destroy only those still open at the deadline.
    const ending = [...this.sockets].map((sock) =>
      new Promise<void>((resolve) => {
        if (sock.destroyed) return resolve();
        sock.once("close", () => resolve());
        sock.end();
      })
    );
    await Promise.race([
      Promise.all(ending),
      new Promise<void>((r) => setTimeout(r, Math.min(left(), 2_000))),
    ]);
    for (const s of this.sockets) s.destroy();
  }

  private onStream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    const session = stream.session as http2.ServerHttp2Session | undefined;
    if (session) {
      this.openStreams.set(session, (this.openStreams.get(session) ?? 0) + 1);
      stream.once("close", () => this.openStreams.set(session, (this.openStreams.get(session) ?? 1) - 1));
    }
    const path = String(headers[":path"] ?? "");
    const started = performance.now();
    const handler = this.handlers.get(path);
    const controller = new AbortController();
    let headersSent = false;
    let finished = false;
    let extraHeaders: Record<string, string> = {};
    const ac = controller;
    stream.on("error", () => ac.abort());
    stream.on("aborted", () => ac.abort());
    stream.on("close", () => {
      if (!finished) ac.abort();
    });

    const finish = (code: number, message: string) => {
      if (finished) return;
      finished = true;
      this.options.onCallEnd?.(path, code, performance.now() - started, message);
      if (stream.destroyed || stream.closed) return;
      const trailers: http2.OutgoingHttpHeaders = { "grpc-status": String(code) };
      if (message) trailers["grpc-message"] = encodeGrpcMessage(message);
      try {
        if (!headersSent) {
          headersSent = true;
          stream.respond(
            { ":status": 200, "content-type": "application/grpc", ...extraHeaders, ...trailers },
            {
              endStream: true,
            },
          );
        } else {
          stream.once("wantTrailers", () => stream.sendTrailers(trailers));
          stream.end();
        }
      } catch (err) {
        this.options.onError?.("finish", err);
        stream.destroy();
      }
    };

    const contentType = String(headers["content-type"] ?? "");
    if (!contentType.startsWith("application/grpc")) {
      finished = true;
      stream.respond({ ":status": 415 }, { endStream: true });
      return;
    }
    if (!handler) {
      finish(Status.UNIMPLEMENTED, `Method ${path} is not implemented`);
      return;
    }
    if (this.draining) {
      finish(Status.UNAVAILABLE, "Server is shutting down");
      return;
    }

    let principal: Principal | undefined;
    const auth = this.options.authenticate;
    const isPublic = (this.options.publicPaths ?? []).some((p) =>
      p.endsWith("/") ? path.startsWith(p) : path === p
    );
    if (auth && !isPublic) {
      try {
        principal = auth(headers);
      } catch (err) {
        if (err instanceof CacheError) finish(err.code, err.message);
        else finish(Status.INTERNAL, "authentication failed");
        return;
      }
    }

    const timeoutMs = parseGrpcTimeout(headers["grpc-timeout"] as string | undefined);
    let timer: ReturnType<typeof setTimeout> | undefined;
    if (timeoutMs !== undefined) {
      timer = setTimeout(() => {
        ac.abort();
        finish(Status.DEADLINE_EXCEEDED, "Deadline exceeded");
        // The DEADLINE_EXCEEDED trailers go first; reset only what is still open later.
        const reset = setTimeout(() => {
          if (!stream.destroyed && !stream.closed) stream.close(http2.constants.NGHTTP2_CANCEL);
        }, TRAILER_GRACE_MS);
        stream.once("close", () => clearTimeout(reset));
      }, Math.max(0, timeoutMs));
    }

    const budget = this.options.maxInflightBytes ?? 8 * 1024 ** 3;
    const decoder = new MessageDecoder(this.options.maxMessageBytes, (n) => {
      // Small messages always pass, so a full budget cannot block control calls.
      if (n > 64 * 1024 && this.inflightBytes + n > budget) return false;
      this.inflightBytes += n;
      return true;
    });
    const peer = `${stream.session?.socket?.remoteAddress ?? "?"}:${
      stream.session?.socket?.remotePort ?? "?"
    }`;

    const call: GrpcCall = {
      path,
      headers,
      signal: controller.signal,
      peer,
      principal,
      setHeaders: (h) => {
        extraHeaders = { ...extraHeaders, ...h };
      },
      messages: () =>
        readMessages(stream, decoder, controller.signal, this.stats, this.options.idleTimeoutMs ?? 300_000),
      send: async (parts: MessagePart[]) => {
        if (controller.signal.aborted || finished) throw new CacheError(Status.CANCELLED, "Call cancelled");
        if (!headersSent) {
          headersSent = true;
          stream.respond({ ":status": 200, "content-type": "application/grpc", ...extraHeaders }, {
            waitForTrailers: true,
          });
        }
        let total = 0;
        for (const p of parts) total += p.length;
        this.stats.bytesOut += total;
        stream.write(messagePrefix(total));
        for (const p of parts) {
          if (p instanceof Uint8Array) {
            for (let off = 0; off < p.length; off += WRITE_SLICE) {
              const slice = off === 0 && p.length <= WRITE_SLICE ? p : p.subarray(off, off + WRITE_SLICE);
              if (finished) throw new CacheError(Status.CANCELLED, "Call cancelled");
              if (!stream.write(slice) && stream.writableLength > MAX_QUEUED) {
                await drained(stream, controller.signal);
              }
            }
            continue;
          }
          let sent = 0;
          for await (const chunk of p.chunks()) {
            sent += chunk.length;
            if (sent > p.length) break;
            if (finished) throw new CacheError(Status.CANCELLED, "Call cancelled");
            if (!stream.write(chunk) && stream.writableLength > MAX_QUEUED) {
              await drained(stream, controller.signal);
            }
          }
          if (sent !== p.length) {
            // The message prefix promised p.length bytes: end the call rather than send a torn message.
            stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
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
      this.inflightBytes -= decoder.reserved;
      this.inflight--;
      if (this.inflight === 0) { for (const w of this.idleWaiters.splice(0)) w(); }
    });
  }
}

/** Wait for 'drain' or abort. */
function drained(stream: http2.ServerHttp2Stream, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new CacheError(Status.CANCELLED, "Call cancelled"));
    const done = () => {
      stream.off("drain", done);
      signal.removeEventListener("abort", done);
      if (signal.aborted) reject(new CacheError(Status.CANCELLED, "Call cancelled"));
      else resolve();
    };
    stream.on("drain", done);
    signal.addEventListener("abort", done);
  });
}

/**
 * Async iterator over request messages with flow control: the stream is paused
 * while decoded messages wait for the handler.
 */
async function* readMessages(
  stream: http2.ServerHttp2Stream,
  decoder: MessageDecoder,
  signal: AbortSignal,
  stats: TransportStats,
  idleTimeoutMs: number,
): AsyncGenerator<IncomingMessage> {
  const queue: IncomingMessage[] = [];
  let ended = false;
  let error: CacheError | null = null;
  let wake: (() => void) | null = null;
  const notify = () => {
    const w = wake;
    wake = null;
    w?.();
  };
  const fail = (err: CacheError) => {
    error ??= err;
    decoder.current?.fail(err);
    notify();
  };
  // A client that stalls mid-request for too long is cut off.
  let idleTimer: ReturnType<typeof setTimeout> | undefined;
  const armIdle = () => {
    clearTimeout(idleTimer);
    idleTimer = setTimeout(() => {
      if (!ended) {
        fail(new CacheError(Status.DEADLINE_EXCEEDED, `request stream idle for ${idleTimeoutMs} ms`));
      }
    }, idleTimeoutMs);
  };
  const backlogged = () =>
    queue.length > 4 || (decoder.current?.queued ?? 0) > (decoder.current?.highWater ?? 0);
  const onData = (chunk: Uint8Array) => {
    armIdle();
    try {
      stats.bytesIn += chunk.length;
      for (const m of decoder.push(chunk)) {
        if (m instanceof LargeMessage) {
          m.onDrain = () => {
            if (stream.isPaused() && !backlogged()) stream.resume();
          };
        }
        queue.push(m);
      }
    } catch (err) {
      stream.pause();
      fail(err instanceof CacheError ? err : new CacheError(Status.INTERNAL, String(err)));
    }
    if (backlogged()) stream.pause();
    notify();
  };
  const onEnd = () => {
    ended = true;
    clearTimeout(idleTimer);
    if (decoder.partial) {
      const err = decoder.truncatedError();
      decoder.current?.fail(err);
    }
    notify();
  };
  const onAbort = () => fail(new CacheError(Status.CANCELLED, "Call cancelled by the client"));
  stream.on("data", onData);
  stream.on("end", onEnd);
  signal.addEventListener("abort", onAbort);
  armIdle();
  try {
    while (true) {
      if (error) throw error;
      if (queue.length > 0) {
        const m = queue.shift()!;
        if (stream.isPaused() && !backlogged()) stream.resume();
        yield m;
        continue;
      }
      if (ended) {
        if (decoder.partial) throw decoder.truncatedError();
        return;
      }
      if (signal.aborted) throw new CacheError(Status.CANCELLED, "Call cancelled by the client");
      if (stream.isPaused() && !backlogged()) stream.resume();
      await new Promise<void>((r) => (wake = r));
    }
  } finally {
    clearTimeout(idleTimer);
    stream.off("data", onData);
    stream.off("end", onEnd);
    signal.removeEventListener("abort", onAbort);
  }
}
