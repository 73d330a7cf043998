/**
 * File transfers that never hold a whole object in memory.
 *
 * Upload: read the file in 1 MiB pieces and send each as one opaque row (as
 * flamepy's `upload_object` does), waiting for the transport to drain before
 * reading more. Download: stream the reply into a temporary file next to the
 * target, fsync it, rename it over the target, fsync the directory; on any
 * failure the temporary file is removed and the target left untouched.
 *
 * @module
 */
import { basename, dirname, join } from "node:path";
import type { ClientCall } from "../grpc/mod.ts";
import { CacheClientError, Status } from "./errors.ts";
import { decodePutResult, type FlightDescriptor, type ObjectRef } from "./flight.ts";
import { opaqueRowMessage, opaqueSchemaMessage } from "./upload.ts";
import { type StreamedObject, streamReply } from "./stream_reply.ts";

/** Transfer progress: bytes moved so far and, when known, the total. */
export interface Progress {
  /** Bytes transferred so far. */
  bytes: number;
  /** Total bytes, when known. */
  total?: number;
}

/** Options of uploads and downloads. */
export interface TransferOptions {
  /** Called after each piece (at most every 1 MiB on uploads). */
  onProgress?: (p: Progress) => void;
  /** Abort the transfer (CANCELLED). */
  signal?: AbortSignal;
  /** Deadline for the whole transfer, in ms. */
  timeoutMs?: number;
}

/** Upload row size (flamepy and flame-rs use 1 MiB). */
export const UPLOAD_CHUNK = 1024 * 1024;
/** Row buffers in flight during an upload. */
const RING = 8;

/** Local file errors stay Deno errors (their messages name the path); anything else passes through. */
function fileError(path: string, err: unknown): unknown {
  if (err instanceof Error && !(err instanceof CacheClientError) && !err.message.includes(path)) {
    err.message = `${path}: ${err.message}`;
  }
  return err;
}

async function readFull(file: Deno.FsFile, buf: Uint8Array): Promise<number> {
  let fill = 0;
  while (fill < buf.length) {
    const n = await file.read(buf.subarray(fill));
    if (n === null) break;
    fill += n;
  }
  return fill;
}

/**
 * Send `path` as an opaque object under `descriptor` through a DoPut started by
 * `open` (after the file is opened), 1 MiB per row. Resolves with the server's
 * ObjectRef.
 */
export async function uploadFileOver(
  open: () => Promise<ClientCall>,
  descriptor: FlightDescriptor,
  path: string,
  options: TransferOptions = {},
): Promise<ObjectRef> {
  let file: Deno.FsFile;
  let total: number;
  try {
    file = await Deno.open(path, { read: true });
    const info = await file.stat();
    if (!info.isFile) {
      file.close();
      throw new Error(`${path} is not a regular file`);
    }
    total = info.size;
  } catch (err) {
    throw fileError(path, err);
  }
  let sent = 0;
  let call: ClientCall | undefined;
  try {
    call = await open();
    await call.write(opaqueSchemaMessage(descriptor));
    // A small ring of row buffers, each reused once the transport is done with it:
    // fresh buffers per row would leave the whole file as garbage until the next GC.
    const ring = Array.from({ length: RING }, () => ({
      buf: new Uint8Array(UPLOAD_CHUNK),
      flushed: Promise.resolve(),
    }));
    for (let rows = 0;; rows++) {
      const slot = ring[rows % RING];
      await slot.flushed;
      let n: number;
      try {
        n = await readFull(file, slot.buf);
      } catch (err) {
        throw fileError(path, err);
      }
      if (n === 0 && rows > 0) break;
      let flushed!: () => void;
      slot.flushed = new Promise((r) => (flushed = r));
      await call.write(opaqueRowMessage(slot.buf.subarray(0, n)), flushed);
      sent += n;
      options.onProgress?.({ bytes: sent, total });
      if (n < UPLOAD_CHUNK) break;
    }
    call.end();
    let ref: ObjectRef | undefined;
    for await (const m of call.messages()) ref ??= decodePutResult(m);
    if (!ref) throw new CacheClientError(Status.INTERNAL, "the server sent no PutResult");
    return ref;
  } catch (err) {
    call?.cancel();
    throw err;
  } finally {
    file.close();
  }
}

/** Write all of `data` (Deno's write may be partial). */
async function writeAll(file: Deno.FsFile, data: Uint8Array): Promise<void> {
  let off = 0;
  while (off < data.length) off += await file.write(data.subarray(off));
}

/** Size of the download write buffer: replies arrive in ~16 KiB pieces, disks like big writes. */
const WRITE_BUFFER = 1024 * 1024;

/** Coalesces small writes into {@link WRITE_BUFFER}-sized ones (one copy, reused buffer). */
class BufferedWriter {
  private readonly buf = new Uint8Array(WRITE_BUFFER);
  private fill = 0;

  constructor(private readonly file: Deno.FsFile) {}

  async write(data: Uint8Array): Promise<void> {
    if (data.length >= WRITE_BUFFER) {
      await this.flush();
      await writeAll(this.file, data);
      return;
    }
    if (this.fill + data.length > WRITE_BUFFER) await this.flush();
    this.buf.set(data, this.fill);
    this.fill += data.length;
  }

  async flush(): Promise<void> {
    if (this.fill === 0) return;
    await writeAll(this.file, this.buf.subarray(0, this.fill));
    this.fill = 0;
  }
}

/** What a download wrote. */
export interface DownloadResult extends StreamedObject {
  /** The file written. */
  path: string;
}

/**
 * Stream the reply of a DoGet started by `open` (ticket `<key>:0`, with
 * `streamAbove: STREAM_ABOVE` in its call options) to `path`
 * atomically: temp file, fsync, rename, fsync of the directory.
 */
export async function downloadFileOver(
  open: () => Promise<ClientCall>,
  path: string,
  options: TransferOptions = {},
): Promise<DownloadResult> {
  const dir = dirname(path);
  const suffix = crypto.getRandomValues(new Uint32Array(1))[0].toString(16);
  const tmp = join(dir, `.${basename(path)}.${suffix}.part`);
  let file: Deno.FsFile | undefined;
  try {
    file = await Deno.open(tmp, { write: true, createNew: true, mode: 0o644 });
  } catch (err) {
    throw fileError(tmp, err);
  }
  const writer = new BufferedWriter(file);
  let ok = false;
  let call: ClientCall | undefined;
  try {
    call = await open();
    const result = await streamReply(call.events(), {
      write: async (data) => {
        try {
          await writer.write(data);
        } catch (err) {
          throw fileError(tmp, err);
        }
      },
    }, {
      onProgress: (bytes, total) => options.onProgress?.({ bytes, total }),
    });
    try {
      await writer.flush();
      await file.syncData();
      file.close();
      file = undefined;
      await Deno.rename(tmp, path);
    } catch (err) {
      throw fileError(path, err);
    }
    try {
      const d = await Deno.open(dir, { read: true });
      try {
        await d.sync();
      } finally {
        d.close();
      }
    } catch { /* some filesystems cannot fsync a directory */ }
    ok = true;
    return { ...result, path };
  } catch (err) {
    call?.cancel();
    throw err;
  } finally {
    file?.close();
    if (!ok) await Deno.remove(tmp).catch(() => {});
  }
}
