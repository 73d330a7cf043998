/**
 * A gRPC message too large to buffer whole: its bytes are handed to the
 * consumer as they arrive (views of the received DATA chunks, no copies), so a
 * 1 GiB upload can go to disk while it is received. The reader of the HTTP/2
 * stream pauses it while more than {@link LargeMessage.highWater} bytes wait.
 *
 * @module
 */
import { concat } from "../bytes.ts";
import { CacheError, invalidArgument, resourceExhausted, Status } from "../errors.ts";

/** The incoming bytes of one large message. */
export class LargeMessage {
  /** Bytes queued and not yet taken by the consumer. */
  queued = 0;
  /** Bytes delivered into the queue so far. */
  received = 0;
  private readonly chunks: Uint8Array[] = [];
  private failure: CacheError | null = null;
  private waiter: (() => void) | null = null;
  /** Called when the consumer takes bytes, so the transport can resume reading. */
  onDrain: () => void = () => {};

  /**
   * @param length total message length (from the gRPC prefix)
   * @param highWater pause the transport above this many queued bytes
   * @param reserve asks the shared in-flight budget before buffering whole
   */
  constructor(
    readonly length: number,
    readonly highWater: number,
    private readonly reserve: (n: number) => boolean,
  ) {}

  /**
   * Take `n` bytes from the shared in-flight budget for a buffer the consumer
   * is about to allocate; RESOURCE_EXHAUSTED when they do not fit.
   */
  reserveMemory(n: number): void {
    if (!this.reserve(n)) {
      throw resourceExhausted(
        `server is receiving too much data at once: ${n} bytes do not fit; retry later`,
      );
    }
  }

  /** True when every byte has been delivered. */
  get complete(): boolean {
    return this.received === this.length;
  }

  /** Transport side: add bytes (a view is kept, not copied). */
  push(chunk: Uint8Array): void {
    this.chunks.push(chunk);
    this.queued += chunk.length;
    this.received += chunk.length;
    this.wake();
  }

  /** Transport side: the request ended or failed before the message was complete. */
  fail(err: CacheError): void {
    this.failure = err;
    this.wake();
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }

  /** Next piece of the message, or null at its end. Pieces may be any size. */
  async next(): Promise<Uint8Array | null> {
    while (true) {
      if (this.chunks.length > 0) {
        const c = this.chunks.shift()!;
        this.queued -= c.length;
        this.onDrain();
        return c;
      }
      if (this.complete) return null;
      if (this.failure) throw this.failure;
      await new Promise<void>((r) => (this.waiter = r));
    }
  }

  /**
   * Exactly `n` bytes (joined if they span pieces), or fewer only at the end.
   * Used for the small parts of a message (protobuf fields, IPC header).
   */
  async read(n: number): Promise<Uint8Array> {
    const parts: Uint8Array[] = [];
    let have = 0;
    while (have < n) {
      const c = await this.next();
      if (!c) break;
      if (have + c.length > n) {
        const take = n - have;
        parts.push(c.subarray(0, take));
        this.unshift(c.subarray(take));
        have = n;
      } else {
        parts.push(c);
        have += c.length;
      }
    }
    return concat(parts, have);
  }

  /** Put bytes back at the front (they were read too far). */
  unshift(c: Uint8Array): void {
    if (c.length === 0) return;
    this.chunks.unshift(c);
    this.queued += c.length;
  }

  /** Skip `n` bytes. */
  async skip(n: number): Promise<void> {
    while (n > 0) {
      const c = await this.next();
      if (!c) throw invalidArgument("gRPC message ended early");
      if (c.length > n) {
        this.unshift(c.subarray(n));
        return;
      }
      n -= c.length;
    }
  }

  /**
   * The rest of the message in one buffer (for the rare messages that cannot
   * be streamed, e.g. compressed or native uploads). Takes from the shared
   * in-flight budget first.
   */
  async readAll(alreadyRead: Uint8Array = new Uint8Array(0)): Promise<Uint8Array> {
    const rest = this.length - (this.received - this.queued) + alreadyRead.length;
    if (!this.reserve(rest)) {
      throw resourceExhausted(
        `server is receiving too much data at once: ${rest} bytes do not fit; retry later`,
      );
    }
    const out = new Uint8Array(new SharedArrayBuffer(rest));
    out.set(alreadyRead);
    let off = alreadyRead.length;
    for (let c = await this.next(); c; c = await this.next()) {
      out.set(c, off);
      off += c.length;
    }
    if (off !== rest) throw new CacheError(Status.INVALID_ARGUMENT, "gRPC message ended early");
    return out;
  }
}
