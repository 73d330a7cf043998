/**
 * A minimal gRPC client channel on `node:http2`.
 *
 * Why not @grpc/grpc-js: it copies every message into its own buffer, cannot
 * hand us a reply message before it is complete (a downloaded object arrives as
 * one gRPC message of the object's size), and on Deno measured slower than
 * plain node:http2 with large windows (see /work/shared/reference/field-notes.md).
 * Here: 16 MiB stream / 64 MiB connection windows, TCP_NODELAY, requests written
 * as lists of views with `drain` backpressure, replies decoded incrementally.
 *
 * One HTTP/2 connection per channel, opened lazily and reopened after the
 * server closes it (GOAWAY, restart). Deadlines travel as `grpc-timeout` and are
 * also enforced locally.
 *
 * @module
 */
import http2 from "node:http2";
import net from "node:net";
import tls from "node:tls";
import { Buffer } from "node:buffer";
import type { Endpoint } from "./endpoint.ts";
import {
  CacheClientError,
  CancelledError,
  DeadlineExceededError,
  decodeGrpcMessage,
  errorFromStatus,
  Status,
  UnavailableError,
} from "./errors.ts";
import { FrameDecoder, type FrameEvent, framePrefix } from "./framing.ts";

/** TLS settings for `grpc+tls://` endpoints. PEM strings or bytes. */
export interface TlsOptions {
  /** CA bundle to verify the server with (default: the system roots). */
  ca?: Uint8Array | string;
  /** Client certificate chain, for mutual TLS. */
  cert?: Uint8Array | string;
  /** Client private key, for mutual TLS. */
  key?: Uint8Array | string;
  /** Name to verify in the server certificate (default: the endpoint host). */
  servername?: string;
}

/** Channel settings. */
export interface ChannelOptions {
  tls?: TlsOptions;
  /** HTTP/2 stream receive window (default 16 MiB). */
  streamWindowBytes?: number;
  /** HTTP/2 connection receive window (default 64 MiB). */
  connectionWindowBytes?: number;
  /** Give up connecting after this long (default 30 s). */
  connectTimeoutMs?: number;
  /** Largest reply message accepted (default 2^31 bytes). */
  maxMessageBytes?: number;
}

/** Per-call settings. */
export interface CallOptions {
  /** Extra request headers (lower-case names), e.g. `authorization`. */
  headers?: Record<string, string>;
  /** Deadline in milliseconds from now. */
  timeoutMs?: number;
  /** Aborting cancels the call (CANCELLED). */
  signal?: AbortSignal;
  /** Deliver reply messages longer than this as begin/chunk/end events (default: never). */
  streamAbove?: number;
}

/** Final status of a call. */
export interface CallStatus {
  code: number;
  message: string;
  /** Response headers (initial metadata). */
  headers: http2.IncomingHttpHeaders;
  /** Response trailers (empty for trailers-only responses). */
  trailers: http2.IncomingHttpHeaders;
}

const WRITE_SLICE = 4 * 1024 * 1024;
/** Pause reading when this many undelivered reply bytes are queued. */
const QUEUE_HIGH = 2 * 1024 * 1024;

function toBuffer(v: Uint8Array | string | undefined): Buffer | string | undefined {
  if (v === undefined || typeof v === "string") return v;
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

function grpcTimeout(ms: number): string {
  const n = Math.max(1, Math.ceil(ms));
  return n < 1e8 ? `${n}m` : `${Math.min(99_999_999, Math.ceil(n / 1000))}S`;
}

/** One RPC in progress. Write request messages, then read reply events. */
export class ClientCall {
  private readonly decoder: FrameDecoder;
  private readonly queue: FrameEvent[] = [];
  private queuedBytes = 0;
  private wake: (() => void) | null = null;
  private status: CallStatus | null = null;
  private failure: CacheClientError | null = null;
  private responseHeaders: http2.IncomingHttpHeaders = {};
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly onAbort: () => void;
  /** Settles when the call ends (never rejects; see {@link ClientCall.result}). */
  readonly done: Promise<void>;
  private resolveDone!: () => void;
  private ended = false;
  /** All reply data has been delivered ('end'): only then may the status end the reading. */
  private readEnded = false;

  constructor(
    private readonly stream: http2.ClientHttp2Stream,
    private readonly channel: Channel,
    maxMessageBytes: number,
    private readonly options: CallOptions,
  ) {
    this.decoder = new FrameDecoder(maxMessageBytes, options.streamAbove ?? Infinity);
    this.done = new Promise((r) => (this.resolveDone = r));
    stream.on("response", (h) => this.onHeaders(h));
    stream.on("trailers", (t) => this.onTrailers(t));
    stream.on("data", (c: Uint8Array) => this.onData(c));
    stream.on("end", () => {
      this.readEnded = true;
      this.onClose();
      this.notify();
    });
    stream.on("close", () => this.onClose());
    stream.on("error", (err: Error) => this.fail(this.streamError(err)));
    this.onAbort = () => this.cancel(new CancelledError("call cancelled by the caller"));
    options.signal?.addEventListener("abort", this.onAbort);
    if (options.timeoutMs !== undefined) {
      this.timer = setTimeout(
        () => this.cancel(new DeadlineExceededError(`deadline of ${options.timeoutMs} ms exceeded`)),
        Math.max(0, options.timeoutMs),
      );
    }
  }

  /** Stream messages longer than `n` bytes as begin/chunk/end events (call before reading). */
  streamMessagesAbove(n: number): void {
    this.decoder.setStreamAbove(n);
  }

  /**
   * Send one request message made of `parts` (concatenated on the wire; never
   * copied here). Resolves when the transport can take more. Rejects with the
   * call's error if the call already ended (e.g. the server refused early).
   * `onFlushed` runs once the transport no longer needs `parts` (or the call
   * ended), so their buffers may be reused.
   */
  async write(parts: Uint8Array[], onFlushed?: () => void): Promise<void> {
    let total = 0;
    for (const p of parts) total += p.length;
    this.checkWritable();
    const slices: Uint8Array[] = [framePrefix(total)];
    for (const p of parts) {
      for (let off = 0; off < p.length; off += WRITE_SLICE) {
        slices.push(off === 0 && p.length <= WRITE_SLICE ? p : p.subarray(off, off + WRITE_SLICE));
      }
    }
    if (onFlushed) this.done.then(onFlushed); // never leave a waiter behind on failure
    for (let i = 0; i < slices.length; i++) {
      const last = i === slices.length - 1;
      this.channel.bytesSent += slices[i].length;
      const more = last && onFlushed
        ? this.stream.write(slices[i], () => onFlushed())
        : this.stream.write(slices[i]);
      if (!more) await this.drained();
      this.checkWritable();
    }
  }

  /** Half-close: no more request messages. */
  end(): void {
    if (!this.stream.destroyed && !this.stream.writableEnded) this.stream.end();
  }

  /** Cancel the call (RST_STREAM CANCEL). */
  cancel(error: CacheClientError = new CancelledError("call cancelled")): void {
    if (this.ended) return;
    this.fail(error); // no-op when the status already arrived (unread data is dropped)
    try {
      if (!this.stream.destroyed) this.stream.close(http2.constants.NGHTTP2_CANCEL);
    } catch { /* already closed */ }
  }

  /** Reply events in order; throws the call's error (non-OK status) after the last one. */
  async *events(): AsyncGenerator<FrameEvent> {
    while (true) {
      if (this.queue.length > 0) {
        const e = this.queue.shift()!;
        if (e.type === "message" || e.type === "chunk") this.queuedBytes -= e.data.length;
        if (this.queuedBytes < QUEUE_HIGH / 2 && this.stream.isPaused()) this.stream.resume();
        yield e;
        continue;
      }
      if (this.failure) throw this.failure;
      // Trailers can overtake data still buffered in a paused stream: wait for 'end'.
      if (this.status && (this.readEnded || this.ended)) {
        if (this.status.code !== Status.OK) throw errorFromStatus(this.status.code, this.status.message);
        if (this.decoder.partial) {
          throw new CacheClientError(Status.INTERNAL, "the reply ended in the middle of a gRPC message");
        }
        return;
      }
      if (this.stream.isPaused()) this.stream.resume();
      await new Promise<void>((r) => (this.wake = r));
    }
  }

  /** Whole reply messages (with no streaming threshold set). */
  async *messages(): AsyncGenerator<Uint8Array> {
    for await (const e of this.events()) {
      if (e.type === "message") yield e.data;
      else throw new CacheClientError(Status.INTERNAL, "unexpected streamed message");
    }
  }

  /** Wait for the end of the call; resolves with its status (OK) or throws its error. */
  async result(): Promise<CallStatus> {
    await this.done;
    if (this.failure) throw this.failure;
    const s = this.status!;
    if (s.code !== Status.OK) throw errorFromStatus(s.code, s.message);
    return s;
  }

  /** Response headers received so far. */
  get headers(): http2.IncomingHttpHeaders {
    return this.responseHeaders;
  }

  private checkWritable(): void {
    if (this.failure) throw this.failure;
    if (this.status) {
      if (this.status.code !== Status.OK) throw errorFromStatus(this.status.code, this.status.message);
      throw new CacheClientError(Status.INTERNAL, "the server ended the call before the request was sent");
    }
  }

  private drained(): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.stream.off("drain", done);
        this.stream.off("close", done);
        resolve();
      };
      this.stream.on("drain", done);
      this.stream.on("close", done);
      if (this.status || this.failure) done();
    });
  }

  private notify(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  private onHeaders(h: http2.IncomingHttpHeaders): void {
    this.responseHeaders = h;
    const httpStatus = Number(h[":status"]);
    if (httpStatus !== 200) {
      this.fail(errorFromStatus(httpToGrpc(httpStatus), `HTTP status ${httpStatus} from the server`));
      return;
    }
    if (h["grpc-status"] !== undefined) this.onTrailers(h); // trailers-only response
  }

  private onTrailers(t: http2.IncomingHttpHeaders): void {
    if (this.status) return;
    const code = Number(t["grpc-status"]);
    const raw = t["grpc-message"];
    const message = decodeGrpcMessage(Array.isArray(raw) ? raw.join(",") : String(raw ?? ""));
    this.status = {
      code: Number.isInteger(code) ? code : Status.UNKNOWN,
      message,
      headers: this.responseHeaders,
      trailers: t === this.responseHeaders ? {} : t,
    };
    this.notify();
  }

  private onData(chunk: Uint8Array): void {
    this.channel.bytesReceived += chunk.length;
    if (this.failure) return;
    try {
      for (const e of this.decoder.push(chunk)) {
        this.queue.push(e);
        if (e.type === "message" || e.type === "chunk") this.queuedBytes += e.data.length;
      }
    } catch (err) {
      this.cancel(err as CacheClientError);
      return;
    }
    if (this.queuedBytes >= QUEUE_HIGH) this.stream.pause();
    this.notify();
  }

  private onClose(): void {
    if (!this.stream.destroyed && !this.stream.closed && !this.status) return; // 'end' before trailers
    if (!this.status && !this.failure) {
      const code = this.stream.rstCode;
      const session = this.stream.session;
      if (!session || session.destroyed || session.closed) {
        // The connection went away (reset, TLS alert, server exit): not a server answer.
        const why = this.channel.lastError?.message ?? "connection closed";
        this.fail(new UnavailableError(`connection to ${this.channel.endpoint.uri} lost: ${why}`));
      } else if (code === http2.constants.NGHTTP2_REFUSED_STREAM) {
        this.fail(new UnavailableError("the server refused the call (try again)"));
      } else if (code === http2.constants.NGHTTP2_CANCEL) {
        this.fail(new CancelledError("the server cancelled the call"));
      } else if (this.stream.closed || this.stream.destroyed) {
        this.fail(
          new CacheClientError(
            code ? Status.INTERNAL : Status.UNAVAILABLE,
            code
              ? `the server reset the call (HTTP/2 error ${code})`
              : "the connection closed before the call finished",
          ),
        );
      } else return;
    }
    this.finish();
  }

  private fail(err: CacheClientError): void {
    if (this.failure || this.status) return;
    this.failure = err;
    this.finish();
  }

  private finish(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.options.signal?.removeEventListener("abort", this.onAbort);
    this.channel.callEnded(this);
    this.resolveDone();
    this.notify();
  }

  private streamError(err: Error): CacheClientError {
    const code = (err as { code?: string }).code ?? "";
    return new UnavailableError(`connection to ${this.channel.endpoint.uri} failed: ${err.message || code}`, {
      cause: err,
    });
  }
}

function httpToGrpc(status: number): number {
  switch (status) {
    case 400:
      return Status.INTERNAL;
    case 401:
      return Status.UNAUTHENTICATED;
    case 403:
      return Status.PERMISSION_DENIED;
    case 404:
      return Status.UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
      return Status.UNAVAILABLE;
    default:
      return Status.UNKNOWN;
  }
}

/** An HTTP/2 connection to one endpoint, shared by all calls. */
export class Channel {
  /** Reply bytes received (DATA payload), for statistics and tests. */
  bytesReceived = 0;
  /** Request bytes sent (message bytes), for statistics. */
  bytesSent = 0;
  /** The last connection-level error, for messages. */
  lastError: Error | undefined;
  private session: http2.ClientHttp2Session | null = null;
  private connecting: Promise<http2.ClientHttp2Session> | null = null;
  private readonly active = new Set<ClientCall>();
  private closed = false;

  constructor(readonly endpoint: Endpoint, private readonly options: ChannelOptions = {}) {}

  /** Start a call of `/arrow.flight.protocol.FlightService/<method>`-style `path`. */
  async call(path: string, options: CallOptions = {}): Promise<ClientCall> {
    if (options.signal?.aborted) throw new CancelledError("call cancelled by the caller");
    const session = await this.connect(options);
    const headers: http2.OutgoingHttpHeaders = {
      ":method": "POST",
      ":path": path,
      ":authority": this.endpoint.authority,
      ":scheme": this.endpoint.tls ? "https" : "http",
      "content-type": "application/grpc",
      "te": "trailers",
      "user-agent": "flame-cache-ts/0.1",
      ...options.headers,
    };
    if (options.timeoutMs !== undefined) headers["grpc-timeout"] = grpcTimeout(options.timeoutMs);
    let stream: http2.ClientHttp2Stream;
    try {
      stream = session.request(headers, { endStream: false });
    } catch (first) {
      // The connection was going away (GOAWAY, reset): one retry on a fresh one.
      this.drop(session);
      try {
        stream = (await this.connect(options)).request(headers, { endStream: false });
      } catch (err) {
        if (err instanceof CacheClientError) throw err;
        throw new UnavailableError(`cannot start a call on ${this.endpoint.uri}: ${(err as Error).message}`, {
          cause: first,
        });
      }
    }
    const call = new ClientCall(stream, this, this.options.maxMessageBytes ?? 2 ** 31, options);
    this.active.add(call);
    if (this.active.size === 1) this.ref(true);
    return call;
  }

  /** Open the connection now (calls open it on demand otherwise). */
  async connectNow(): Promise<void> {
    await this.connect({});
    if (this.active.size === 0) this.ref(false);
  }

  /** Close the connection (in-flight calls are cancelled). */
  async close(): Promise<void> {
    this.closed = true;
    for (const c of [...this.active]) c.cancel(new CancelledError("client closed"));
    const s = this.session ?? await this.connecting?.catch(() => null);
    this.session = null;
    this.connecting = null;
    if (s && !s.destroyed) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          s.destroy();
          resolve();
        }, 1000);
        s.close(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** @internal Called by a call when it ends. */
  callEnded(call: ClientCall): void {
    if (this.active.delete(call) && this.active.size === 0) this.ref(false);
  }

  private ref(on: boolean): void {
    // An idle connection must not keep the process alive.
    const s = this.session as (http2.ClientHttp2Session & { ref?: () => void; unref?: () => void }) | null;
    try {
      if (on) s?.ref?.();
      else s?.unref?.();
    } catch { /* not supported */ }
  }

  private drop(session: http2.ClientHttp2Session): void {
    if (this.session === session) this.session = null;
  }

  private connect(options: CallOptions): Promise<http2.ClientHttp2Session> {
    if (this.closed) return Promise.reject(new CancelledError("client closed"));
    const s = this.session;
    if (s && !s.destroyed && !s.closed) return Promise.resolve(s);
    this.session = null;
    this.connecting ??= this.open().finally(() => (this.connecting = null));
    if (!options.signal) return this.connecting;
    const signal = options.signal;
    let onAbort = () => {};
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(new CancelledError("call cancelled by the caller"));
      signal.addEventListener("abort", onAbort, { once: true });
    });
    return Promise.race([this.connecting, aborted]).finally(() =>
      signal.removeEventListener("abort", onAbort)
    );
  }

  private open(): Promise<http2.ClientHttp2Session> {
    const ep = this.endpoint;
    const streamWindow = this.options.streamWindowBytes ?? 16 * 1024 * 1024;
    const connWindow = this.options.connectionWindowBytes ?? 64 * 1024 * 1024;
    const t = this.options.tls ?? {};
    return new Promise((resolve, reject) => {
      let settled = false;
      const createConnection = () => {
        if (ep.tls) {
          const socket = tls.connect({
            host: ep.host,
            port: ep.port,
            servername: t.servername ?? (net.isIP(ep.host) ? undefined : ep.host),
            ca: toBuffer(t.ca),
            cert: toBuffer(t.cert),
            key: toBuffer(t.key),
            ALPNProtocols: ["h2"],
          });
          socket.setNoDelay(true);
          return socket;
        }
        const socket = net.connect({ host: ep.host, port: ep.port });
        socket.setNoDelay(true);
        return socket;
      };
      const session = http2.connect(`${ep.tls ? "https" : "http"}://${ep.authority}`, {
        settings: {
          initialWindowSize: Math.min(streamWindow, 2 ** 31 - 1),
          maxFrameSize: 1024 * 1024,
          enablePush: false,
        },
        maxSessionMemory: 64,
        createConnection,
      });
      const timer = setTimeout(() => {
        fail(new UnavailableError(`cannot connect to ${ep.uri}: timed out`));
        session.destroy();
      }, this.options.connectTimeoutMs ?? 30_000);
      const fail = (err: CacheClientError) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(err);
      };
      session.on("error", (err: Error) => {
        this.lastError = err;
        this.drop(session);
        fail(new UnavailableError(`cannot connect to ${ep.uri}: ${err.message}`, { cause: err }));
      });
      session.on("goaway", () => this.drop(session));
      session.on("close", () => {
        this.drop(session);
        fail(new UnavailableError(`cannot connect to ${ep.uri}: connection closed`));
      });
      session.once("connect", () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        try {
          session.setLocalWindowSize(Math.max(connWindow, streamWindow));
        } catch { /* keep the default */ }
        this.session = session;
        resolve(session);
      });
    });
  }
}
