/**
 * gRPC message framing for the client: encoding the 5-byte prefix, and an
 * incremental decoder of response DATA chunks. Small messages come out whole;
 * messages above a threshold can be delivered as `begin` / `chunk` / `end`
 * events so a multi-GiB object reply never has to sit in memory at once.
 *
 * @module
 */
import { CacheClientError, Status } from "./errors.ts";
import { PrefixReader } from "../transport/framing.ts";

/** A decoded piece of the response stream. */
export type FrameEvent =
  | { type: "message"; data: Uint8Array }
  | { type: "begin"; length: number }
  | { type: "chunk"; data: Uint8Array }
  | { type: "end" };

/** The 5-byte gRPC prefix (uncompressed flag + big-endian length) of a `length`-byte message. */
export function framePrefix(length: number): Uint8Array {
  if (!Number.isSafeInteger(length) || length < 0 || length > 0xffffffff) {
    throw new CacheClientError(Status.RESOURCE_EXHAUSTED, `gRPC message of ${length} bytes is too large`);
  }
  const p = new Uint8Array(5);
  new DataView(p.buffer).setUint32(1, length);
  return p;
}

/**
 * Response decoder. `streamAbove`: messages longer than this are streamed as
 * begin/chunk/end (chunks are views of the received DATA chunks, valid until the
 * next push); `Infinity` buffers every message. `maxMessageBytes` is checked on
 * the prefix, before anything is allocated.
 */
export class FrameDecoder {
  private readonly prefix = new PrefixReader();
  private message: Uint8Array | null = null;
  private fill = 0;
  private streamLeft = -1;

  constructor(private readonly maxMessageBytes: number, private streamAbove = Infinity) {}

  /** Change the streaming threshold (applies from the next message). */
  setStreamAbove(n: number): void {
    this.streamAbove = n;
  }

  /** Consume one DATA chunk; returns the events it completes, in order. */
  push(chunk: Uint8Array): FrameEvent[] {
    const out: FrameEvent[] = [];
    let pos = 0;
    while (pos < chunk.length) {
      if (this.streamLeft > 0) {
        const take = Math.min(this.streamLeft, chunk.length - pos);
        out.push({ type: "chunk", data: chunk.subarray(pos, pos + take) });
        this.streamLeft -= take;
        pos += take;
        if (this.streamLeft === 0) {
          this.streamLeft = -1;
          out.push({ type: "end" });
        }
        continue;
      }
      if (this.message === null) {
        const { used, prefix } = this.prefix.take(chunk, pos);
        pos += used;
        if (!prefix) break;
        if (prefix.compressed) {
          throw new CacheClientError(Status.INTERNAL, "the server sent a compressed gRPC message");
        }
        const length = prefix.length;
        if (length > this.maxMessageBytes) {
          throw new CacheClientError(
            Status.RESOURCE_EXHAUSTED,
            `the server sent a gRPC message of ${length} bytes, more than the limit of ${this.maxMessageBytes}`,
          );
        }
        if (length > this.streamAbove) {
          out.push({ type: "begin", length });
          this.streamLeft = length;
          continue;
        }
        if (length === 0) {
          out.push({ type: "message", data: new Uint8Array(0) });
          continue;
        }
        this.message = new Uint8Array(length);
        this.fill = 0;
      }
      const take = Math.min(this.message.length - this.fill, chunk.length - pos);
      this.message.set(chunk.subarray(pos, pos + take), this.fill);
      this.fill += take;
      pos += take;
      if (this.fill === this.message.length) {
        out.push({ type: "message", data: this.message });
        this.message = null;
      }
    }
    return out;
  }

  /** True when the stream stopped inside a message. */
  get partial(): boolean {
    return this.message !== null || this.prefix.pending > 0 || this.streamLeft > 0;
  }
}
