/**
 * The gRPC server: our own HTTP/2 (src/h2) on Deno TCP sockets, or on
 * `node:tls` sockets when TLS is on. It accepts connections, routes each
 * stream to its handler as a {@link ServerCall}, and keeps the shared limits
 * (connections, in-flight request bytes) and the graceful shutdown.
 *
 * @module
 */
import type net from "node:net";
import tls from "node:tls";
import { Buffer } from "node:buffer";
import { CacheError, Status } from "../errors.ts";
import {
  type ByteChannel,
  DenoChannel,
  type H2Connection,
  H2ServerConnection,
  type H2Stream,
  NodeChannel,
} from "../h2/mod.ts";
import type { Handler, RequestHeaders, TransportStats } from "./call.ts";
import {
  BUDGET_FREE_BYTES,
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_MAX_CONCURRENT_STREAMS,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_INFLIGHT_BYTES,
  DEFAULT_SERVER_STREAM_WINDOW,
  MAX_FRAME_SIZE,
  MAX_HEADER_LIST_SIZE,
  MAX_WINDOW,
  MIN_SERVER_CONNECTION_WINDOW,
  PREFACE_TIMEOUT_MS,
} from "./defaults.ts";
import { RequestDecoder } from "./request_decoder.ts";
import { type CallHooks, ServerCall } from "./server_call.ts";
import { DeadlineTimer } from "./deadlines.ts";

const NOT_GRPC_BODY = new TextEncoder().encode(
  "flame-cache serves gRPC only: POST with content-type application/grpc\n",
);
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
   * CacheError to refuse); the result becomes the call's `principal`. Not
   * called for paths in `publicPaths`. `peer` is the client's `host:port` (for rate limits).
   */
  authenticate?: (headers: RequestHeaders, peer: string) => unknown;
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

  /** Every call's deadline (`grpc-timeout`), on one timer. */
  private readonly deadlines = new DeadlineTimer();
  /** What every call reports back. */
  private readonly hooks: CallHooks;

  constructor(private readonly options: GrpcServerOptions) {
    this.hooks = {
      stats: this.stats,
      deadlines: this.deadlines,
      onCallEnd: options.onCallEnd,
      onError: options.onError,
    };
  }

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
    if (this.draining || this.connections.size >= (this.options.maxConnections ?? DEFAULT_MAX_CONNECTIONS)) {
      this.stats.connectionsRefused++;
      channel.close();
      return;
    }
    this.stats.connectionsAccepted++;
    const window = Math.min(this.options.windowBytes ?? DEFAULT_SERVER_STREAM_WINDOW, MAX_WINDOW);
    const connection = new H2ServerConnection(channel, {
      streamWindow: window,
      connectionWindow: Math.min(Math.max(window * 4, MIN_SERVER_CONNECTION_WINDOW), MAX_WINDOW),
      maxFrameSize: MAX_FRAME_SIZE,
      maxConcurrentStreams: this.options.maxConcurrentStreams ?? DEFAULT_MAX_CONCURRENT_STREAMS,
      maxHeaderListSize: MAX_HEADER_LIST_SIZE,
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
    this.deadlines.stop();
  }

  private onStream(stream: H2Stream): void {
    const contentType = stream.headers["content-type"] ?? "";
    const post = stream.headers[":method"] === "POST";
    if (!contentType.startsWith("application/grpc") || !post) {
      // Not a gRPC call: a complete HTTP answer; the h2 layer drops the request body and keeps the
      // stream's state machine going until the client ends its side (RFC 9113 5.1, 8.1).
      const reply: [string, string][] = [[":status", post ? "415" : "405"], ["content-type", "text/plain"]];
      if (!post) reply.push(["allow", "POST"]);
      stream.respondWithoutReading(reply, NOT_GRPC_BODY);
      return;
    }
    const call = new ServerCall(stream, this.hooks);
    const handler = this.handlers.get(call.path);
    if (!handler) return call.finish(Status.UNIMPLEMENTED, `Method ${call.path} is not implemented`);
    if (this.draining) return call.finish(Status.UNAVAILABLE, "Server is shutting down");
    if (!this.authenticate(call)) return;
    const decoder = new RequestDecoder(this.options.maxMessageBytes, (n) => this.reserveInflight(n));
    call.receive(decoder, this.options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS);
    this.inflight++;
    call.run(handler).finally(() => {
      this.inflightBytes -= decoder.reserved;
      this.inflight--;
      if (this.inflight === 0) { for (const w of this.idleWaiters.splice(0)) w(); }
    });
  }

  /** Set the call's principal; false (the call already answered) when authentication fails. */
  private authenticate(call: ServerCall): boolean {
    const auth = this.options.authenticate;
    const path = call.path;
    const isPublic = (this.options.publicPaths ?? []).some((p) =>
      p.endsWith("/") ? path.startsWith(p) : path === p
    );
    if (!auth || isPublic) return true;
    try {
      call.principal = auth(call.headers, call.peer);
      return true;
    } catch (err) {
      if (err instanceof CacheError) call.finish(err.code, err.message);
      else call.finish(Status.INTERNAL, "authentication failed");
      return false;
    }
  }

  /** Take `n` bytes from the in-flight budget; small messages always pass. */
  private reserveInflight(n: number): boolean {
    const budget = this.options.maxInflightBytes ?? DEFAULT_MAX_INFLIGHT_BYTES;
    if (n > BUDGET_FREE_BYTES && this.inflightBytes + n > budget) return false;
    this.inflightBytes += n;
    return true;
  }
}
