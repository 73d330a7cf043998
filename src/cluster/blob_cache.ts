/**
 * A replica's local copies of tier blobs. Blobs are immutable and every write names a fresh one, so a
 * copy is valid exactly as long as the current version record names its blob: no invalidation
 * protocol is needed, only a lookup of the record (see tier_store.ts for that rule).
 *
 * Small blobs are kept in memory (LRU within a byte budget); large ones, when the replica has a local
 * folder, as files under `{root}/.tier-cache/` (LRU within a disk budget) so a get streams them from
 * disk like any other large object. The folder is emptied at start-up: it is a cache, the tier is the
 * truth, and an empty local disk is a normal state for a replica.
 *
 * A full local disk (ENOSPC/EDQUOT): the cache's files are the first thing to go, as the tier holds
 * every blob. Keeping a local copy after a put is best-effort ({@link BlobCache.keepFile}: the put never
 * fails for it). A large upload's staging write that finds the disk full asks {@link BlobCache.makeRoom}
 * (least recently used files first) and tries again while files can be dropped; so does a get that must
 * copy a large blob to disk. If the disk is still full, the get fails RESOURCE_EXHAUSTED (the caller names the key). It does
 * not fall back to memory (a blob can be 2 GiB), and the store hands the reader a file, not a tier
 * stream, so a large get cannot bypass the disk; small blobs (memory) are not affected.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { crc32 } from "node:zlib";
import { dataLoss, resourceExhausted } from "../errors.ts";
import { isDiskFull, Lru } from "../store/mod.ts";

/** Folder under the storage root that holds cached blob files. */
export const TIER_CACHE_DIR = ".tier-cache";

/** A blob held as a local file. */
export interface CachedFile {
  path: string;
  ino: number | null;
  /** Where the blob starts in the file (a staged upload keeps room for a head before it). */
  offset: number;
  length: number;
  crc32: number;
}

/** Limits of a {@link BlobCache}. */
export interface BlobCacheOptions {
  /** Local folder for large blobs; memory only when absent. */
  dir?: string;
  /** Bytes of blobs kept in memory. */
  memoryBytes: number;
  /** Bytes of blob files kept on disk. */
  diskBytes: number;
  /** Blobs at least this large go to disk (when there is a folder). */
  fileThreshold: number;
}

/** Where a fetched blob comes from: its size, expected crc32 and a byte stream. */
export interface BlobFetch {
  size: number;
  crc32: number;
  open(): Promise<ReadableStream<Uint8Array>>;
}

/** Local memory and disk copies of immutable blobs, keyed by blob name. */
export class BlobCache {
  readonly #memory = new Map<string, Uint8Array>();
  readonly #memoryLru = new Lru();
  readonly #files = new Map<string, CachedFile>();
  readonly #fileLru = new Lru();
  readonly #inflight = new Map<string, Promise<Uint8Array | CachedFile>>();
  /** Counters for metrics. */
  readonly counters = { hits: 0, misses: 0, fetchedBytes: 0 };

  constructor(private readonly options: BlobCacheOptions) {}

  /** Create (and empty) the cache folder. */
  async open(): Promise<void> {
    if (!this.options.dir) return;
    await Deno.remove(this.options.dir, { recursive: true }).catch(() => {});
    await Deno.mkdir(this.options.dir, { recursive: true });
  }

  /** True when a blob of `size` bytes is kept as a file. */
  usesFile(size: number): boolean {
    return this.options.dir !== undefined && size >= this.options.fileThreshold;
  }

  /** The local copy of `blob`, fetching it once (concurrent callers share the fetch). */
  get(blob: string, fetch: BlobFetch): Promise<Uint8Array | CachedFile> {
    const mem = this.#memory.get(blob);
    if (mem) {
      this.counters.hits++;
      this.#memoryLru.touch(blob, mem.byteLength);
      return Promise.resolve(mem);
    }
    const file = this.#files.get(blob);
    if (file) {
      this.counters.hits++;
      this.#fileLru.touch(blob, file.length);
      return Promise.resolve(file);
    }
    let pending = this.#inflight.get(blob);
    if (!pending) {
      this.counters.misses++;
      pending = (this.usesFile(fetch.size) ? this.#fetchFile(blob, fetch) : this.#fetchBytes(blob, fetch))
        .finally(() => this.#inflight.delete(blob));
      this.#inflight.set(blob, pending);
    }
    return pending;
  }

  /** Keep bytes just written to the tier (a put or patch), so the next get needs no fetch. */
  keepBytes(blob: string, data: Uint8Array): void {
    if (data.byteLength > this.options.memoryBytes / 4) return;
    this.#memory.set(blob, data);
    this.#memoryLru.touch(blob, data.byteLength);
    this.#trimMemory();
  }

  /**
   * Adopt a local file holding a blob just written to the tier (a staged upload): it is renamed into
   * the cache folder (the blob is its range from `offset`). Returns false (and leaves the file) when
   * there is no folder.
   */
  async keepFile(blob: string, path: string, offset: number, length: number, crc: number): Promise<boolean> {
    if (!this.options.dir) return false;
    const target = this.#pathOf(blob);
    await Deno.rename(path, target);
    const ino = (await Deno.stat(target)).ino ?? null;
    this.#addFile(blob, { path: target, ino, offset, length, crc32: crc });
    return true;
  }

  /** Forget every blob whose name starts with `prefix` (after a delete); resolves once its files are gone. */
  async forget(prefix: string): Promise<void> {
    for (const blob of [...this.#memory.keys()]) if (blob.startsWith(prefix)) this.#dropMemory(blob);
    const removals = [];
    for (const blob of [...this.#files.keys()]) {
      if (blob.startsWith(prefix)) removals.push(this.#dropFile(blob));
    }
    await Promise.all(removals);
  }

  /** Bytes and entries held. */
  usage(): { memoryBytes: number; memoryBlobs: number; diskBytes: number; diskBlobs: number } {
    return {
      memoryBytes: this.#memoryLru.bytes,
      memoryBlobs: this.#memory.size,
      diskBytes: this.#fileLru.bytes,
      diskBlobs: this.#files.size,
    };
  }

  async #fetchBytes(blob: string, fetch: BlobFetch): Promise<Uint8Array> {
    const out = new Uint8Array(fetch.size);
    let pos = 0;
    let crc = 0;
    for await (const chunk of await fetch.open()) {
      if (pos + chunk.byteLength > out.length) throw dataLoss(`tier blob ${blob} is longer than its record`);
      out.set(chunk, pos);
      pos += chunk.byteLength;
      crc = crc32(chunk, crc);
    }
    checkFetched(blob, fetch, pos, crc);
    this.counters.fetchedBytes += pos;
    this.keepBytes(blob, out);
    return out;
  }

  async #fetchFile(blob: string, fetch: BlobFetch): Promise<CachedFile> {
    for (;;) {
      try {
        return await this.#copyToFile(blob, fetch);
      } catch (err) {
        if (!isDiskFull(err)) throw err;
      }
      // The cache's own files may be what fills the disk: make room, least recently used first, and try
      // again while there is something to drop (a dropped file still open in a reader frees nothing yet).
      if (!await this.makeRoom(fetch.size, blob)) {
        throw resourceExhausted(
          `the local disk is full: could not copy a ${fetch.size}-byte blob from the shared tier to serve it`,
        );
      }
    }
  }

  /** Fetch `blob` into a new cache file (a temp file renamed into place; removed on any failure). */
  async #copyToFile(blob: string, fetch: BlobFetch): Promise<CachedFile> {
    const target = this.#pathOf(blob);
    const temp = `${target}.${crypto.randomUUID()}.part`;
    const file = await Deno.open(temp, { write: true, createNew: true });
    let pos = 0;
    let crc = 0;
    try {
      try {
        for await (const chunk of await fetch.open()) {
          if (pos + chunk.byteLength > fetch.size) {
            throw dataLoss(`tier blob ${blob} is longer than its record`);
          }
          let off = 0;
          while (off < chunk.byteLength) off += await file.write(chunk.subarray(off));
          pos += chunk.byteLength;
          crc = crc32(chunk, crc);
        }
      } finally {
        file.close();
      }
      checkFetched(blob, fetch, pos, crc);
      await Deno.rename(temp, target);
    } catch (err) {
      await Deno.remove(temp).catch(() => {});
      throw err;
    }
    const ino = (await Deno.stat(target)).ino ?? null;
    const entry = { path: target, ino, offset: 0, length: pos, crc32: crc };
    this.counters.fetchedBytes += pos;
    this.#addFile(blob, entry);
    return entry;
  }

  /**
   * Drop cached files (least recently used first, never `keep`) until `bytes` were freed or none is
   * left; true when anything was dropped. Files open in a reader free their space when it closes.
   */
  async makeRoom(bytes: number, keep?: string): Promise<boolean> {
    let freed = 0;
    const removals: Promise<void>[] = [];
    while (freed < bytes) {
      const oldest = this.#fileLru.oldest();
      if (oldest === undefined || oldest === keep) break;
      freed += this.#files.get(oldest)?.length ?? 0;
      removals.push(this.#dropFile(oldest));
    }
    await Promise.all(removals);
    return removals.length > 0;
  }

  #pathOf(blob: string): string {
    return `${this.options.dir}/${createHash("sha256").update(blob).digest("hex")}`;
  }

  #addFile(blob: string, entry: CachedFile): void {
    this.#files.set(blob, entry);
    this.#fileLru.touch(blob, entry.length);
    // A file just handed out stays: its reader opens it after this returns.
    while (this.#fileLru.bytes > this.options.diskBytes && this.#files.size > 1) {
      const oldest = this.#fileLru.oldest();
      if (oldest === undefined || oldest === blob) break;
      this.#dropFile(oldest);
    }
  }

  /** Forget a cached file and remove it (the promise settles once it is removed; it never rejects). */
  #dropFile(blob: string): Promise<void> {
    const entry = this.#files.get(blob);
    if (!entry) return Promise.resolve();
    this.#files.delete(blob);
    this.#fileLru.remove(blob);
    // An open reader keeps the inode; a later open finds nothing and the get fetches again.
    return Deno.remove(entry.path).catch(() => {});
  }

  #trimMemory(): void {
    while (this.#memoryLru.bytes > this.options.memoryBytes) {
      const oldest = this.#memoryLru.oldest();
      if (oldest === undefined) break;
      this.#dropMemory(oldest);
    }
  }

  #dropMemory(blob: string): void {
    const data = this.#memory.get(blob);
    if (!data) return;
    this.#memory.delete(blob);
    this.#memoryLru.remove(blob);
  }
}

function checkFetched(blob: string, fetch: BlobFetch, length: number, crc: number): void {
  if (length !== fetch.size) {
    throw dataLoss(`tier blob ${blob} has ${length} bytes, its record says ${fetch.size}`);
  }
  if ((crc >>> 0) !== (fetch.crc32 >>> 0)) throw dataLoss(`tier blob ${blob} does not match its checksum`);
}
