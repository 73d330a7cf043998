/**
 * One HTTP/2 stream on the server side: its request headers, the request body
 * as views of received DATA frames, and its response queued as views until
 * flow control lets the connection send them.
 *
 * @module
 */

/** What a stream needs from its connection. */
export interface StreamOwner {
  /** A stream has response bytes or trailers to send. */
  schedule(stream: H2Stream): void;
  /** A stream resumed reading: grant the window it withheld. */
  resumed(stream: H2Stream): void;
  /** Queue response HEADERS for a stream. */
  sendHeaders(stream: H2Stream, headers: [string, string][], endStream: boolean): void;
  /** Reset a stream from our side. */
  resetStream(stream: H2Stream, code: number): void;
}

/** Response bytes a stream may queue before its writer has to wait. */
export const STREAM_HIGH_WATER = 2 * 1024 * 1024;

/** An HTTP/2 stream as seen by the request handler. */
export class H2Stream {
  /** Peer's window for our DATA on this stream. */
  sendWindow: number;
  /** Our window for the peer's DATA on this stream. */
  recvWindow: number;
  /** DATA bytes received but not yet granted back with WINDOW_UPDATE. */
  unacked = 0;
  /** The peer ended its side (END_STREAM). */
  remoteEnded = false;
  /** We sent END_STREAM (or reset). */
  localEnded = false;
  /** Fully closed: both sides ended, or reset. */
  closed = false;
  /** Response headers were queued. */
  headersSent = false;
  /** Stop granting window (the consumer is behind). */
  paused = false;
  /** The error code of the peer's RST_STREAM (or REFUSED_STREAM for a stream cut by GOAWAY). */
  resetCode?: number;

  /** Queued response views, oldest first. */
  readonly out: Uint8Array[] = [];
  /** Bytes in {@link out}. */
  outBytes = 0;
  /** Trailers to send once {@link out} is empty. */
  trailers: [string, string][] | null = null;
  /** Client: end the request with END_STREAM once {@link out} is empty. */
  endData = false;

  /**
   * Request body piece (a view of the received bytes). Return true when a
   * reference to it is kept past the call, so the connection does not reuse
   * its read buffer.
   */
  onData: (piece: Uint8Array) => boolean = () => false;
  /** The request body ended (server), or the reply did (client). */
  onEnd: () => void = () => {};
  /** Client: response headers, then trailers (`endStream` set on the last HEADERS). */
  onHeaders: (headers: Record<string, string>, endStream: boolean) => void = () => {};
  /** The stream was reset by the peer or lost with its connection. */
  onAbort: (reason: string) => void = () => {};
  /** The stream closed (after END_STREAM both ways or a reset). */
  onClose: () => void = () => {};

  private writableWaiters: { resolve: () => void; reject: (e: Error) => void }[] = [];
  /** Release callbacks of queued views (see {@link write}). */
  private readonly releases = new Map<Uint8Array, () => void>();

  constructor(
    private readonly owner: StreamOwner,
    readonly id: number,
    readonly headers: Record<string, string>,
    readonly peer: string,
    sendWindow: number,
    recvWindow: number,
  ) {
    this.sendWindow = sendWindow;
    this.recvWindow = recvWindow;
  }

  /** Send the response headers (with END_STREAM for a trailers-only response). */
  respond(headers: [string, string][], endStream = false): void {
    if (this.localEnded || this.headersSent) return;
    this.headersSent = true;
    this.owner.sendHeaders(this, headers, endStream);
  }

  /**
   * Queue response bytes (kept as a view: do not modify them afterwards). `released`, if given, is
   * called once the connection no longer needs them (written to the socket, or the stream closed), so
   * the caller may reuse the buffer.
   */
  write(bytes: Uint8Array, released?: () => void): void {
    if (this.localEnded || bytes.length === 0) {
      released?.();
      return;
    }
    this.out.push(bytes);
    this.outBytes += bytes.length;
    if (released) this.releases.set(bytes, released);
    this.owner.schedule(this);
  }

  /** Connection side: the first `n` bytes of `view` were taken; the rest keeps its release callback. */
  split(view: Uint8Array, n: number): Uint8Array {
    const rest = view.subarray(n);
    const release = this.releases.get(view);
    if (release) {
      this.releases.delete(view);
      this.releases.set(rest, release);
    }
    return rest;
  }

  /** Connection side: the view at the head of the queue was taken whole; its release callback, if any. */
  takeRelease(view: Uint8Array): (() => void) | undefined {
    if (this.releases.size === 0) return undefined;
    const r = this.releases.get(view);
    if (r) this.releases.delete(view);
    return r;
  }

  /** True when the queue is over the high-water mark. */
  get congested(): boolean {
    return this.outBytes > STREAM_HIGH_WATER;
  }

  /** Resolves once the queue is below the high-water mark; rejects if the stream closes first. */
  drained(): Promise<void> {
    if (!this.congested) return Promise.resolve();
    if (this.localEnded) return Promise.reject(new Error("stream closed"));
    return new Promise((resolve, reject) => this.writableWaiters.push({ resolve, reject }));
  }

  /** End the response with trailers, after the queued bytes. */
  end(trailers: [string, string][]): void {
    if (this.localEnded || this.trailers) return;
    this.trailers = trailers;
    this.owner.schedule(this);
  }

  /** Client: no more request bytes after the queued ones (END_STREAM). */
  endRequest(): void {
    if (this.localEnded || this.endData) return;
    this.endData = true;
    this.owner.schedule(this);
  }

  /** Reset the stream (RST_STREAM with `code`). */
  reset(code: number): void {
    if (this.closed) return;
    this.owner.resetStream(this, code);
  }

  /** Stop granting flow-control window until {@link resume}. */
  pause(): void {
    this.paused = true;
  }

  /** Grant window again. */
  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.owner.resumed(this);
  }

  /** Connection side: some queued bytes left; wake writers below the mark. */
  notifyWritable(): void {
    if (this.congested || this.writableWaiters.length === 0) return;
    for (const w of this.writableWaiters.splice(0)) w.resolve();
  }

  /** Connection side: the stream is closed; drop the queue and wake everyone. */
  markClosed(abortReason: string | null): void {
    if (this.closed) return;
    this.closed = true;
    this.localEnded = true;
    this.out.length = 0;
    this.outBytes = 0;
    for (const release of this.releases.values()) release();
    this.releases.clear();
    const err = new Error(abortReason ?? "stream closed");
    for (const w of this.writableWaiters.splice(0)) w.reject(err);
    if (abortReason !== null) this.onAbort(abortReason);
    this.onClose();
  }
}
