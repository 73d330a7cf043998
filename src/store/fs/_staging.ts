/**
 * Large uploads without holding them in memory: the network thread streams the payload into a staging
 * file under `{root}/.staging/` ({@link createStager}), leaving room at the start for the IPC head; the
 * store worker then turns that file into the object's base file ({@link adoptStagedFile}): it writes the
 * head into the room and the footer after the payload, `syncData`s, and renames the file into place
 * (atomic, like every other write). When the room does not match the head (another stager, or a
 * version whose head is longer), the payload is copied into a new temp file instead.
 *
 * Staging files are not objects: start-up removes whatever is left in `.staging` ({@link removeStaging}).
 *
 * @module
 */
import { crc32 } from "node:zlib";
import { trustStaged } from "./_file_source.ts";
import { opaqueFileParts } from "../../arrow/mod.ts";
import type { StagedPayload, Stager, StagingWriter } from "../types.ts";
import {
  ensureDir,
  ioError,
  isDiskFull,
  readAt,
  removeQuietly,
  syncDir,
  writeAll,
  writeParts,
} from "./_io.ts";
import { type ObjectPaths, randomHex, STAGING_DIR, tempName, TRASH_DIR } from "./_layout.ts";

const ZEROS = new Uint8Array(1 << 20);
/** Bytes gathered before the network thread writes to a staging file. */
const WRITE_BATCH = 4 << 20;
/** Written bytes after which the staging file's writeback is started in the background. */
const EARLY_FLUSH = 16 << 20;
/** Bytes copied per read when the payload has to be moved. */
const COPY_CHUNK = 8 << 20;

/** The parts of an opaque object file around a payload of `length` bytes: head (before) and tail (after). */
export function opaqueFrame(
  version: number,
  length: number,
  crc: number,
): { head: Uint8Array; tail: Uint8Array[] } {
  // Stand-in views mark where the payload goes; nothing is copied.
  const fake: Uint8Array[] = [];
  for (let left = length; left > 0; left -= ZEROS.length) {
    fake.push(ZEROS.subarray(0, Math.min(left, ZEROS.length)));
  }
  const marker = new Set(fake);
  const parts = opaqueFileParts(version, fake, length, crc);
  const first = parts.findIndex((p) => marker.has(p));
  const before = first < 0 ? parts.length - 1 : first;
  let after = before;
  while (after < parts.length && marker.has(parts[after])) after++;
  const headParts = parts.slice(0, before);
  const head = new Uint8Array(headParts.reduce((n, p) => n + p.byteLength, 0));
  let pos = 0;
  for (const p of headParts) {
    head.set(p, pos);
    pos += p.byteLength;
  }
  return { head, tail: parts.slice(after) };
}

/** Room a stager leaves before the payload: the head of an opaque file (the same for versions < 10^7). */
export const STAGING_HEAD_ROOM: number = opaqueFrame(1, 0, 0).head.byteLength;

/**
 * Frees about `bytes` of disk on the staging file system (e.g. a cluster replica's cache of tier blobs);
 * resolves true when it freed anything, so the failed write is worth one more try.
 */
export type MakeRoom = (bytes: number) => Promise<boolean>;

/**
 * A stager for the network thread: each call opens a new staging file in `{root}/.staging/` for the
 * upload of `key` (as the client named it). Writes are asynchronous; the crc32 is computed as the bytes
 * pass. A write that finds the disk full asks `makeRoom` (when given) and tries again. Every I/O
 * failure (opening, writing, flushing) is a CacheError naming `key` (_io.ts `ioError`: a full disk is
 * RESOURCE_EXHAUSTED), and a staging file that fails while being opened is removed.
 */
export function createStager(root: string, makeRoom?: MakeRoom): Stager {
  const dir = `${root}/${STAGING_DIR}`;
  return async (key: string) => {
    const path = `${dir}/${randomHex(16)}.staged`;
    let file: Deno.FsFile | undefined;
    try {
      await Deno.mkdir(dir, { recursive: true });
      file = await Deno.open(path, { write: true, createNew: true });
      await file.seek(STAGING_HEAD_ROOM, Deno.SeekMode.Start);
      return new StagingFile(path, file, key, makeRoom);
    } catch (err) {
      file?.close();
      if (file) await Deno.remove(path).catch(() => {});
      throw stagingError(err, key);
    }
  };
}

/** The client's error for a failed staging write of the upload of `key`. */
function stagingError(err: unknown, key: string) {
  return ioError(err, `could not receive the upload of ${key}`);
}

/** One staging file being written, positioned after the head room. */
class StagingFile implements StagingWriter {
  private length = 0;
  private crc = 0;
  private closed = false;
  // Network pieces are small (HTTP/2 DATA frames): gather them into large
  // writes, so a 1 GiB upload costs hundreds of write calls, not tens of thousands.
  private readonly batch = new Uint8Array(WRITE_BATCH);
  private fill = 0;
  // Start writeback while the upload is still arriving, so the flush that makes the object durable
  // at adoption only has the tail left: durable large PUTs then cost little more than unsynced ones.
  // The flush runs on a second descriptor: Deno runs operations on one file one at a time, so a flush
  // on the writing descriptor stalled the writes behind it for its whole 20 ms.
  private unflushed = 0;
  private syncing: Promise<void> | null = null;
  private flusher: Deno.FsFile | null = null;

  constructor(
    private readonly path: string,
    private readonly file: Deno.FsFile,
    private readonly key: string,
    private readonly makeRoom?: MakeRoom,
  ) {}

  async write(chunk: Uint8Array): Promise<void> {
    try {
      await this.append(chunk);
    } catch (err) {
      throw stagingError(err, this.key);
    }
  }

  private async append(chunk: Uint8Array): Promise<void> {
    this.crc = crc32(chunk, this.crc);
    this.length += chunk.byteLength;
    let pos = 0;
    while (pos < chunk.byteLength) {
      if (this.fill === 0 && chunk.byteLength - pos >= WRITE_BATCH) {
        // Already large: write it as it is.
        await this.writeOut(chunk.subarray(pos));
        this.wrote(chunk.byteLength - pos);
        return;
      }
      const take = Math.min(WRITE_BATCH - this.fill, chunk.byteLength - pos);
      this.batch.set(chunk.subarray(pos, pos + take), this.fill);
      this.fill += take;
      pos += take;
      if (this.fill === WRITE_BATCH) await this.flush();
    }
  }

  async finish(): Promise<StagedPayload> {
    try {
      await this.flush();
      // The payload's CRC32 was taken here as it arrived; the engine adopts this very file (same
      // inode), so its first streamed read need not take it again (_file_source.ts).
      trustStaged((await this.file.stat()).ino, this.crc >>> 0, this.length);
      await this.close();
    } catch (err) {
      throw stagingError(err, this.key);
    }
    return {
      type: "staged",
      path: this.path,
      dataOffset: STAGING_HEAD_ROOM,
      length: this.length,
      crc32: this.crc >>> 0,
    };
  }

  async abort(): Promise<void> {
    try {
      await this.close();
    } finally {
      await Deno.remove(this.path).catch(() => {});
    }
  }

  private async flush(): Promise<void> {
    await this.writeOut(this.batch.subarray(0, this.fill));
    this.wrote(this.fill);
    this.fill = 0;
  }

  /**
   * Write all of `bytes`. On a full disk, ask for room and go on from where the write stopped, as long
   * as room is made (each call frees something, so this ends; a freed file still open elsewhere frees
   * nothing yet, hence not just once).
   */
  private async writeOut(bytes: Uint8Array): Promise<void> {
    let off = 0;
    while (off < bytes.byteLength) {
      try {
        off += await this.file.write(bytes.subarray(off));
      } catch (err) {
        // A failed write(2) wrote nothing and left the position where it was.
        if (!this.makeRoom || !isDiskFull(err) || !await this.makeRoom(bytes.byteLength - off)) throw err;
      }
    }
  }

  /** Count written bytes; every EARLY_FLUSH of them starts a background writeback. */
  private wrote(n: number): void {
    this.unflushed += n;
    if (this.unflushed < EARLY_FLUSH || this.syncing) return;
    this.unflushed = 0;
    this.syncing = (async () => {
      this.flusher ??= await Deno.open(this.path, { read: true });
      await this.flusher.syncData();
    })().catch(() => {}).finally(() => (this.syncing = null));
  }

  private async close(): Promise<void> {
    // Never close the file under a running flush.
    if (this.syncing) await this.syncing;
    if (!this.closed) {
      this.file.close();
      this.flusher?.close();
    }
    this.closed = true;
  }
}

/** Remove unfinished uploads left in the staging folder; returns how many. */
export function removeStaging(root: string): number {
  let n = 0;
  try {
    for (const e of Deno.readDirSync(`${root}/${STAGING_DIR}`)) {
      if (removeQuietly(`${root}/${STAGING_DIR}/${e.name}`, true)) n++;
    }
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  return n;
}

/**
 * Make the staged payload the base file of `paths` at `version`, atomically and durably. Returns the
 * size of the new file. The staging file is consumed (renamed or removed) in every case.
 */
export function adoptStagedFile(
  root: string,
  paths: ObjectPaths,
  version: number,
  staged: StagedPayload,
): number {
  const { head, tail } = opaqueFrame(version, staged.length, staged.crc32);
  const end = staged.dataOffset + staged.length;
  try {
    ensureDir(paths.dir, root);
    if (staged.dataOffset === head.byteLength) {
      const file = Deno.openSync(staged.path, { read: true, write: true });
      let size: number;
      try {
        if (file.statSync().size < end) throw new Error("the staging file is shorter than its payload");
        file.truncateSync(end);
        writeAll(file, head); // at position 0
        file.seekSync(end, Deno.SeekMode.Start);
        size = end + writeParts(file, tail);
        file.syncDataSync();
      } finally {
        file.close();
      }
      replaceBase(root, paths, staged.path);
      return size;
    }
    return copyInto(root, paths, staged, head, tail);
  } finally {
    removeQuietly(staged.path);
  }
}

/** Rename the complete file `from` over the base of `paths` and fsync its folder. */
function replaceBase(root: string, paths: ObjectPaths, from: string): void {
  const release = keepOldBase(root, paths);
  try {
    Deno.renameSync(from, paths.base);
    syncDir(paths.dir);
  } finally {
    release(); // after a failed rename the old base is still in place: its second name goes too
  }
}

/**
 * Replacing a large base by rename frees the old file's blocks inside the rename, and with online
 * discard that took 36-43 ms per 64 MiB here, on the put's critical path (and the worker's). A second
 * name for the old file in `.trash` keeps its blocks alive through the rename; the returned function
 * removes that name in the background, after the put is durable. A crash leaves at most a trash entry,
 * which start-up removes. Returns a no-op when there is no old base.
 */
function keepOldBase(root: string, paths: ObjectPaths): () => void {
  const trash = `${root}/${TRASH_DIR}`;
  const keep = `${trash}/${Date.now()}-${randomHex(12)}`;
  try {
    ensureDir(trash, root);
    Deno.linkSync(paths.base, keep);
  } catch {
    return () => {}; // no old base (or no link support): the rename frees it, as before
  }
  return () => void Deno.remove(keep).catch(() => {});
}

function copyInto(
  root: string,
  paths: ObjectPaths,
  staged: StagedPayload,
  head: Uint8Array,
  tail: Uint8Array[],
): number {
  const tmp = `${paths.dir}/${tempName(paths.baseName)}`;
  const src = Deno.openSync(staged.path, { read: true });
  let size = 0;
  try {
    const out = Deno.openSync(tmp, { write: true, createNew: true });
    try {
      writeAll(out, head);
      const buf = new Uint8Array(Math.min(COPY_CHUNK, Math.max(staged.length, 1)));
      for (let pos = 0; pos < staged.length; pos += buf.byteLength) {
        const n = Math.min(buf.byteLength, staged.length - pos);
        readAt(src, staged.dataOffset + pos, buf.subarray(0, n));
        writeAll(out, buf.subarray(0, n));
      }
      size = head.byteLength + staged.length + writeParts(out, tail);
      out.syncDataSync();
    } finally {
      out.close();
    }
    replaceBase(root, paths, tmp);
  } catch (err) {
    removeQuietly(tmp);
    throw err;
  } finally {
    src.close();
  }
  return size;
}
