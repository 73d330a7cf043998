/**
 * Byte helpers shared by every layer (HTTP/2, gRPC, Flight, server, client).
 * Imports nothing, so any module may use it without an upward arrow.
 *
 * @module
 */

/**
 * Concatenate `parts` into one array. A single part is returned as it is (no
 * copy); `total`, when the caller already knows it, saves a pass over the parts.
 */
export function concat(parts: readonly Uint8Array[], total?: number): Uint8Array {
  if (parts.length === 1) return parts[0];
  let size = total;
  if (size === undefined) {
    size = 0;
    for (const p of parts) size += p.length;
  }
  const out = new Uint8Array(size);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
