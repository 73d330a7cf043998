/**
 * The index snapshot, `{root}/.index`: every object's index metadata, written at clean shutdown so the
 * next start-up does not open a file per object.
 *
 * It is trusted folder by folder, never blindly: an object folder's entries are taken from the snapshot
 * only when the folder's modification time is the one recorded, and older than the snapshot by more
 * than {@link RACY_MS} (a change in the same clock tick as the recording could otherwise go unseen; the
 * idea of git's "racily clean" index entries). Creating, renaming or removing a file in a folder changes
 * its time, and every write of this cache is a rename (a patch renames into the object's `.deltas`
 * folder, whose time is recorded per patched object), so any folder written since, by this process
 * before a crash or by another writer, is scanned from its files again. What it cannot see is a file
 * rewritten in place under the same name by another program while the cache was stopped; a get still
 * reads the file itself and corrects the index.
 *
 * Format (little-endian): `FCIDX001`, a JSON header (u32 length), the object records of each folder, a
 * folder table (name, mtime, offset, count), the table's offset (u64) and a CRC32 of everything before.
 *
 * @module
 */
import { crc32 } from "node:zlib";
import type { ObjectIndex } from "../_index.ts";
import type { ObjectStat } from "../types.ts";
import { readAt, writeFileAtomic } from "./_io.ts";

/** Name of the snapshot file in the storage root (keys cannot start with a dot). */
export const SNAPSHOT_NAME = ".index";
/** Folders changed less than this long before the snapshot was written are scanned again. */
export const RACY_MS = 2000;
const MAGIC = new TextEncoder().encode("FCIDX001");
const FIXED = 8 * 8 + 2 + 1 + 4; // numbers of one object record, after its name

/** One object as the snapshot recorded it. */
export interface SnapshotObject {
  stat: ObjectStat;
  fileBytes: number;
  nextDelta: number;
  /** mtime of its `.deltas` folder (ms), or -1 when it had none. */
  deltasMtime: number;
}

interface FolderEntry {
  mtime: number;
  offset: number;
  /** End of its records (the next folder's offset, or the table's). */
  end: number;
  count: number;
}

/**
 * A snapshot read back: the folder table, and each folder's records read from the file when the walk asks
 * for them (the file stays open until {@link Snapshot.close}), so the whole file is never in memory.
 */
export class Snapshot {
  private constructor(
    private file: Deno.FsFile | null,
    private readonly folders: Map<string, FolderEntry>,
    /** When it was written (ms since epoch). */
    readonly writtenAt: number,
    /** True when file sizes were tracked (disk budget on) when it was written. */
    readonly hasFileBytes: boolean,
    /** Objects it holds. */
    readonly objects: number,
  ) {}

  /** Read `{root}/.index`; null when absent, unreadable or damaged (the caller scans every file). */
  static read(root: string): Snapshot | null {
    let file: Deno.FsFile;
    try {
      file = Deno.openSync(`${root}/${SNAPSHOT_NAME}`, { read: true });
    } catch {
      return null;
    }
    try {
      const size = file.statSync().size;
      if (size < MAGIC.length + 16) throw new Error("short");
      // The checksum over the whole file, a chunk at a time.
      const chunk = new Uint8Array(Math.min(size, 1 << 20));
      const end = size - 4;
      let crc = 0;
      for (let pos = 0; pos < end; pos += chunk.length) {
        const part = chunk.subarray(0, Math.min(chunk.length, end - pos));
        readAt(file, pos, part);
        crc = crc32(part, crc);
      }
      const tail = new Uint8Array(12);
      readAt(file, size - 12, tail);
      const tv = new DataView(tail.buffer);
      if ((crc >>> 0) !== tv.getUint32(8, true)) throw new Error("checksum");
      const head = new Uint8Array(12);
      readAt(file, 0, head);
      if (!MAGIC.every((b, i) => head[i] === b)) throw new Error("magic");
      const headerLen = new DataView(head.buffer).getUint32(8, true);
      const headerBytes = new Uint8Array(headerLen);
      readAt(file, 12, headerBytes);
      const header = JSON.parse(decoder.decode(headerBytes));
      const tableAt = Number(tv.getBigUint64(0, true));
      const table = new Uint8Array(size - 12 - tableAt);
      readAt(file, tableAt, table);
      const dv = new DataView(table.buffer);
      const folders = new Map<string, FolderEntry>();
      const entries: FolderEntry[] = [];
      let p = 0;
      while (p < table.length) {
        const len = dv.getUint32(p, true);
        const name = decoder.decode(table.subarray(p + 4, p + 4 + len));
        p += 4 + len;
        const entry = {
          mtime: dv.getFloat64(p, true),
          offset: Number(dv.getBigUint64(p + 8, true)),
          end: tableAt,
          count: dv.getUint32(p + 16, true),
        };
        folders.set(name, entry);
        entries.push(entry);
        p += 20;
      }
      entries.sort((a, b) => a.offset - b.offset);
      for (let i = 0; i + 1 < entries.length; i++) entries[i].end = entries[i + 1].offset;
      return new Snapshot(file, folders, header.writtenAt, header.fileBytes === true, header.objects);
    } catch {
      file.close();
      return null;
    }
  }

  /** Close the file (the walk is done). */
  close(): void {
    this.file?.close();
    this.file = null;
  }

  /**
   * The recorded objects of the folder `rel` (`app/session`, or `session` for two-part keys) when its
   * current mtime `mtime` shows it unchanged since the snapshot; null when it must be scanned.
   */
  folder(rel: string, mtime: number): SnapshotObject[] | null {
    const f = this.folders.get(rel);
    if (!f || !this.file || f.mtime !== mtime || !this.settled(mtime)) return null;
    const bytes = new Uint8Array(f.end - f.offset);
    readAt(this.file, f.offset, bytes);
    const dv = new DataView(bytes.buffer);
    const out: SnapshotObject[] = new Array(f.count);
    let p = 0;
    for (let i = 0; i < f.count; i++) {
      const len = dv.getUint16(p, true);
      const name = decodeName(bytes, p + 2, p + 2 + len);
      p += 2 + len;
      out[i] = {
        stat: {
          key: `${rel}/${name}`,
          version: dv.getFloat64(p, true),
          baseVersion: dv.getFloat64(p + 8, true),
          size: dv.getFloat64(p + 16, true),
          rows: dv.getFloat64(p + 24, true),
          modified: dv.getFloat64(p + 32, true),
          deltaCount: dv.getUint16(p + 64, true),
          kind: bytes[p + 66] === 1 ? "native" : "opaque",
        },
        fileBytes: dv.getFloat64(p + 40, true),
        deltasMtime: dv.getFloat64(p + 48, true),
        nextDelta: dv.getUint32(p + 67, true),
      };
      // bytes p+56..p+63 are reserved
      p += FIXED;
    }
    return out;
  }

  /** True when a folder (or patch folder) last changed at `mtime` was settled when the snapshot was taken. */
  settled(mtime: number): boolean {
    return mtime < this.writtenAt - RACY_MS;
  }
}

/** What the engine knows per object beyond the index: file bytes, next patch number, folder times. */
export interface SnapshotSource {
  fileBytes(key: string): number;
  nextDelta(key: string): number;
  /** mtime (ms) of a folder, or -1 when it does not exist. */
  mtime(path: string): number;
}

/** A growable little-endian writer. */
class Out {
  buf = new Uint8Array(1 << 20);
  dv = new DataView(this.buf.buffer);
  n = 0;
  ensure(k: number): void {
    if (this.n + k <= this.buf.length) return;
    const b = new Uint8Array(Math.max(this.buf.length * 2, this.n + k));
    b.set(this.buf.subarray(0, this.n));
    this.buf = b;
    this.dv = new DataView(b.buffer);
  }
  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.n);
    this.n += b.length;
  }
  /** Write `s` as UTF-8 after a u16 length (ASCII without a call into the encoder). */
  name(s: string): void {
    this.ensure(2 + s.length * 3);
    const start = this.n + 2;
    let p = start;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) {
        p = start + encoder.encodeInto(s, this.buf.subarray(start)).written;
        break;
      }
      this.buf[p++] = c;
    }
    this.dv.setUint16(this.n, p - start, true);
    this.n = p;
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A UTF-8 name (ASCII without a call into the decoder). */
function decodeName(bytes: Uint8Array, from: number, to: number): string {
  let ascii = to - from <= 64;
  for (let i = from; ascii && i < to; i++) if (bytes[i] >= 0x80) ascii = false;
  if (!ascii) return decoder.decode(bytes.subarray(from, to));
  // One flat string (a loop of += would build a rope that is flattened later).
  return String.fromCharCode.apply(null, bytes.subarray(from, to) as unknown as number[]);
}

/**
 * Write the snapshot of `index` atomically to `{root}/.index`. Returns the objects written. The folder
 * times are read now, after every write of the process has finished.
 */
export function writeSnapshot(
  root: string,
  index: ObjectIndex,
  src: SnapshotSource,
  fileBytes: boolean,
): number {
  const writtenAt = Date.now();
  const out = new Out();
  out.bytes(MAGIC);
  const header = encoder.encode(JSON.stringify({ writtenAt, objects: index.size, fileBytes }));
  out.ensure(4);
  out.dv.setUint32(out.n, header.length, true);
  out.n += 4;
  out.bytes(header);
  const table: { rel: Uint8Array; mtime: number; offset: number; count: number }[] = [];
  let objects = 0;
  const s: ObjectStat = {
    key: "",
    version: 0,
    baseVersion: 0,
    size: 0,
    deltaCount: 0,
    kind: "opaque",
    rows: 0,
    modified: 0,
  };
  for (const [parent, names] of index.groupNames()) {
    const mtime = src.mtime(`${root}/${parent}`);
    if (mtime < 0 || parent === "") continue;
    const offset = out.n;
    for (const name of names) {
      index.read(parent, name, s);
      out.name(name);
      out.ensure(FIXED);
      const dv = out.dv;
      const p = out.n;
      const key = fileBytes || s.deltaCount > 0 ? `${parent}/${name}` : "";
      const next = key ? src.nextDelta(key) : 0;
      dv.setFloat64(p, s.version, true);
      dv.setFloat64(p + 8, s.baseVersion, true);
      dv.setFloat64(p + 16, s.size, true);
      dv.setFloat64(p + 24, s.rows, true);
      dv.setFloat64(p + 32, s.modified, true);
      dv.setFloat64(p + 40, fileBytes ? src.fileBytes(key) : 0, true);
      dv.setFloat64(p + 48, next > 0 ? src.mtime(`${root}/${parent}/${name}.deltas`) : -1, true);
      dv.setFloat64(p + 56, 0, true);
      dv.setUint16(p + 64, s.deltaCount, true);
      out.buf[p + 66] = s.kind === "native" ? 1 : 0;
      dv.setUint32(p + 67, next, true);
      out.n += FIXED;
    }
    table.push({ rel: encoder.encode(parent), mtime, offset, count: names.length });
    objects += names.length;
  }
  const tableAt = out.n;
  for (const t of table) {
    out.ensure(4 + t.rel.length + 20);
    out.dv.setUint32(out.n, t.rel.length, true);
    out.n += 4;
    out.bytes(t.rel);
    out.dv.setFloat64(out.n, t.mtime, true);
    out.dv.setBigUint64(out.n + 8, BigInt(t.offset), true);
    out.dv.setUint32(out.n + 16, t.count, true);
    out.n += 20;
  }
  out.ensure(12);
  out.dv.setBigUint64(out.n, BigInt(tableAt), true);
  out.n += 8;
  out.dv.setUint32(out.n, crc32(out.buf.subarray(0, out.n)) >>> 0, true);
  out.n += 4;
  writeFileAtomic(root, root, SNAPSHOT_NAME, [out.buf.subarray(0, out.n)]);
  return objects;
}
