/**
 * The fs engine's write-ahead log: small writes are acknowledged once their records are in the log and
 * the log is flushed (one `fdatasync` for a whole group of puts), and the Flame-layout files are written
 * behind it and flushed later, many at once, by a checkpoint (see _engine.ts).
 *
 * The log is a sequence of segment files `{root}/.wal/{seq}.log` (decimal, increasing, never reused). A
 * checkpoint seals the current segment and starts the next; a sealed segment is removed once every file
 * its records produced is flushed. A clean close removes the whole folder, so a stopped server leaves
 * pure Flame layout.
 *
 * ## Record
 * ```
 * magic u32 "FLW1" | body length u32 | crc32 of the body u32 |
 * body: kind u8 (1 base, 2 patch, 3 delete) | number u32 (patch number; delete: 1 = exact key) |
 *       key length u16 | key (UTF-8) | file bytes (base and patch: the whole Arrow IPC file)
 * ```
 * All integers little-endian. Replay stops a segment at the first record whose magic, length or checksum
 * is wrong: that is the torn tail of a write that was never acknowledged, and it is ignored, never applied.
 *
 * @module
 */
import { crc32 } from "node:zlib";
import { ensureDir, readWhole, removeQuietly, syncDir, writeAll, writeParts } from "./_io.ts";
import { WAL_DIR } from "./_layout.ts";

const MAGIC = 0x31574c46; // "FLW1" little-endian
/** Appends up to this size are copied into one buffer and written with one call. */
const STAGE_MAX = 4 * 1024 * 1024;
const HEADER = 12;
const BODY_FIXED = 7;

/** What one record does on replay. */
export type WalRecord =
  | { kind: "base"; key: string; file: Uint8Array }
  | { kind: "patch"; key: string; n: number; file: Uint8Array }
  | { kind: "delete"; exact: boolean; value: string };

const KIND = { base: 1, patch: 2, delete: 3 } as const;
const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/**
 * Encode one record as parts (the file's own parts are not copied). `file` is the Arrow IPC file as
 * the encoder produced it.
 */
export function encodeRecord(
  kind: WalRecord["kind"],
  key: string,
  n: number,
  file: Uint8Array[],
): { parts: Uint8Array[]; bytes: number } {
  const keyBytes = encoder.encode(key);
  const fixed = new Uint8Array(HEADER + BODY_FIXED + keyBytes.byteLength);
  const view = new DataView(fixed.buffer);
  let fileBytes = 0;
  for (const p of file) fileBytes += p.byteLength;
  const bodyLen = BODY_FIXED + keyBytes.byteLength + fileBytes;
  view.setUint32(0, MAGIC, true);
  view.setUint32(4, bodyLen, true);
  view.setUint8(HEADER, KIND[kind]);
  view.setUint32(HEADER + 1, n, true);
  view.setUint16(HEADER + 5, keyBytes.byteLength, true);
  fixed.set(keyBytes, HEADER + BODY_FIXED);
  let crc = crc32(fixed.subarray(HEADER));
  for (const p of file) crc = crc32(p, crc);
  view.setUint32(8, crc >>> 0, true);
  return { parts: [fixed, ...file], bytes: HEADER + bodyLen };
}

/** Decode the valid records of one segment; stops at the first damaged or incomplete one. */
export function decodeSegment(bytes: Uint8Array): { records: WalRecord[]; torn: boolean } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const records: WalRecord[] = [];
  let pos = 0;
  while (pos < bytes.byteLength) {
    if (bytes.byteLength - pos < HEADER) return { records, torn: true };
    const len = view.getUint32(pos + 4, true);
    if (view.getUint32(pos, true) !== MAGIC || len < BODY_FIXED || pos + HEADER + len > bytes.byteLength) {
      return { records, torn: true };
    }
    const body = bytes.subarray(pos + HEADER, pos + HEADER + len);
    if ((crc32(body) >>> 0) !== view.getUint32(pos + 8, true)) return { records, torn: true };
    const kind = body[0];
    const n = view.getUint32(pos + HEADER + 1, true);
    const keyLen = view.getUint16(pos + HEADER + 5, true);
    if (BODY_FIXED + keyLen > len) return { records, torn: true };
    let key: string;
    try {
      key = decoder.decode(body.subarray(BODY_FIXED, BODY_FIXED + keyLen));
    } catch {
      return { records, torn: true };
    }
    const file = body.subarray(BODY_FIXED + keyLen);
    if (kind === KIND.base) records.push({ kind: "base", key, file });
    else if (kind === KIND.patch) records.push({ kind: "patch", key, n, file });
    else if (kind === KIND.delete) records.push({ kind: "delete", exact: n === 1, value: key });
    else return { records, torn: true };
    pos += HEADER + len;
  }
  return { records, torn: false };
}

/** The log's segments on disk and the one being appended to. */
export class WriteAheadLog {
  readonly dir: string;
  private file?: Deno.FsFile;
  private seq = 0;
  /** Bytes in the current segment. */
  bytes = 0;

  constructor(private readonly root: string) {
    this.dir = `${root}/${WAL_DIR}`;
  }

  /** Sequence numbers of the segments on disk, oldest first. */
  segments(): number[] {
    const out: number[] = [];
    try {
      for (const e of Deno.readDirSync(this.dir)) {
        const m = /^(\d+)\.log$/.exec(e.name);
        if (e.isFile && m) out.push(Number(m[1]));
      }
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
    return out.sort((a, b) => a - b);
  }

  /** Read every segment on disk, oldest first (for replay at start-up). */
  readAll(): { seq: number; records: WalRecord[]; torn: boolean }[] {
    return this.segments().map((seq) => ({ seq, ...decodeSegment(readWhole(this.path(seq)).bytes) }));
  }

  /**
   * Seal the current segment (if any) and start a new one after every segment on disk; returns the
   * sequence number of the segment sealed (undefined when none was open). The new segment's name is
   * made durable before anything is acknowledged from it.
   */
  rotate(): number | undefined {
    const sealed = this.file ? this.seq : undefined;
    this.file?.close();
    this.file = undefined;
    const existing = this.segments();
    this.seq = Math.max(this.seq, existing.length ? existing[existing.length - 1] : 0) + 1;
    ensureDir(this.dir, this.root);
    this.file = Deno.openSync(this.path(this.seq), { write: true, createNew: true });
    syncDir(this.dir);
    this.bytes = 0;
    return sealed;
  }

  /** The segment appended to now. */
  get current(): number {
    return this.seq;
  }

  /**
   * Append records; with `flush`, `fdatasync` the segment before returning (that is the acknowledgement).
   * A failed append leaves the segment with a possibly torn tail, so the log moves on to a new segment:
   * later records must never follow garbage.
   */
  append(parts: Uint8Array[], bytes: number, flush: boolean): void {
    if (!this.file) this.rotate();
    try {
      // One write of exactly the records (writeParts would zero a 64 KiB staging buffer per append).
      if (bytes <= STAGE_MAX) {
        const all = new Uint8Array(bytes);
        let off = 0;
        for (const p of parts) {
          all.set(p, off);
          off += p.byteLength;
        }
        writeAll(this.file!, all);
      } else {
        writeParts(this.file!, parts);
      }
      if (flush) this.file!.syncDataSync();
      this.bytes += bytes;
    } catch (err) {
      try {
        this.rotate();
      } catch { /* the next append tries again */ }
      throw err;
    }
  }

  /** Remove sealed segments up to and including `seq` (their files are all flushed). */
  drop(upTo: number): void {
    for (const s of this.segments()) if (s <= upTo && s !== this.seq) removeQuietly(this.path(s));
  }

  /** Close the open segment and remove the whole log folder (everything in it is checkpointed). */
  remove(): void {
    this.file?.close();
    this.file = undefined;
    if (removeQuietly(this.dir, true)) syncDir(this.root);
  }

  /** Close the open segment, leaving the log as it is. */
  close(): void {
    this.file?.close();
    this.file = undefined;
  }

  private path(seq: number): string {
    return `${this.dir}/${seq}.log`;
  }
}
