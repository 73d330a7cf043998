/**
 * A byte range of a local file as a stream, for uploads to the tier (staged uploads, a node's files
 * during migration). Memory stays at one 8 MiB read buffer.
 *
 * @module
 */
import { crc32 } from "node:zlib";

const CHUNK = 8 << 20;

/**
 * Stream `length` bytes of `path` from `offset`. With `expectedCrc32`, the stream errors at its end when
 * the bytes read do not match it (a damaged file is never uploaded as good).
 */
export async function fileRangeStream(
  path: string,
  offset: number,
  length: number,
  expectedCrc32?: number,
): Promise<ReadableStream<Uint8Array>> {
  const file = await Deno.open(path, { read: true });
  await file.seek(offset, Deno.SeekMode.Start);
  let left = length;
  let crc = 0;
  let closed = false;
  const close = () => {
    if (!closed) file.close();
    closed = true;
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (left === 0) {
        close();
        if (expectedCrc32 !== undefined && (crc >>> 0) !== (expectedCrc32 >>> 0)) {
          controller.error(new Error(`${path} does not match its checksum`));
        } else {
          controller.close();
        }
        return;
      }
      const buf = new Uint8Array(Math.min(left, CHUNK));
      const n = await file.read(buf);
      if (n === null) {
        close();
        controller.error(new Error(`${path} is shorter than expected`));
        return;
      }
      left -= n;
      const piece = buf.subarray(0, n);
      if (expectedCrc32 !== undefined) crc = crc32(piece, crc);
      controller.enqueue(piece);
    },
    cancel: close,
  });
}
