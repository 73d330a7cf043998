/**
 * The one gRPC message decoder, shared by the server (request messages) and
 * the client (reply messages). Feed it DATA chunks; it yields whole messages,
 * or, for messages above a threshold, `begin` / `chunk` / `end` events whose
 * chunks are views of the received bytes, so a multi-GiB message never sits in
 * memory whole. The size limit is checked on the prefix, before anything is
 * allocated. What differs between the roles (error types, how a buffer is
 * allocated and budgeted) comes in as a {@link DecoderPolicy}.
 *
 * @module
 */
import { PrefixReader } from "./prefix.ts";

/** A decoded piece of a message stream. */
export type MessageEvent =
  | { type: "message"; data: Uint8Array }
  | { type: "begin"; length: number }
  | { type: "chunk"; data: Uint8Array }
  | { type: "end" };

/** What the roles decide for themselves. */
export interface DecoderPolicy {
  /** Largest single message. */
  maxMessageBytes: number;
  /** The error for a compressed message (we announce no compression). */
  compressed(): Error;
  /** The error for a message over {@link maxMessageBytes}. */
  tooLarge(length: number): Error;
  /** A buffer for a whole message of `length` bytes (may throw to refuse it). Default: a plain array. */
  allocate?(length: number): Uint8Array;
}

/** Incremental gRPC message decoder. */
export class MessageDecoder {
  private readonly prefix = new PrefixReader();
  private message: Uint8Array | null = null;
  private fill = 0;
  private streamLeft = 0;
  private streaming = false;

  /**
   * @param policy limits, errors and allocation
   * @param streamAbove messages longer than this come as begin/chunk/end events (Infinity: never)
   */
  constructor(private readonly policy: DecoderPolicy, private streamAbove = Infinity) {}

  /** Change the streaming threshold (applies from the next message). */
  setStreamAbove(n: number): void {
    this.streamAbove = n;
  }

  /** True while a streamed message is being received. */
  get streamingMessage(): boolean {
    return this.streaming;
  }

  /** Bytes received but not yet part of a completed whole message. */
  get pendingBytes(): number {
    return this.message ? this.fill : this.prefix.pending;
  }

  /** True when the input stopped inside a message. */
  get partial(): boolean {
    return this.message !== null || this.prefix.pending > 0 || this.streaming;
  }

  /** Consume one DATA chunk; returns the events it completes, in order. */
  push(chunk: Uint8Array): MessageEvent[] {
    const out: MessageEvent[] = [];
    let pos = 0;
    while (pos < chunk.length) {
      if (this.streaming) {
        pos = this.streamPiece(chunk, pos, out);
        continue;
      }
      if (this.message === null) {
        const { used, prefix } = this.prefix.take(chunk, pos);
        pos += used;
        if (!prefix) break;
        if (prefix.compressed) throw this.policy.compressed();
        const length = prefix.length;
        if (length > this.policy.maxMessageBytes) throw this.policy.tooLarge(length);
        if (length === 0) {
          out.push({ type: "message", data: new Uint8Array(0) });
          continue;
        }
        if (length > this.streamAbove) {
          out.push({ type: "begin", length });
          this.streaming = true;
          this.streamLeft = length;
          continue;
        }
        this.message = this.policy.allocate?.(length) ?? new Uint8Array(length);
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

  /** The next piece of a streamed message, as a view; returns the new position. */
  private streamPiece(chunk: Uint8Array, pos: number, out: MessageEvent[]): number {
    const take = Math.min(this.streamLeft, chunk.length - pos);
    out.push({ type: "chunk", data: chunk.subarray(pos, pos + take) });
    this.streamLeft -= take;
    if (this.streamLeft === 0) {
      this.streaming = false;
      out.push({ type: "end" });
    }
    return pos + take;
  }
}
