/**
 * The store of a cluster replica: the shared tier is the truth, this replica's memory and disk are
 * caches of it.
 *
 * - Writes are write-through: a put, update or patch is acknowledged once its version record is
 *   committed in the tier (the record's conditional write hands out the version, so two replicas never
 *   give out the same one, whatever membership believes).
 * - Reads look up the current record in the tier, then serve its blobs from the local cache when it
 *   holds them. This is the rule that makes a local copy servable: blobs are immutable and every write
 *   names a fresh one, so a local copy of the blob the current record names is exactly the current
 *   bytes. Any replica can therefore answer any get, and a hot object read through N replicas is served
 *   by N replicas (each fetches it from the tier once).
 * - Deletes leave tombstones in the tier (versions never go backwards) and drop local copies.
 *
 * @module
 */
import { CacheError, notFound, Status } from "../errors.ts";
import type { PutHint, Store, StoreUsage } from "../store/store.ts";
import type {
  Delta,
  KeySelector,
  ObjectBody,
  ObjectStat,
  StagedPayload,
  StoredObject,
} from "../store/types.ts";
import type { BlobRef, Tier, VersionRecord } from "../tier/tier.ts";
import { BlobCache, type CachedFile } from "./blob_cache.ts";
import { bodyOfBlob, nativeBlob, statOfRecord } from "./tier_codec.ts";
import { fileRangeStream } from "./file_stream.ts";

/** Limits of a replica's local caches. */
export interface TierStoreOptions {
  /** Local folder for cached blob files (the storage root's `.tier-cache`), or none. */
  cacheDir?: string;
  /** Memory for cached blobs. */
  memoryBytes: number;
  /** Disk for cached blob files. */
  diskBytes: number;
}

/** Blobs at least this large are cached as files (and streamed on get), when there is a folder. */
const FILE_THRESHOLD = 4 * 1024 * 1024;

/** A {@link Store} whose truth is the shared tier. */
export class TierStore implements Store {
  readonly #cache: BlobCache;
  /**
   * Called after every delete, once the tier holds the tombstones: cluster wiring sets it to tell the
   * other replicas to {@link TierStore.forgetCopies} their copies. It must not throw.
   */
  afterDelete?: (sel: KeySelector) => Promise<void>;
  #puts = 0;
  #patches = 0;
  #deletes = 0;
  #gets = 0;

  constructor(
    private readonly tier: Tier,
    private readonly describe: string,
    options: TierStoreOptions,
  ) {
    this.#cache = new BlobCache({
      dir: options.cacheDir,
      memoryBytes: options.memoryBytes,
      diskBytes: options.diskBytes,
      fileThreshold: FILE_THRESHOLD,
    });
  }

  async open(): Promise<string> {
    await this.#cache.open();
    // A read of a key that never exists: proves the bucket answers and the credentials work.
    await this.tier.head("_flame_cache_probe");
    return `shared tier ${this.describe}`;
  }

  async put(
    key: string,
    body: ObjectBody | StagedPayload,
    signal?: AbortSignal,
    hint: PutHint = {},
  ): Promise<ObjectStat> {
    const fresh = hint.fresh;
    let record: VersionRecord;
    if (body.type === "staged") {
      const payload = await fileRangeStream(body.path, body.dataOffset, body.length, body.crc32);
      record = await this.tier.put(key, payload, { kind: "opaque", fresh }, signal);
      // Keeping a local copy is best-effort: the tier has the blob, so a full disk never fails the put.
      const kept = await this.#cache.keepFile(
        record.base!.blob,
        body.path,
        body.dataOffset,
        body.length,
        body.crc32,
      )
        .catch(() => false);
      if (!kept) await Deno.remove(body.path).catch(() => {});
    } else if (body.type === "opaque") {
      record = await this.tier.put(key, body.data, { kind: "opaque", fresh }, signal);
      this.#cache.keepBytes(record.base!.blob, body.data);
    } else {
      const blob = nativeBlob(body);
      record = await this.tier.put(key, blob, { kind: "native", rows: body.rows, fresh }, signal);
      this.#cache.keepBytes(record.base!.blob, blob);
    }
    this.#puts++;
    return statOfRecord(record);
  }

  async patch(key: string, data: Uint8Array, signal?: AbortSignal): Promise<ObjectStat> {
    const record = await this.tier.patch(key, data, signal);
    this.#cache.keepBytes(record.patches[record.patches.length - 1].blob, data);
    this.#patches++;
    return statOfRecord(record);
  }

  async get(key: string): Promise<StoredObject> {
    const record = (await this.tier.head(key))?.record;
    if (!record?.base) throw notFound(`object ${key} not found`);
    this.#gets++;
    const base = record.base;
    const [baseCopy, ...patchCopies] = await Promise.all([
      this.#local(key, base),
      ...record.patches.map((p) => this.#local(key, p)),
    ]);
    const deltas: Delta[] = record.patches.map((p, i) => ({
      version: p.version,
      data: patchCopies[i] as Uint8Array,
    }));
    if (!(baseCopy instanceof Uint8Array)) {
      const f = baseCopy as CachedFile;
      return {
        key,
        baseVersion: base.version,
        body: { type: "file", path: f.path, ino: f.ino, offset: f.offset, length: f.length, crc32: f.crc32 },
        deltas,
      };
    }
    return {
      key,
      baseVersion: base.version,
      body: bodyOfBlob(base.kind, baseCopy, base.version, key),
      deltas,
    };
  }

  async stat(key: string): Promise<ObjectStat | null> {
    const record = (await this.tier.head(key))?.record;
    return record?.base ? statOfRecord(record) : null;
  }

  async list(sel: KeySelector): Promise<ObjectStat[]> {
    const out: ObjectStat[] = [];
    // A prefix also selects the key equal to it (a legacy two-part `session/object` key), as on one node.
    if (sel.exact || sel.value.includes("/")) {
      const stat = await this.stat(sel.value);
      if (stat) out.push(stat);
      if (sel.exact) return out;
    }
    for await (const record of this.tier.list(sel.value)) if (record.base) out.push(statOfRecord(record));
    return out;
  }

  async delete(sel: KeySelector): Promise<number> {
    let n = 0;
    // A prefix also selects the key equal to it (a legacy two-part `session/object` key), as on one node.
    if (sel.exact || sel.value.includes("/")) n += Number(await this.tier.delete(sel.value));
    if (!sel.exact) n += await this.tier.deletePrefix(sel.value);
    await this.forgetCopies(sel);
    this.#deletes++;
    // The other replicas may hold copies too: they are told, best effort (their copies are unreachable
    // anyway once the records are tombstones; this frees their memory and disk now).
    await this.afterDelete?.(sel);
    return n;
  }

  /** Drop the local copies of the blobs of what `sel` selects (after a delete here or on a peer). */
  async forgetCopies(sel: KeySelector): Promise<void> {
    await this.#cache.forget(`data/${sel.value}/`);
  }

  usage(): Promise<StoreUsage> {
    const u = this.#cache.usage();
    return Promise.resolve({
      residentBytes: u.memoryBytes,
      residentObjects: u.memoryBlobs,
      // The tier is shared: this replica does not count its objects (ListFlights does).
      objects: u.memoryBlobs + u.diskBlobs,
      counters: {
        puts: this.#puts,
        patches: this.#patches,
        deletes: this.#deletes,
        gets: this.#gets,
        hits: this.#cache.counters.hits,
        misses: this.#cache.counters.misses,
        tierFetchedBytes: this.#cache.counters.fetchedBytes,
        diskCacheBytes: u.diskBytes,
      },
    });
  }

  /**
   * Free about `bytes` of local disk by dropping cached blob files (least recently used first): the
   * tier has them all. True when anything was dropped. Staging writes call it when the disk is full.
   */
  makeRoom(bytes: number): Promise<boolean> {
    return this.#cache.makeRoom(bytes);
  }

  /** Delete tier blobs no record names that are older than `olderThanMs` (crashed or lost writes). */
  collectGarbage(olderThanMs: number): Promise<number> {
    return this.tier.gc(olderThanMs);
  }

  /** Finish pending retirements of replaced blobs. */
  async close(): Promise<void> {
    await this.tier.flush().catch(() => {});
  }

  /**
   * The local copy of a blob of `key` the current record names (fetched from the tier when missing). A
   * full local disk is RESOURCE_EXHAUSTED naming the key (see blob_cache.ts for why a get needs the disk).
   */
  #local(key: string, ref: BlobRef): Promise<Uint8Array | CachedFile> {
    return this.#cache.get(ref.blob, {
      size: ref.size,
      crc32: ref.crc32,
      open: () => this.tier.openBlob(ref.blob),
    }).catch((err) => {
      if (err instanceof CacheError && err.code === Status.RESOURCE_EXHAUSTED) {
        throw new CacheError(err.code, `could not serve ${key}: ${err.message}`);
      }
      if (err instanceof CacheError) throw err;
      throw new CacheError(Status.UNAVAILABLE, `shared tier read failed: ${(err as Error).message}`);
    });
  }
}
