/**
 * Streaming a payload range out of a stored file on the network thread, for a
 * DoGet reply of a large object the engine located instead of loading (a
 * `FileBody`). The file's inode is checked at open and its CRC32 as the bytes
 * go: a mismatch (or a file that changed under us) ends the call with
 * DATA_LOSS instead of completing it with wrong bytes. Memory stays at a few
 * read chunks whatever the object size.
 *
 * A file whose whole range passed its checksum is remembered (inode, size,
 * modification time): later replies of the same unchanged file skip the CRC32
 * (in-process, a 64 MiB file streamed at 0.20-0.25 ms of CPU per MiB with it
 * and 0.13-0.17 without; the rest of a durable GET's extra CPU over `--storage
 * none` is elsewhere, see bench/README.md). The engine never changes a file in
 * place (a new version is a new inode), and a writer that does changes its
 * modification time; what is given up is catching bit rot on a file already
 * verified in this process's lifetime. A file adopted from an upload staged on
 * this thread counts as verified from the start: its CRC32 was taken as the
 * bytes arrived (_staging.ts), and the engine renamed that very inode into place.
 *
 * @module
 */
import { crc32 } from "node:zlib";
import { dataLoss, notFound } from "../../errors.ts";
import type { FileBody, PayloadChunks } from "../types.ts";

/** Bytes read per chunk. */
const CHUNK = 4 * 1024 * 1024;

/** Chunk buffers kept for reuse per reply: enough for the transport's queue and a read ahead. */
const POOL = 4;

/** Files verified whole, by path: the identity they had then. Bounded, oldest dropped first. */
const verified = new Map<string, string>();
const VERIFIED_MAX = 4096;

/** Staged uploads whose CRC32 was taken as they arrived, by inode: `{crc32}:{length}`. */
const staged = new Map<number, string>();

/**
 * An upload staged on this thread (inode `ino`) whose payload had `crc` over `length` bytes as it
 * arrived: when the engine adopts that file (same inode) its first streamed read skips the CRC32.
 */
export function trustStaged(ino: number | null, crc: number, length: number): void {
  if (ino === null) return;
  staged.set(ino, `${crc}:${length}`);
  if (staged.size > VERIFIED_MAX) staged.delete(staged.keys().next().value!);
}

function identity(body: FileBody, st: Deno.FileInfo): string {
  return `${st.ino}:${st.size}:${st.mtime?.getTime()}:${body.offset}:${body.length}:${body.crc32}`;
}

/** The chunks of `body`'s range of its file (handed to the transport as a byte source). */
export function fileSource(body: FileBody, key: string): PayloadChunks {
  // Buffers come back once the transport has written them: a reply recycles a few instead of
  // allocating (and page-faulting, zeroing, collecting) a new 4 MiB buffer per chunk.
  const free: ArrayBuffer[] = [];
  const take = (n: number) =>
    new Uint8Array(free.pop() ?? new ArrayBuffer(Math.min(CHUNK, body.length)), 0, n);
  return {
    length: body.length,
    release(chunk: Uint8Array) {
      if (free.length < POOL && chunk.buffer.byteLength === Math.min(CHUNK, body.length)) {
        free.push(chunk.buffer as ArrayBuffer);
      }
    },
    async *chunks() {
      let file: Deno.FsFile;
      try {
        file = await Deno.open(body.path, { read: true });
      } catch {
        throw notFound(`object ${key} not found`);
      }
      try {
        // A rename-replaced or deleted file keeps its inode; a different one means
        // the object changed between the lookup and the open.
        const st = await file.stat();
        if (body.ino !== null && st.ino !== null && st.ino !== body.ino) {
          throw dataLoss(`object ${key} changed while it was being read; retry`);
        }
        await file.seek(body.offset, Deno.SeekMode.Start);
        const id = identity(body, st);
        if (st.ino !== null && staged.get(st.ino) === `${body.crc32}:${body.length}`) {
          staged.delete(st.ino);
          verified.set(body.path, id); // this thread took its CRC32 as the upload arrived
        }
        const check = body.crc32 !== undefined && verified.get(body.path) !== id;
        let left = body.length;
        let crc = 0;
        while (left > 0) {
          const buf = take(Math.min(CHUNK, left));
          let fill = 0;
          while (fill < buf.length) {
            const n = await file.read(buf.subarray(fill));
            if (n === null) throw dataLoss(`object ${key} is shorter on disk than its index says`);
            fill += n;
          }
          if (check) crc = crc32(buf, crc);
          left -= buf.length;
          yield buf;
        }
        if (check) {
          if ((crc >>> 0) !== body.crc32) {
            verified.delete(body.path);
            throw dataLoss(`object ${key} failed its checksum on disk`);
          }
          verified.delete(body.path);
          verified.set(body.path, id);
          if (verified.size > VERIFIED_MAX) verified.delete(verified.keys().next().value!);
        }
      } finally {
        file.close();
      }
    },
  };
}
