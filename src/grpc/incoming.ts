/**
 * The request side of one server call: messages decoded as DATA arrives and
 * queued for the handler, with flow control (the stream stops granting window
 * while the handler is behind) and the idle timeout.
 *
 * @module
 */
import { CacheError, Status } from "../errors.ts";
import type { H2Stream } from "../h2/mod.ts";
import type { TransportStats } from "./call.ts";
import { MAX_QUEUED_MESSAGES } from "./defaults.ts";
import { LargeMessage } from "./large_message.ts";
import type { IncomingMessage, RequestDecoder } from "./request_decoder.ts";

/**
 * Request messages of one call, decoded as DATA arrives (from the moment the
 * stream opens, before the handler asks) and handed out one at a time. The
 * stream stops granting flow-control window while the handler is behind.
 */
export class IncomingMessages {
  private readonly queue: IncomingMessage[] = [];
  private ended = false;
  private error: CacheError | null = null;
  private wake: (() => void) | null = null;
  private idleTimer: ReturnType<typeof setTimeout> | undefined;
  private lastActivity = performance.now();

  constructor(
    private readonly stream: H2Stream,
    private readonly decoder: RequestDecoder,
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

  /** The queued messages in order; throws the call's failure, or a truncation. */
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
