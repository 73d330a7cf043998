/**
 * The gRPC length prefix (gRPC over HTTP/2, "Length-Prefixed-Message"): 1 byte
 * compressed flag, 4 bytes big-endian length, then the message.
 *
 * @module
 */

import { allocateTransient } from "../bytes.ts";

/** Bytes in a message prefix. */
export const PREFIX_BYTES = 5;
/** The largest length a prefix can carry. */
export const MAX_PREFIXED_LENGTH = 0xffffffff;

/** The prefix of an uncompressed message of `length` bytes; RangeError past 2^32 - 1. */
export function messagePrefix(length: number): Uint8Array {
  if (!Number.isSafeInteger(length) || length < 0 || length > MAX_PREFIXED_LENGTH) {
    throw new RangeError(`gRPC message of ${length} bytes is too large`);
  }
  const p = allocateTransient(PREFIX_BYTES);
  p[0] = 0;
  p[1] = length >>> 24;
  p[2] = (length >>> 16) & 0xff;
  p[3] = (length >>> 8) & 0xff;
  p[4] = length & 0xff;
  return p;
}

/** A parsed prefix. */
export interface Prefix {
  compressed: boolean;
  length: number;
}

/** Collects the 5-byte prefix of the next message from DATA chunks that may split it anywhere. */
export class PrefixReader {
  private readonly bytes = new Uint8Array(PREFIX_BYTES);
  private fill = 0;

  /** Bytes of a prefix collected so far (0 between messages). */
  get pending(): number {
    return this.fill;
  }

  /**
   * Take prefix bytes from `chunk` at `pos`. Returns how many were used and,
   * once all 5 are in, the prefix.
   */
  take(chunk: Uint8Array, pos: number): { used: number; prefix?: Prefix } {
    const used = Math.min(PREFIX_BYTES - this.fill, chunk.length - pos);
    this.bytes.set(chunk.subarray(pos, pos + used), this.fill);
    this.fill += used;
    if (this.fill < PREFIX_BYTES) return { used };
    this.fill = 0;
    const length = new DataView(this.bytes.buffer).getUint32(1);
    return { used, prefix: { compressed: this.bytes[0] !== 0, length } };
  }
}
