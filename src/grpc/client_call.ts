/**
 * One gRPC call from the client, the mirror of the server's `ServerCall`:
 * request messages written as views with backpressure, reply messages decoded
 * incrementally (whole, or as begin/chunk/end events for big ones), and the
 * status from the trailers. Deadlines are enforced locally too.
 *
 * @module
 */
import { H2Error, type H2Stream } from "../h2/mod.ts";
import {
  CacheClientError,
  CancelledError,
  DeadlineExceededError,
  errorFromStatus,
  Status,
  UnavailableError,
} from "./client_errors.ts";
import { MessageDecoder, type MessageEvent } from "./decoder.ts";
import { CLIENT_QUEUE_HIGH, SEND_SLICE } from "./defaults.ts";
import { decodeGrpcMessage, statusFromHttp } from "./metadata.ts";
import { MAX_PREFIXED_LENGTH, messagePrefix } from "./prefix.ts";

/** Response headers or trailers: lower-case names, repeated headers joined with ", ". */
export type Metadata = Record<string, string>;

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
  headers: Metadata;
  /** Response trailers (empty for trailers-only responses). */
  trailers: Metadata;
}

/** What a call needs from its channel. */
export interface CallOwner {
  /** The endpoint, for messages. */
  readonly endpointUri: string;
  /** Request message bytes sent. */
  bytesSent: number;
  /** Reply DATA bytes received. */
  bytesReceived: number;
  /** The call ended. */
  callEnded(call: ClientCall): void;
}

/** The reply decoder: the shared gRPC decoder with the client's errors. */
export function replyDecoder(maxMessageBytes: number, streamAbove = Infinity): MessageDecoder {
  return new MessageDecoder({
    maxMessageBytes,
    compressed: () => new CacheClientError(Status.INTERNAL, "the server sent a compressed gRPC message"),
    tooLarge: (length) =>
      new CacheClientError(
        Status.RESOURCE_EXHAUSTED,
        `the server sent a gRPC message of ${length} bytes, more than the limit of ${maxMessageBytes}`,
      ),
  }, streamAbove);
}

/** One RPC in progress. Write request messages, then read reply events. */
export class ClientCall {
  private readonly decoder: MessageDecoder;
  private readonly queue: MessageEvent[] = [];
  private queuedBytes = 0;
  private wake: (() => void) | null = null;
  private status: CallStatus | null = null;
  private failure: CacheClientError | null = null;
  private responseHeaders: Metadata = {};
  private gotHeaders = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly onAbort: () => void;
  /** Settles when the call ends (never rejects; see {@link ClientCall.result}). */
  readonly done: Promise<void>;
  private resolveDone!: () => void;
  private ended = false;
  /** All reply data has been delivered (END_STREAM): only then may the status end the reading. */
  private readEnded = false;

  constructor(
    private readonly stream: H2Stream,
    private readonly channel: CallOwner,
    maxMessageBytes: number,
    private readonly options: CallOptions,
  ) {
    this.decoder = replyDecoder(maxMessageBytes, options.streamAbove ?? Infinity);
    this.done = new Promise((r) => (this.resolveDone = r));
    stream.onHeaders = (h) => {
      if (!this.gotHeaders) {
        this.gotHeaders = true;
        this.onResponseHeaders(h);
      } else this.onTrailers(h);
    };
    stream.onData = (chunk) => this.onData(chunk);
    stream.onEnd = () => {
      this.readEnded = true;
      this.notify();
    };
    stream.onAbort = (reason) => this.onStreamAbort(reason);
    stream.onClose = () => this.onClose();
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
    let flushed = false;
    const release = onFlushed
      ? () => {
        if (!flushed) {
          flushed = true;
          onFlushed();
        }
      }
      : undefined;
    if (release) this.done.then(release); // never leave a waiter behind on failure
    if (total > MAX_PREFIXED_LENGTH) {
      throw new CacheClientError(Status.RESOURCE_EXHAUSTED, `gRPC message of ${total} bytes is too large`);
    }
    const slices: Uint8Array[] = [messagePrefix(total)];
    for (const p of parts) {
      for (let off = 0; off < p.length; off += SEND_SLICE) {
        slices.push(off === 0 && p.length <= SEND_SLICE ? p : p.subarray(off, off + SEND_SLICE));
      }
    }
    for (let i = 0; i < slices.length; i++) {
      this.channel.bytesSent += slices[i].length;
      this.stream.write(slices[i], i === slices.length - 1 ? release : undefined);
      if (this.stream.congested) await this.stream.drained().catch(() => {});
      this.checkWritable();
    }
  }

  /**
   * Send one request message of `length` bytes whose pieces arrive from `next` (null at the end), without
   * ever holding the whole message: each piece goes out as it comes, and `next` is not asked again while
   * the transport is congested. A proxy relays a huge upload this way with memory bounded by the
   * HTTP/2 windows. Pieces must not be reused by the caller (they are written as views).
   */
  async writeStreamed(length: number, next: () => Promise<Uint8Array | null>): Promise<void> {
    this.checkWritable();
    if (length > MAX_PREFIXED_LENGTH) {
      throw new CacheClientError(Status.RESOURCE_EXHAUSTED, `gRPC message of ${length} bytes is too large`);
    }
    let sent = 0;
    let piece: Uint8Array | null = messagePrefix(length);
    while (piece) {
      for (let off = 0; off < piece.length; off += SEND_SLICE) {
        const slice = off === 0 && piece.length <= SEND_SLICE ? piece : piece.subarray(off, off + SEND_SLICE);
        this.channel.bytesSent += slice.length;
        this.stream.write(slice);
        if (this.stream.congested) await this.stream.drained().catch(() => {});
        this.checkWritable();
      }
      piece = await next();
      if (piece) {
        sent += piece.length;
        if (sent > length) {
          throw new CacheClientError(Status.INTERNAL, "streamed message longer than announced");
        }
      }
    }
    if (sent !== length) {
      throw new CacheClientError(Status.INTERNAL, "streamed message shorter than announced");
    }
  }

  /** Half-close: no more request messages. */
  end(): void {
    if (!this.stream.closed) this.stream.endRequest();
  }

  /** Cancel the call (RST_STREAM CANCEL). */
  cancel(error: CacheClientError = new CancelledError("call cancelled")): void {
    if (this.ended) return;
    this.fail(error); // no-op when the status already arrived (unread data is dropped)
    this.stream.reset(H2Error.CANCEL);
  }

  /** Reply events in order; throws the call's error (non-OK status) after the last one. */
  async *events(): AsyncGenerator<MessageEvent> {
    while (true) {
      if (this.queue.length > 0) {
        const e = this.queue.shift()!;
        if (e.type === "message" || e.type === "chunk") this.queuedBytes -= e.data.length;
        if (this.queuedBytes < CLIENT_QUEUE_HIGH / 2 && this.stream.paused) this.stream.resume();
        yield e;
        continue;
      }
      if (this.failure) throw this.failure;
      if (this.status && (this.readEnded || this.ended)) {
        if (this.status.code !== Status.OK) throw errorFromStatus(this.status.code, this.status.message);
        if (this.decoder.partial) {
          throw new CacheClientError(Status.INTERNAL, "the reply ended in the middle of a gRPC message");
        }
        return;
      }
      if (this.stream.paused) this.stream.resume();
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
  get headers(): Metadata {
    return this.responseHeaders;
  }

  private checkWritable(): void {
    if (this.failure) throw this.failure;
    if (this.status) {
      if (this.status.code !== Status.OK) throw errorFromStatus(this.status.code, this.status.message);
      throw new CacheClientError(Status.INTERNAL, "the server ended the call before the request was sent");
    }
  }

  private notify(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  private onResponseHeaders(h: Metadata): void {
    this.responseHeaders = h;
    const httpStatus = Number(h[":status"]);
    if (httpStatus !== 200) {
      this.fail(errorFromStatus(statusFromHttp(httpStatus), `HTTP status ${httpStatus} from the server`));
      return;
    }
    if (h["grpc-status"] !== undefined) this.onTrailers(h); // trailers-only response
  }

  private onTrailers(t: Metadata): void {
    if (this.status) return;
    const code = Number(t["grpc-status"]);
    this.status = {
      code: t["grpc-status"] !== undefined && Number.isInteger(code) ? code : Status.UNKNOWN,
      message: decodeGrpcMessage(t["grpc-message"] ?? ""),
      headers: this.responseHeaders,
      trailers: t === this.responseHeaders ? {} : t,
    };
    this.notify();
  }

  /** Returns true when views of `chunk` were kept (streamed message pieces). */
  private onData(chunk: Uint8Array): boolean {
    this.channel.bytesReceived += chunk.length;
    if (this.failure) return false;
    let retained = false;
    try {
      for (const e of this.decoder.push(chunk)) {
        this.queue.push(e);
        if (e.type === "message" || e.type === "chunk") this.queuedBytes += e.data.length;
        if (e.type === "chunk") retained = true;
      }
    } catch (err) {
      this.cancel(err as CacheClientError);
      return retained;
    }
    if (this.queuedBytes >= CLIENT_QUEUE_HIGH) this.stream.pause();
    this.notify();
    return retained;
  }

  private onStreamAbort(reason: string): void {
    if (this.status || this.failure) return;
    const code = this.stream.resetCode;
    if (code === undefined) {
      // The connection went away (reset, TLS alert, server exit): not a server answer.
      this.fail(new UnavailableError(`connection to ${this.channel.endpointUri} lost: ${reason}`));
    } else if (code === H2Error.REFUSED_STREAM) {
      this.fail(new UnavailableError("the server refused the call (try again)"));
    } else if (code === H2Error.CANCEL) {
      this.fail(new CancelledError("the server cancelled the call"));
    } else {
      this.fail(new CacheClientError(Status.INTERNAL, `the server reset the call (HTTP/2 error ${code})`));
    }
  }

  private onClose(): void {
    if (!this.status && !this.failure) {
      this.fail(new CacheClientError(Status.UNAVAILABLE, "the connection closed before the call finished"));
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
}
