/**
 * Byte helpers shared by every layer (HTTP/2, gRPC, Flight, server, client).
 * Imports nothing, so any module may use it without an upward arrow.
 *
 * @module
 */

/**
 * Concatenate `parts` into one array. A single part is returned as it is (no
 * copy); `total`, when the caller already knows it, saves a pass over the parts;
 * `alloc` makes the result buffer (e.g. {@link allocateShareable}).
 */
export function concat(
  parts: readonly Uint8Array[],
  total?: number,
  alloc: (n: number) => Uint8Array = (n) => new Uint8Array(n),
): Uint8Array {
  if (parts.length === 1) return parts[0];
  let size = total;
  if (size === undefined) {
    size = 0;
    for (const p of parts) size += p.length;
  }
  const out = alloc(size);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/**
 * Buffers of at least this many bytes are allocated on a SharedArrayBuffer, so
 * they can reach the store worker without a copy; smaller ones are not worth
 * the shared allocation.
 */
export const SHARED_BUFFER_MIN = 64 * 1024;

/** A buffer of `n` bytes, on a SharedArrayBuffer from {@link SHARED_BUFFER_MIN} bytes on. */
export function allocateShareable(n: number): Uint8Array {
  return n >= SHARED_BUFFER_MIN ? new Uint8Array(new SharedArrayBuffer(n)) : new Uint8Array(n);
}

/** Slab size of {@link allocateTransient}, and the largest piece it carves (larger ones get their own). */
const SLAB_BYTES = 64 * 1024;
const SLAB_PIECE_MAX = 1024;
let slab = new Uint8Array(SLAB_BYTES);
let slabUsed = 0;

/**
 * A zeroed buffer of `n` bytes for bytes that live about as long as one call (frame headers, message
 * prefixes), carved from a shared 64 KiB slab. In Deno each `new Uint8Array(n)` costs a backing
 * store, a GC-tracked extension and work for V8's ArrayBuffer sweeper on its helper threads: ~1 µs of
 * CPU each here, against ~0.05 µs for a view (bench/README.md). A slab is never written twice, so a
 * view stays valid as long as it is held; but a held view keeps its whole slab alive, so never use it
 * for bytes a store or cache keeps.
 */
export function allocateTransient(n: number): Uint8Array {
  if (n > SLAB_PIECE_MAX) return new Uint8Array(n);
  if (slabUsed + n > SLAB_BYTES) {
    slab = new Uint8Array(SLAB_BYTES);
    slabUsed = 0;
  }
  const out = slab.subarray(slabUsed, slabUsed + n);
  slabUsed += (n + 7) & ~7; // 8-byte aligned, like a fresh buffer
  return out;
}

/** A growable byte buffer, for small prefixes assembled from pieces. */
export class ByteBuffer {
  private buf = new Uint8Array(256);
  private len = 0;

  /** Bytes held. */
  get length(): number {
    return this.len;
  }

  /** Append a copy of `data`. */
  push(data: Uint8Array): void {
    if (this.len + data.length > this.buf.length) {
      let n = this.buf.length * 2;
      while (n < this.len + data.length) n *= 2;
      const next = new Uint8Array(n);
      next.set(this.buf.subarray(0, this.len));
      this.buf = next;
    }
    this.buf.set(data, this.len);
    this.len += data.length;
  }

  /** The bytes held, as a view (valid until the next push). */
  view(): Uint8Array {
    return this.buf.subarray(0, this.len);
  }
}
