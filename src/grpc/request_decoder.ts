/**
 * The server's view of the shared {@link MessageDecoder}: request messages come
 * out whole, or, from {@link STREAM_THRESHOLD} bytes on, as a
 * {@link LargeMessage} whose bytes follow as they arrive. Every buffer is taken
 * from the server's shared in-flight budget first.
 *
 * @module
 */
import { CacheError, invalidArgument, resourceExhausted, Status } from "../errors.ts";
import { allocateShareable } from "../bytes.ts";
import { MessageDecoder } from "./decoder.ts";
import { LARGE_MESSAGE_HIGH_WATER, STREAM_THRESHOLD } from "./defaults.ts";
import { LargeMessage } from "./large_message.ts";

/** One request message: whole bytes, or a large one arriving piece by piece. */
export type IncomingMessage = Uint8Array | LargeMessage;

/** Incremental request decoder: feed it DATA chunks, it yields messages. */
export class RequestDecoder {
  private readonly core: MessageDecoder;
  private large: LargeMessage | null = null;
  /** Bytes this decoder has taken from the shared budget. */
  reserved = 0;

  /**
   * @param maxMessageBytes largest single message
   * @param reserve asks a shared budget for `n` bytes before a message buffer is
   *   allocated; false refuses the message (RESOURCE_EXHAUSTED)
   * @param streamThreshold messages of at least this many bytes arrive as a {@link LargeMessage}
   */
  constructor(
    maxMessageBytes: number,
    private readonly reserve: (n: number) => boolean = () => true,
    streamThreshold = STREAM_THRESHOLD,
  ) {
    this.core = new MessageDecoder({
      maxMessageBytes,
      compressed: () => new CacheError(Status.UNIMPLEMENTED, "Compressed gRPC messages are not supported"),
      tooLarge: (length) =>
        resourceExhausted(
          `gRPC message of ${length} bytes exceeds the server limit of ${maxMessageBytes} bytes`,
        ),
      allocate: (length) => this.allocate(length),
    }, streamThreshold - 1);
  }

  /** The large message being received, if any (its consumer drives flow control). */
  get current(): LargeMessage | null {
    return this.large;
  }

  /** Bytes received but not yet part of a completed message. */
  get pendingBytes(): number {
    return this.core.pendingBytes;
  }

  /** True when the stream ended in the middle of a message. */
  get partial(): boolean {
    return this.core.partial;
  }

  /**
   * Consume a chunk, returning the messages it completes, and large messages
   * as soon as their prefix is known (their bytes follow through the object).
   */
  push(chunk: Uint8Array): IncomingMessage[] {
    const out: IncomingMessage[] = [];
    for (const e of this.core.push(chunk)) {
      switch (e.type) {
        case "message":
          out.push(e.data);
          break;
        case "begin":
          this.large = new LargeMessage(e.length, LARGE_MESSAGE_HIGH_WATER, (n) => this.take(n));
          out.push(this.large);
          break;
        case "chunk":
          this.large!.push(e.data);
          break;
        case "end":
          this.large = null;
          break;
      }
    }
    return out;
  }

  /** Error for a stream that ended inside a message. */
  truncatedError(): CacheError {
    return invalidArgument("Request stream ended in the middle of a gRPC message");
  }

  private take(n: number): boolean {
    if (!this.reserve(n)) return false;
    this.reserved += n;
    return true;
  }

  /** Large buffers are shared, so the payload inside can reach the store worker without a copy. */
  private allocate(length: number): Uint8Array {
    if (!this.take(length)) {
      throw resourceExhausted(
        `server is receiving too much data at once: a ${length}-byte message does not fit; retry later`,
      );
    }
    return allocateShareable(length);
  }
}
