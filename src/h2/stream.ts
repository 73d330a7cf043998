/**
 * One HTTP/2 stream, for either role: the headers that opened it, incoming
 * DATA handed to its consumer as views of the received bytes, and outgoing
 * bytes queued as views until flow control lets the connection send them.
 *
 * The consumer (a gRPC call) uses the public methods (`respond`, `write`,
 * `end`, `pause`, ...). The connection drives the rest through the methods
 * marked "connection side"; the stream's state is private and read-only from
 * outside.
 *
 * @module
 */
import { FlowControl } from "./flow_control.ts";

/** What a stream needs from its connection. */
export interface StreamOwner {
  /** A stream has bytes, trailers or END_STREAM to send. */
  schedule(stream: H2Stream): void;
  /** A stream resumed reading: grant the window it withheld. */
  resumed(stream: H2Stream): void;
  /** Queue HEADERS for a stream. */
  sendHeaders(stream: H2Stream, headers: [string, string][], endStream: boolean): void;
  /** Reset a stream from our side. */
  resetStream(stream: H2Stream, code: number): void;
}

/** Outgoing bytes a stream may queue before its writer has to wait. */
export const STREAM_HIGH_WATER = 2 * 1024 * 1024;

/** An HTTP/2 stream as seen by its consumer. */
export class H2Stream {
  /** The stream's flow-control windows (connection side). */
  readonly flow: FlowControl;

  /**
   * Incoming DATA piece (a view of the received bytes). Return true when a
   * reference to it is kept past the call, so the connection does not reuse
   * its read buffer.
   */
  onData: (piece: Uint8Array) => boolean = () => false;
  /** The peer ended its side: the request body (server) or the reply (client) is complete. */
  onEnd: () => void = () => {};
  /** Client: response headers, then trailers (`endStream` set on the last HEADERS). */
  onHeaders: (headers: Record<string, string>, endStream: boolean) => void = () => {};
  /** The stream was reset by the peer or lost with its connection. */
  onAbort: (reason: string) => void = () => {};
  /** The stream closed (after END_STREAM both ways or a reset). */
  onClose: () => void = () => {};

  #remoteEnded = false;
  #localEnded = false;
  #closed = false;
  #headersSent = false;
  #paused = false;
  #readsRequest = true;
  #resetCode: number | undefined;
  /** The request's content-length, or -1 when it named none (RFC 9113 8.1.1). */
  #contentLength = -1;
  /** DATA payload received (padding excluded). */
  #bodyBytes = 0;
  /** Queued outgoing views, oldest first. */
  readonly #out: Uint8Array[] = [];
  #outBytes = 0;
  #trailers: [string, string][] | null = null;
  #endData = false;
  #writableWaiters: { resolve: () => void; reject: (e: Error) => void }[] = [];
  /** Release callbacks of queued views (see {@link write}). */
  readonly #releases = new Map<Uint8Array, () => void>();

  constructor(
    private readonly owner: StreamOwner,
    readonly id: number,
    readonly headers: Record<string, string>,
    readonly peer: string,
    sendWindow: number,
    recvWindow: number,
  ) {
    this.flow = new FlowControl(sendWindow, recvWindow);
  }

  /** The peer ended its side (END_STREAM). */
  get remoteEnded(): boolean {
    return this.#remoteEnded;
  }
  /** We sent END_STREAM (or reset). */
  get localEnded(): boolean {
    return this.#localEnded;
  }
  /** Fully closed: both sides ended, or reset. */
  get closed(): boolean {
    return this.#closed;
  }
  /** HEADERS were queued from our side. */
  get headersSent(): boolean {
    return this.#headersSent;
  }
  /** Window grants are withheld (the consumer is behind). */
  get paused(): boolean {
    return this.#paused;
  }
  /** The error code of the peer's RST_STREAM (or REFUSED_STREAM for a stream cut by GOAWAY). */
  get resetCode(): number | undefined {
    return this.#resetCode;
  }
  /** False once the response went out with {@link respondWithoutReading}: the request body is dropped. */
  get readsRequest(): boolean {
    return this.#readsRequest;
  }
  /** Queued outgoing bytes. */
  get queuedBytes(): number {
    return this.#outBytes;
  }
  /** True when the queue is over the high-water mark. */
  get congested(): boolean {
    return this.#outBytes > STREAM_HIGH_WATER;
  }

  /** Send headers (with END_STREAM for a trailers-only response, or a request without body). */
  respond(headers: [string, string][], endStream = false): void {
    if (this.#localEnded || this.#headersSent) return;
    this.#headersSent = true;
    this.owner.sendHeaders(this, headers, endStream);
  }

  /**
   * Server: answer a request the server will not serve (wrong method or content type): `headers`,
   * then `body` with END_STREAM. The request body is dropped (its window granted back) and the
   * stream stays open until the client ends its side, so every later frame on it still gets the
   * answer RFC 9113 gives (instead of being ignored after an early RST_STREAM). `body` is kept as
   * a view: a shared constant is fine.
   */
  respondWithoutReading(headers: [string, string][], body: Uint8Array): void {
    if (this.#localEnded || this.#headersSent) return;
    this.#readsRequest = false;
    this.onData = () => false;
    this.#headersSent = true;
    this.owner.sendHeaders(this, headers, body.length === 0);
    if (body.length === 0) return;
    this.write(body);
    this.endRequest();
  }

  /**
   * Queue bytes (kept as a view: do not modify them afterwards). `released`, if given, is called
   * once the connection no longer needs them (written to the socket, or the stream closed), so the
   * caller may reuse the buffer.
   */
  write(bytes: Uint8Array, released?: () => void): void {
    if (this.#localEnded || bytes.length === 0) {
      released?.();
      return;
    }
    this.#out.push(bytes);
    this.#outBytes += bytes.length;
    if (released) this.#releases.set(bytes, released);
    this.owner.schedule(this);
  }

  /** Resolves once the queue is below the high-water mark; rejects if the stream closes first. */
  drained(): Promise<void> {
    if (!this.congested) return Promise.resolve();
    if (this.#localEnded) return Promise.reject(new Error("stream closed"));
    return new Promise((resolve, reject) => this.#writableWaiters.push({ resolve, reject }));
  }

  /** End our side with trailers, after the queued bytes. */
  end(trailers: [string, string][]): void {
    if (this.#localEnded || this.#trailers) return;
    this.#trailers = trailers;
    this.owner.schedule(this);
  }

  /** No more bytes after the queued ones: END_STREAM on the last DATA frame (a client's request body). */
  endRequest(): void {
    if (this.#localEnded || this.#endData) return;
    this.#endData = true;
    this.owner.schedule(this);
  }

  /** Reset the stream (RST_STREAM with `code`). */
  reset(code: number): void {
    if (this.#closed) return;
    this.owner.resetStream(this, code);
  }

  /** Stop granting flow-control window until {@link resume}. */
  pause(): void {
    this.#paused = true;
  }

  /** Grant window again. */
  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.owner.resumed(this);
  }

  // ---- connection side ----

  /** Connection side: the client opened this stream with its request HEADERS. */
  markHeadersSent(): void {
    this.#headersSent = true;
  }

  /** Connection side: the peer sent END_STREAM. */
  markRemoteEnded(): void {
    this.#remoteEnded = true;
  }

  /** Connection side: END_STREAM left from our side. */
  markLocalEnded(): void {
    this.#localEnded = true;
  }

  /** Connection side: the request named a content-length of `length` bytes. */
  expectBody(length: number): void {
    this.#contentLength = length;
  }

  /** Connection side: `n` more DATA bytes arrived; false when that exceeds the content-length. */
  countBody(n: number): boolean {
    this.#bodyBytes += n;
    return this.#contentLength < 0 || this.#bodyBytes <= this.#contentLength;
  }

  /** Connection side: the body received so far is what the content-length announced (or none was). */
  get bodyComplete(): boolean {
    return this.#contentLength < 0 || this.#bodyBytes === this.#contentLength;
  }

  /** Connection side: the peer reset the stream (or GOAWAY refused it) with `code`. */
  noteReset(code: number): void {
    this.#resetCode = code;
  }

  /**
   * Connection side: take `size` queued bytes (at most {@link queuedBytes}) for one DATA frame.
   * Each piece goes to `append`; the release callbacks of views taken whole go to `released`.
   */
  takeData(size: number, append: (piece: Uint8Array) => void, released: (release: () => void) => void): void {
    let left = size;
    const out = this.#out;
    while (left > 0) {
      const head = out[0];
      if (head.length <= left) {
        out.shift();
        append(head);
        const release = this.#takeRelease(head);
        if (release) released(release);
        left -= head.length;
      } else {
        append(head.subarray(0, left));
        out[0] = this.#split(head, left);
        left = 0;
      }
    }
    this.#outBytes -= size;
    this.flow.spend(size);
    this.#notifyWritable();
  }

  /** Connection side: true when the queue is empty and END_STREAM on an empty DATA frame is due. */
  get endsWithData(): boolean {
    return this.#outBytes === 0 && this.#endData && !this.#localEnded;
  }

  /** Connection side: the trailers, once the queue is empty (taken: they are sent once). */
  takeTrailers(): [string, string][] | null {
    if (this.#outBytes > 0 || !this.#trailers) return null;
    const t = this.#trailers;
    this.#trailers = null;
    return t;
  }

  /** Connection side: true when there is something to send once the windows allow. */
  get hasOutput(): boolean {
    return this.#outBytes > 0 || this.#trailers !== null;
  }

  /** Connection side: the stream is closed; drop the queue and wake everyone. */
  markClosed(abortReason: string | null): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#localEnded = true;
    this.#out.length = 0;
    this.#outBytes = 0;
    for (const release of this.#releases.values()) release();
    this.#releases.clear();
    // An Error costs a stack trace: made only when a writer waits (rare; every stream closes).
    if (this.#writableWaiters.length > 0) {
      const err = new Error(abortReason ?? "stream closed");
      for (const w of this.#writableWaiters.splice(0)) w.reject(err);
    }
    if (abortReason !== null) this.onAbort(abortReason);
    this.onClose();
  }

  /** The first `n` bytes of `view` were taken; the rest keeps its release callback. */
  #split(view: Uint8Array, n: number): Uint8Array {
    const rest = view.subarray(n);
    const release = this.#releases.get(view);
    if (release) {
      this.#releases.delete(view);
      this.#releases.set(rest, release);
    }
    return rest;
  }

  /** The view at the head of the queue was taken whole; its release callback, if any. */
  #takeRelease(view: Uint8Array): (() => void) | undefined {
    if (this.#releases.size === 0) return undefined;
    const r = this.#releases.get(view);
    if (r) this.#releases.delete(view);
    return r;
  }

  /** Some queued bytes left; wake writers below the mark. */
  #notifyWritable(): void {
    if (this.congested || this.#writableWaiters.length === 0) return;
    for (const w of this.#writableWaiters.splice(0)) w.resolve();
  }
}
