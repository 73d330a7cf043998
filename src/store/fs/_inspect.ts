/**
 * Index metadata of one object or patch file read from its footer and record batch headers only, for a
 * fast start-up: payloads are never read.
 *
 * Per file: open, fstat, one positioned read of the last {@link TAIL_BYTES} bytes (the footer; a small file
 * is thereby read whole), `readFooter` (retried once with the size it asks for). The version comes from
 * the `flame.cache.version` schema metadata. The payload size of an opaque file needs its record batch
 * header, which sits just after the schema at the start of the file: for a file larger than the tail that
 * costs one more small read (the head). Files without version metadata (written by Flame or pyarrow) also
 * need the first bytes of the batch body, where the version column lives; ZSTD-compressed ones have that
 * buffer decompressed (a few bytes).
 *
 * @module
 */
import {
  type BatchInfo,
  type FileBlock,
  type FooterInfo,
  IpcError,
  isNativeSchema,
  isOpaqueSchema,
  NATIVE_VERSION_KEY,
  opaqueVersions,
  parseMessage,
  readFooter,
  TailTooShort,
} from "../../arrow/mod.ts";
import { parseVersionText } from "./_codec.ts";
import { CHECKSUM_KEY, TypeId } from "../../arrow/mod.ts";
import { readAt } from "./_io.ts";

/** Bytes read from the end of each file at start-up. */
export const TAIL_BYTES = 4096;
/** Body bytes read with the head of a file without version metadata. */
const BODY_PEEK = 512;
/** Largest head (magic, schema, batch header) read in one go. */
const HEAD_READ = 64 * 1024;
/** Sanity limit for a record batch header or version column read at start-up. */
const MAX_HEADER = 16 * 1024 * 1024;
const MAGIC = [0x41, 0x52, 0x52, 0x4f, 0x57, 0x31]; // "ARROW1"

/** Reads `len` bytes of the file at `pos`. */
type ReadRange = (pos: number, len: number) => Uint8Array;

/** What start-up knows about one file. */
export interface FileInfo {
  kind: "opaque" | "native";
  /** `flame.cache.version`, else the opaque version column (first row), else 0. */
  version: number;
  /** Payload bytes: the opaque data values, or the native message bodies as stored. */
  size: number;
  /** 1 for opaque files, the record batch rows for native ones. */
  rows: number;
  /** Size of the file on disk. */
  fileBytes: number;
  /** Last modification, ms since epoch. */
  mtime: number;
  /**
   * Where the payload lies in the file, for uncompressed single-batch opaque
   * files without nulls (what flame-cache writes); set only by {@link Inspector.locate}.
   */
  region?: { offset: number; length: number; crc32?: number; ino: number | null };
}

/** A bare message header out of a framed message (with or without the continuation marker). */
function unframe(framed: Uint8Array): Uint8Array {
  if (framed.byteLength < 8) throw new IpcError("A message in the file is shorter than its framing.");
  const dv = new DataView(framed.buffer, framed.byteOffset, framed.byteLength);
  const start = dv.getUint32(0, true) === 0xffffffff ? 8 : 4;
  const len = dv.getInt32(start - 4, true);
  if (len <= 0 || len > framed.byteLength - start) {
    throw new IpcError("A message in the file is longer than its block.");
  }
  return framed.subarray(start, start + len);
}

function checkMagic(head: Uint8Array): void {
  for (let k = 0; k < MAGIC.length; k++) {
    if (head[k] !== MAGIC[k]) throw new IpcError("The file does not start with ARROW1.");
  }
}

function batchAt(framed: Uint8Array, block: FileBlock): BatchInfo {
  const msg = parseMessage(unframe(framed));
  if (msg.kind === "schema") throw new IpcError("A file block points at a schema message.");
  for (const b of msg.batch.buffers) {
    if (b.offset + b.length > block.bodyLength) throw new IpcError("A buffer lies outside its message body.");
  }
  return msg.batch;
}

/** Reads file metadata; keeps one tail buffer for all files (the engine is single-threaded). */
export class Inspector {
  private readonly scratch = new Uint8Array(TAIL_BYTES);

  /**
   * Inspect the file at `path`. Throws Deno.errors.NotFound when it does not exist, {@link IpcError}
   * (or another Error) when it is not a readable object file.
   */
  inspect(path: string): FileInfo {
    const file = Deno.openSync(path, { read: true });
    try {
      const st = file.statSync();
      if (!st.isFile) throw new IpcError("The path is not a regular file.");
      return this.inspectOpen(file, st.size, st.mtime?.getTime() ?? 0);
    } finally {
      file.close();
    }
  }

  /**
   * Like {@link inspect}, plus the payload's byte range when the file can be
   * served by streaming it from disk (see {@link FileInfo.region}).
   */
  locate(path: string): FileInfo {
    const file = Deno.openSync(path, { read: true });
    try {
      const st = file.statSync();
      if (!st.isFile) throw new IpcError("The path is not a regular file.");
      return this.inspectOpen(file, st.size, st.mtime?.getTime() ?? 0, st.ino);
    } finally {
      file.close();
    }
  }

  private inspectOpen(file: Deno.FsFile, size: number, mtime: number, locateIno?: number | null): FileInfo {
    if (size < 18) throw new IpcError(`The file is too short (${size} bytes) to be an Arrow IPC file.`);
    const { footer, at } = this.readTail(file, size);
    const schema = footer.schema;
    const metaVersion = parseVersionText(schema.metadata.get(NATIVE_VERSION_KEY));
    if (isNativeSchema(schema)) {
      let rows = 0;
      let bytes = 0;
      for (const b of footer.dictionaries) bytes += b.bodyLength;
      for (const b of footer.recordBatches) {
        if (b.metaDataLength > MAX_HEADER) throw new IpcError("A record batch header is implausibly large.");
        rows += batchAt(at(b.offset, b.metaDataLength), b).length;
        bytes += b.bodyLength;
      }
      return { kind: "native", version: metaVersion ?? 0, size: bytes, rows, fileBytes: size, mtime };
    }
    if (!isOpaqueSchema(schema)) {
      throw new IpcError("The file holds neither an opaque object nor a native table (flame.cache.format).");
    }
    return this.inspectOpaque(footer, at, metaVersion, locateIno, { fileBytes: size, mtime });
  }

  /**
   * Read the footer from the end of the file (one read in the usual case). The returned `at` reads any
   * range of the file, from the tail already read when it lies there.
   */
  private readTail(file: Deno.FsFile, size: number): { footer: FooterInfo; at: ReadRange } {
    let n = Math.min(size, TAIL_BYTES);
    let tail = this.scratch.subarray(0, n);
    readAt(file, size - n, tail);
    let footer: FooterInfo;
    try {
      footer = readFooter(tail, size);
    } catch (err) {
      if (!(err instanceof TailTooShort) || err.required > size) throw err;
      n = err.required;
      tail = new Uint8Array(n);
      readAt(file, size - n, tail);
      footer = readFooter(tail, size);
    }
    const tailStart = size - n;
    const at = (pos: number, len: number): Uint8Array => {
      if (pos >= tailStart && pos + len <= size) return tail.subarray(pos - tailStart, pos - tailStart + len);
      const out = new Uint8Array(len);
      readAt(file, pos, out);
      return out;
    };
    return { footer, at };
  }

  /** Size, version and (when locating) the payload region of an opaque object file. */
  private inspectOpaque(
    footer: FooterInfo,
    at: ReadRange,
    metaVersion: number | undefined,
    locateIno: number | null | undefined,
    file: { fileBytes: number; mtime: number },
  ): FileInfo {
    const schema = footer.schema;
    const blocks = footer.recordBatches;
    if (blocks.length === 0) throw new IpcError("The opaque object file has no record batch.");
    let version = metaVersion;
    let payload = 0;
    let rows = 0;
    let region: FileInfo["region"];
    blocks.forEach((block, i) => {
      if (block.metaDataLength > MAX_HEADER) {
        throw new IpcError("A record batch header is implausibly large.");
      }
      const bodyStart = block.offset + block.metaDataLength;
      const peek = i === 0 && version === undefined ? Math.min(block.bodyLength, BODY_PEEK) : 0;
      let framed: Uint8Array;
      let body: Uint8Array;
      if (i === 0 && bodyStart + peek <= HEAD_READ) {
        // The usual case: magic, schema, batch header (and the start of the body) in one read.
        const region = at(0, bodyStart + peek);
        checkMagic(region);
        framed = region.subarray(block.offset, bodyStart);
        body = region.subarray(bodyStart);
      } else {
        if (i === 0) checkMagic(at(0, MAGIC.length));
        const region = at(block.offset, block.metaDataLength + peek);
        framed = region.subarray(0, block.metaDataLength);
        body = region.subarray(block.metaDataLength);
      }
      const batch = batchAt(framed, block);
      if (batch.buffers.length < 5) throw new IpcError("The opaque record batch has too few buffers.");
      rows += batch.length;
      payload += this.valuesSize(batch, bodyStart, at);
      if (locateIno !== undefined && blocks.length === 1 && schema.fields[1].typeId === TypeId.Binary) {
        region = this.regionOf(batch, bodyStart, at, locateIno);
      }
      if (version === undefined && batch.length > 0) {
        const need = Math.max(
          batch.buffers[0].offset + batch.buffers[0].length,
          batch.buffers[1].offset + batch.buffers[1].length,
        );
        if (need > MAX_HEADER) throw new IpcError("The version column is implausibly large.");
        if (need > body.byteLength) body = at(bodyStart, need);
        const v = opaqueVersions(schema, batch, body)[0];
        version = v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : 0;
      }
    });
    if (rows === 0) throw new IpcError("The opaque object file has no rows.");
    if (region) {
      const crc = schema.metadata.get(CHECKSUM_KEY);
      if (crc !== undefined && /^[0-9a-f]{8}$/.test(crc)) region.crc32 = parseInt(crc, 16);
    }
    return { kind: "opaque", version: version ?? 0, size: payload, rows: 1, ...file, region };
  }

  /** The payload range of an uncompressed opaque batch with no null rows, or undefined. */
  private regionOf(
    batch: BatchInfo,
    bodyStart: number,
    at: ReadRange,
    ino: number | null,
  ): FileInfo["region"] {
    if (batch.compression !== "none" || batch.nodes.length < 2 || batch.nodes[1].nullCount !== 0) {
      return undefined;
    }
    const offsets = batch.buffers[3];
    const values = batch.buffers[4];
    const n = batch.nodes[1].length;
    if (n < 1 || offsets.length < (n + 1) * 4 || offsets.length > MAX_HEADER) return undefined;
    const raw = at(bodyStart + offsets.offset, (n + 1) * 4);
    const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const first = dv.getInt32(0, true);
    const last = dv.getInt32(4 * n, true);
    if (first < 0 || last < first || last > values.length) {
      throw new IpcError("The data offsets are out of range.");
    }
    return { offset: bodyStart + values.offset + first, length: last - first, ino };
  }

  /** Uncompressed length of the data values buffer (buffer 4) of an opaque batch. */
  private valuesSize(
    batch: BatchInfo,
    bodyStart: number,
    at: ReadRange,
  ): number {
    const b = batch.buffers[4];
    if (batch.compression === "none" || b.length === 0) return b.length;
    if (b.length < 8) throw new IpcError("A compressed buffer is shorter than its length prefix.");
    const prefix = at(bodyStart + b.offset, 8);
    const n = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigInt64(0, true);
    if (n === -1n) return b.length - 8;
    if (n < 0n || n > 2n ** 31n) throw new IpcError("A compressed buffer declares an invalid length.");
    return Number(n);
  }
}
