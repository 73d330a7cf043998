/**
 * gRPC length-prefixed message framing: 1 byte compressed flag, 4 bytes
 * big-endian length, then the message.
 *
 * @module
 */
import { CacheError, invalidArgument, resourceExhausted, Status } from "../errors.ts";
import { LargeMessage } from "./large_message.ts";

/** Messages at least this large are streamed to the handler instead of buffered. */
export const STREAM_THRESHOLD = 8 * 1024 * 1024;

/** One request message: whole bytes, or a large one arriving piece by piece. */
export type IncomingMessage = Uint8Array | LargeMessage;

/** Messages at least this large are assembled in a SharedArrayBuffer, so the
 * payload inside can reach the store worker without a copy. */
export const SHARED_THRESHOLD = 64 * 1024;

/** Build the 5-byte prefix of a message of `length` bytes. */
export function messagePrefix(length: number): Uint8Array {
  const p = new Uint8Array(5);
  new DataView(p.buffer).setUint32(1, length);
  return p;
}

/**
 * Collects the 5-byte prefix of the next message from DATA chunks that may
 * split it anywhere. Shared by the server's and the client's decoders.
 */
export class PrefixReader {
  private readonly bytes = new Uint8Array(5);
  private fill = 0;

  /** Bytes of a prefix collected so far (0 between messages). */
  get pending(): number {
    return this.fill;
  }

  /**
   * Take prefix bytes from `chunk` at `pos`. Returns how many were used and,
   * once all 5 are in, the prefix: compressed flag and message length.
   */
  take(chunk: Uint8Array, pos: number): { used: number; prefix?: { compressed: boolean; length: number } } {
    const used = Math.min(5 - this.fill, chunk.length - pos);
    this.bytes.set(chunk.subarray(pos, pos + used), this.fill);
    this.fill += used;
    if (this.fill < 5) return { used };
    this.fill = 0;
    const length = new DataView(this.bytes.buffer).getUint32(1);
    return { used, prefix: { compressed: this.bytes[0] !== 0, length } };
  }
}

/**
 * Incremental decoder: feed it DATA chunks, it yields whole messages.
 * The size limit is checked on the prefix, before anything is buffered.
 */
export class MessageDecoder {
  private readonly prefix = new PrefixReader();
  private message: Uint8Array | null = null;
  private large: LargeMessage | null = null;
  private fill = 0;
  /** Bytes received but not yet part of a completed message. */
  pendingBytes = 0;

  /** Bytes this decoder has taken from the shared budget. */
  reserved = 0;

  /**
   * @param maxMessageBytes largest single message
   * @param reserve asks a shared budget for `n` bytes before a message buffer is
   *   allocated; false refuses the message (RESOURCE_EXHAUSTED)
   */
  constructor(
    private readonly maxMessageBytes: number,
    private readonly reserve: (n: number) => boolean = () => true,
    private readonly streamThreshold = STREAM_THRESHOLD,
  ) {}

  /** The large message being received, if any (its consumer drives flow control). */
  get current(): LargeMessage | null {
    return this.large;
  }

  /**
   * Consume a chunk, returning the messages it completes, and large messages
   * as soon as their prefix is known (their bytes follow through the object).
   */
  push(chunk: Uint8Array): IncomingMessage[] {
    const out: IncomingMessage[] = [];
    let pos = 0;
    while (pos < chunk.length) {
      if (this.large) {
        const take = Math.min(this.large.length - this.large.received, chunk.length - pos);
        this.large.push(chunk.subarray(pos, pos + take));
        pos += take;
        if (this.large.complete) this.large = null;
        continue;
      }
      if (this.message === null) {
        const { used, prefix } = this.prefix.take(chunk, pos);
        pos += used;
        if (!prefix) break;
        if (prefix.compressed) {
          throw new CacheError(Status.UNIMPLEMENTED, "Compressed gRPC messages are not supported");
        }
        const length = prefix.length;
        if (length > this.maxMessageBytes) {
          throw resourceExhausted(
            `gRPC message of ${length} bytes exceeds the server limit of ${this.maxMessageBytes} bytes`,
          );
        }
        if (length === 0) {
          out.push(new Uint8Array(0));
          continue;
        }
        if (length >= this.streamThreshold) {
          this.large = new LargeMessage(length, 16 * 1024 * 1024, (n) => {
            if (!this.reserve(n)) return false;
            this.reserved += n;
            return true;
          });
          out.push(this.large);
          continue;
        }
        if (!this.reserve(length)) {
          throw resourceExhausted(
            `server is receiving too much data at once: a ${length}-byte message does not fit; retry later`,
          );
        }
        this.reserved += length;
        this.message = length >= SHARED_THRESHOLD
          ? new Uint8Array(new SharedArrayBuffer(length))
          : new Uint8Array(length);
        this.fill = 0;
      }
      const take = Math.min(this.message.length - this.fill, chunk.length - pos);
      this.message.set(chunk.subarray(pos, pos + take), this.fill);
      this.fill += take;
      pos += take;
      if (this.fill === this.message.length) {
        out.push(this.message);
        this.message = null;
      }
    }
    this.pendingBytes = this.message ? this.fill : this.prefix.pending;
    return out;
  }

  /** True when the stream ended in the middle of a message. */
  get partial(): boolean {
    return this.message !== null || this.large !== null || this.prefix.pending > 0;
  }

  /** Error for a stream that ended inside a message. */
  truncatedError(): CacheError {
    return invalidArgument("Request stream ended in the middle of a gRPC message");
  }
}

/** Percent-encode a grpc-message value (gRPC spec: bytes outside 0x20-0x7E and '%'). */
export function encodeGrpcMessage(message: string): string {
  const bytes = new TextEncoder().encode(message);
  let out = "";
  for (const b of bytes) {
    if (b >= 0x20 && b <= 0x7e && b !== 0x25) out += String.fromCharCode(b);
    else out += "%" + b.toString(16).toUpperCase().padStart(2, "0");
  }
  return out;
}

/** Parse a grpc-timeout header ("100m", "5S") into milliseconds, or undefined. */
export function parseGrpcTimeout(value: string | undefined): number | undefined {
  if (!value) return undefined;
  const m = /^(\d{1,8})([HMSmun])$/.exec(value);
  if (!m) return undefined;
  const n = Number(m[1]);
  const unitMs: Record<string, number> = { H: 3600e3, M: 60e3, S: 1e3, m: 1, u: 1e-3, n: 1e-6 };
  return n * unitMs[m[2]];
}
