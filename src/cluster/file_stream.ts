/**
 * A byte range of a local file as a stream, for uploads to the tier (staged uploads, a node's files
 * during migration).
 *
 * @module
 */
import { crc32 } from "node:zlib";

/** Bytes a default (non-BYOB) reader gets per chunk. */
const CHUNK = 1 << 20;

/**
 * Stream `length` bytes of `path` from `offset`, as a byte stream: a BYOB reader (the tier's part reader)
 * has the file read straight into its own buffer, so an upload allocates nothing per chunk; a default
 * reader gets fresh 1 MiB chunks. With `expectedCrc32`, the stream errors at its end when the bytes read do
 * not match it (a damaged file is never uploaded as good).
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
  return new ReadableStream({
    type: "bytes",
    autoAllocateChunkSize: CHUNK,
    async pull(controller) {
      const request = controller.byobRequest!; // always there: autoAllocateChunkSize is set
      if (left === 0) {
        close();
        if (expectedCrc32 !== undefined && (crc >>> 0) !== (expectedCrc32 >>> 0)) {
          controller.error(new Error(`${path} does not match its checksum`));
        } else {
          controller.close();
          request.respond(0);
        }
        return;
      }
      const view = request.view!;
      const target = new Uint8Array(view.buffer, view.byteOffset, Math.min(view.byteLength, left));
      const n = await file.read(target);
      if (n === null) {
        close();
        controller.error(new Error(`${path} is shorter than expected`));
        return;
      }
      left -= n;
      if (expectedCrc32 !== undefined) crc = crc32(target.subarray(0, n), crc);
      request.respond(n);
    },
    cancel: close,
  }) as ReadableStream<Uint8Array>;
}
