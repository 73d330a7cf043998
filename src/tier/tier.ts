/**
 * The shared durable tier: objects, patches and version records in an S3-compatible bucket, with a version
 * protocol that never hands out one version twice, whatever the cluster's membership believes.
 *
 * Protocol (layout in `records.ts`):
 * - put / patch: upload the payload to a fresh blob (`data/{key}/{random}`), then compare-and-set the
 *   record `meta/{key}`: read it with its ETag (the first read runs during the upload); next version = its version + 1 (1 when absent); write it
 *   with `If-Match: <etag>` (or `If-None-Match: *` when absent). A 412 means another writer committed
 *   first: re-read and try again. The call is acknowledged only after its CAS succeeded; the CAS is the
 *   commit point, so nothing half-written is ever visible (a reader sees the old record or the new one,
 *   and every blob a record names was complete before the record was written).
 * - Two writers cannot both commit version N: both would need to replace the same record ETag, and the
 *   store accepts only the first conditional write. Records never repeat a previous state (the version
 *   grows; a tombstone differs from its live record), so an ETag (an MD5 of the content) never comes back.
 * - delete: CAS the record into a tombstone (`deleted: true`, same version, no blobs), then delete the
 *   blobs. The tombstone keeps the version, so a re-created key continues from it.
 * - Blobs a record stops naming (replaced base, deleted object) are deleted `retireDelayMs` after the
 *   commit, so a reader that fetched the previous record a moment ago can still finish its read, and only
 *   if the record read at that moment does not name them.
 * - Writes are idempotent per call: the blob id is unique to the call, so after a lost CAS round, a
 *   record that already names our blob (or our blob already retired) means our previous attempt landed.
 *   This matters because Deno's HTTP client transparently resends a request whose connection closed; the
 *   resent copy of a write that did land answers 412, and without the check the patch would be applied
 *   twice (found by the lost-answer test in `tests/cluster/tier_test.ts`).
 * - A blob whose CAS lost for good (patch of a missing key, patch limit, a definite rejection) is deleted at
 *   once. When the CAS outcome is unknown (connection lost mid-request), the record is read back: if it
 *   names our blob the call succeeded after all; otherwise the blob is left for {@link Tier.gc} (deleting it
 *   could break a record write still in flight), and the caller gets a retryable error.
 * - {@link Tier.gc} deletes blobs older than an age that no record names (crash between upload and CAS).
 *
 * Errors: {@link TierUnavailableError} (retryable; also after too many lost CAS rounds),
 * `NOT_FOUND` (patch of a missing/deleted key, missing blob), `RESOURCE_EXHAUSTED` (patch limit),
 * `DATA_LOSS` (a malformed record, a blob whose size/crc32 does not match its record).
 *
 * Size: one file on purpose (~560 lines): the version protocol's invariants (upload, CAS loop, read-back on
 * an unknown outcome, retirement, tombstones, restore) hold only together, and splitting them would spread
 * one proof over several files.
 *
 * @module
 */
import { crc32 } from "node:zlib";
import { CacheError, dataLoss, notFound, resourceExhausted } from "../errors.ts";
import { TierNotFoundError, TierPreconditionError, TierUnavailableError } from "./errors.ts";
import {
  type BaseRef,
  type BlobRef,
  blobsOf,
  checkKey,
  Layout,
  parseRecord,
  type VersionRecord,
} from "./records.ts";
import type { ByteRange, S3Bucket } from "./s3.ts";

export type { BaseRef, BlobRef, VersionRecord } from "./records.ts";

/** Options for {@link Tier}. */
export interface TierOptions {
  bucket: S3Bucket;
  /** Key prefix inside the bucket (e.g. `flame-cache/`); default none. */
  prefix?: string;
  /** Most patches one record may carry (default 1000); one more is RESOURCE_EXHAUSTED. */
  patchLimit?: number;
  /** CAS rounds before giving up with UNAVAILABLE (default 64). */
  casAttempts?: number;
  /** Delay before deleting blobs a newer record no longer names (default 10 000 ms). */
  retireDelayMs?: number;
  /** Parallel record reads/writes in list and prefix delete (default 8). */
  concurrency?: number;
  /** Records (with their ETags) remembered for the first CAS round of the next write (default 4096). */
  headCacheSize?: number;
}

/** A record and the ETag it was read with (for the caller's own conditional logic). */
export interface RecordHead {
  record: VersionRecord;
  etag: string;
}

/** What a put stores about the payload besides its bytes. */
export interface PutMeta {
  kind: "opaque" | "native";
  /** Rows of a native table (for listings). */
  rows?: number;
  /**
   * The key is new to the tier (the server made its id up): the first CAS round writes with
   * `If-None-Match: *` without reading the record first. A wrong guess only costs a lost round.
   */
  fresh?: boolean;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The shared tier on one bucket. */
export class Tier {
  readonly layout: Layout;
  readonly patchLimit: number;
  readonly #s3: S3Bucket;
  readonly #casAttempts: number;
  readonly #retireDelayMs: number;
  readonly #concurrency: number;
  readonly #retiring = new Map<
    number,
    { timer: ReturnType<typeof setTimeout>; key: string; blobs: string[] }
  >();
  #nextRetire = 0;
  /**
   * The last record this process read or wrote per key, with its ETag: the first CAS round of the next
   * write of the key uses it instead of reading the record again (one S3 request less per write). It is
   * only a guess: a record changed by another writer makes that round lose (412) and the loop re-reads.
   * The cluster routes a session's writes to one replica, so on that replica the guess is almost always
   * right. Never used to answer reads.
   */
  readonly #heads: HeadCache;

  constructor(options: TierOptions) {
    this.#s3 = options.bucket;
    this.layout = new Layout(options.prefix);
    this.patchLimit = options.patchLimit ?? 1000;
    this.#casAttempts = options.casAttempts ?? 64;
    this.#retireDelayMs = options.retireDelayMs ?? 10_000;
    this.#concurrency = options.concurrency ?? 8;
    this.#heads = new HeadCache(options.headCacheSize ?? 4096);
  }

  /** Store a new base payload for `key`; resolves with the committed record (its `version` is the new one). */
  async put(
    key: string,
    body: Uint8Array | ReadableStream<Uint8Array>,
    meta: PutMeta,
    signal?: AbortSignal,
  ): Promise<VersionRecord> {
    checkKey(key);
    const [{ blob, size, crc }, first] = await this.#uploadAndRead(key, body, signal, meta.fresh);
    return await this.#commit(key, blob, first, signal, (current) => {
      const version = (current?.version ?? 0) + 1;
      const base: BaseRef = { version, blob, size, crc32: crc, kind: meta.kind };
      if (meta.rows !== undefined) base.rows = meta.rows;
      return { key, version, base, patches: [], modified: new Date().toISOString() };
    });
  }

  /** Append a patch to the live record of `key`; resolves with the committed record. */
  async patch(key: string, body: Uint8Array, signal?: AbortSignal): Promise<VersionRecord> {
    checkKey(key);
    const [{ blob, size, crc }, first] = await this.#uploadAndRead(key, body, signal);
    return await this.#commit(key, blob, first, signal, (current) => {
      if (!current || current.deleted) throw notFound(`object ${key} not found`);
      if (current.patches.length >= this.patchLimit) {
        throw resourceExhausted(
          `object ${key} has ${current.patches.length} patches (limit ${this.patchLimit})`,
        );
      }
      const version = current.version + 1;
      const patch: BlobRef = { version, blob, size, crc32: crc };
      return {
        ...current,
        version,
        patches: [...current.patches, patch],
        modified: new Date().toISOString(),
      };
    });
  }

  /**
   * Import an object with the versions it already has (moving a single node's folder into the tier). It
   * is committed only when the tier holds no record of `key`, or a tombstone older than it; resolves with
   * the record, or undefined when the tier already has the key (left untouched).
   */
  async restore(
    key: string,
    base: { body: Uint8Array | ReadableStream<Uint8Array>; version: number } & PutMeta,
    patches: { version: number; body: Uint8Array }[],
    signal?: AbortSignal,
  ): Promise<VersionRecord | undefined> {
    checkKey(key);
    const uploaded = await this.#upload(key, base.body, signal);
    const patchBlobs: BlobRef[] = [];
    try {
      for (const p of patches) {
        const up = await this.#upload(key, p.body, signal);
        patchBlobs.push({ version: p.version, blob: up.blob, size: up.size, crc32: up.crc });
      }
    } catch (err) {
      await this.#deleteBlobs([uploaded.blob, ...patchBlobs.map((p) => p.blob)]);
      throw err;
    }
    const version = patches.length ? patches[patches.length - 1].version : base.version;
    const exists = new Error("exists");
    try {
      return await this.#commit(key, uploaded.blob, undefined, signal, (current) => {
        if (current && (!current.deleted || current.version >= version)) throw exists;
        const ref: BaseRef = {
          version: base.version,
          blob: uploaded.blob,
          size: uploaded.size,
          crc32: uploaded.crc,
          kind: base.kind,
        };
        if (base.rows !== undefined) ref.rows = base.rows;
        return { key, version, base: ref, patches: patchBlobs, modified: new Date().toISOString() };
      });
    } catch (err) {
      await this.#deleteBlobs(patchBlobs.map((p) => p.blob));
      if (err === exists) return undefined;
      throw err;
    }
  }

  /** The live record of `key` with its ETag, or undefined (absent or deleted, unless `includeDeleted`). */
  async head(
    key: string,
    options: { includeDeleted?: boolean; signal?: AbortSignal } = {},
  ): Promise<RecordHead | undefined> {
    checkKey(key);
    const read = await this.#readRecord(key, options.signal);
    if (!read || (read.record.deleted && !options.includeDeleted)) return undefined;
    return read;
  }

  /** A blob's bytes as a stream (optionally a range). NOT_FOUND when the blob is gone. */
  async openBlob(blob: string, range?: ByteRange, signal?: AbortSignal): Promise<ReadableStream<Uint8Array>> {
    const { body } = await this.#s3.getStream(this.layout.blobKey(blob), range, signal);
    return body;
  }

  /**
   * A blob as a stream, checked as it flows: when the bytes end, their size and crc32 must match the
   * record, else the stream fails with DATA_LOSS (so a forwarder never completes a call with wrong bytes).
   */
  async openVerified(ref: BlobRef, signal?: AbortSignal): Promise<ReadableStream<Uint8Array>> {
    const body = await this.openBlob(ref.blob, undefined, signal);
    let crc = 0;
    let size = 0;
    return body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          crc = crc32(chunk, crc);
          size += chunk.length;
          controller.enqueue(chunk);
        },
        flush(controller) {
          if (size !== ref.size || crc !== ref.crc32) {
            controller.error(dataLoss(`tier blob ${ref.blob}: size or crc32 does not match its record`));
          }
        },
      }),
    );
  }

  /** A blob's bytes, checked against the size and crc32 its record gives (DATA_LOSS when they differ). */
  async readBlob(ref: BlobRef, signal?: AbortSignal): Promise<Uint8Array> {
    const bytes = await this.#s3.get(this.layout.blobKey(ref.blob), undefined, signal);
    if (bytes.length !== ref.size || crc32(bytes) !== ref.crc32) {
      throw dataLoss(`tier blob ${ref.blob}: size or crc32 does not match its record`);
    }
    return bytes;
  }

  /** Delete one object: tombstone its record (CAS), then delete its blobs. Resolves true if it was live. */
  async delete(key: string, signal?: AbortSignal): Promise<boolean> {
    checkKey(key);
    let lastLive: VersionRecord | undefined;
    for (let attempt = 0; attempt < this.#casAttempts; attempt++) {
      const read = await this.#readRecord(key, signal);
      if (!read || read.record.deleted) {
        // A tombstone after our lost race may be our own (a transparently retried write answers 412):
        // remove the blobs of the live record we saw either way; removal skips anything still named.
        if (lastLive) await this.#removeUnnamed(key, blobsOf(lastLive));
        return false;
      }
      lastLive = read.record;
      const tombstone: VersionRecord = {
        key,
        version: read.record.version,
        base: null,
        patches: [],
        deleted: true,
        modified: new Date().toISOString(),
      };
      try {
        await this.#writeRecord(tombstone, read.etag, signal);
      } catch (err) {
        if (err instanceof TierPreconditionError) {
          await backoff(attempt);
          continue;
        }
        throw err;
      }
      // At once, not after the retirement delay: a delete promises that nothing of the object is left (a
      // reader that fetched the record a moment ago gets NOT_FOUND for the blob, as for the object).
      await this.#removeUnnamed(key, blobsOf(read.record));
      return true;
    }
    throw new TierUnavailableError(`tier delete ${key}: too much contention, try again`);
  }

  /**
   * Delete every live object under `selector` (`app/session` or `app`; whole segments). Resolves with how
   * many were deleted. Objects put after the listing are not affected (as on one node: put after delete).
   */
  async deletePrefix(selector: string, signal?: AbortSignal): Promise<number> {
    checkKey(selector, "selector");
    let deleted = 0;
    await this.#forEachRecordKey(selector, signal, async (key) => {
      if (await this.delete(key, signal)) deleted++;
    });
    return deleted;
  }

  /** Every live record under `selector` (`""` for all, `app`, `app/session`), in key order. */
  async *list(selector = "", signal?: AbortSignal): AsyncGenerator<VersionRecord> {
    if (selector) checkKey(selector, "selector");
    const prefix = selector ? this.layout.recordPrefix(selector) : `${this.layout.prefix}meta/`;
    let batch: string[] = [];
    const flush = async () => {
      const reads = await mapLimit(batch, this.#concurrency, (key) => this.#readRecord(key, signal));
      batch = [];
      return reads;
    };
    for await (const item of this.#s3.list(prefix, signal)) {
      batch.push(this.layout.keyOfRecord(item.key));
      if (batch.length >= 64) {
        for (const read of await flush()) if (read && !read.record.deleted) yield read.record;
      }
    }
    for (const read of await flush()) if (read && !read.record.deleted) yield read.record;
  }

  /**
   * Delete blobs under `selector` (default all) that no record names and that are older than
   * `olderThanMs` (by the store's clock): leftovers of a crash between upload and CAS, or of a retirement
   * that never ran. Resolves with how many were deleted.
   */
  async gc(olderThanMs: number, selector = "", signal?: AbortSignal): Promise<number> {
    if (selector) checkKey(selector, "selector");
    const prefix = selector ? this.layout.blobPrefix(selector) : `${this.layout.prefix}data/`;
    const cutoff = Date.now() - olderThanMs;
    const byKey = new Map<string, string[]>();
    for await (const item of this.#s3.list(prefix, signal)) {
      if (item.lastModified.getTime() > cutoff) continue;
      const blob = this.layout.blobOfKey(item.key);
      const key = this.layout.keyOfBlob(blob);
      byKey.set(key, [...(byKey.get(key) ?? []), blob]);
    }
    let deleted = 0;
    await mapLimit([...byKey], this.#concurrency, async ([key, blobs]) => {
      const read = await this.#readRecord(key, signal);
      const named = new Set(read ? blobsOf(read.record) : []);
      const orphans = blobs.filter((b) => !named.has(b));
      await this.#deleteBlobs(orphans);
      deleted += orphans.length;
    });
    return deleted;
  }

  /** Run pending blob retirements now (call before shutdown; also stops their timers). */
  async flush(): Promise<void> {
    const pending = [...this.#retiring.values()];
    this.#retiring.clear();
    for (const { timer } of pending) clearTimeout(timer);
    await Promise.all(pending.map((p) => this.#removeUnnamed(p.key, p.blobs)));
  }

  // --- internals -----------------------------------------------------------------------------------

  /**
   * Upload the blob and, at the same time, read the current record for the first CAS round: a small put
   * then costs two round trips (upload || read, then the conditional write) instead of three. Reading
   * before the upload ends is safe: a record that changes meanwhile only makes the first CAS lose.
   */
  async #uploadAndRead(
    key: string,
    body: Uint8Array | ReadableStream<Uint8Array>,
    signal?: AbortSignal,
    fresh = false,
  ) {
    const known = fresh ? { ok: true as const, r: undefined } : this.#heads.get(key);
    if (known) return [await this.#upload(key, body, signal), known.r] as const;
    const reading = this.#readRecord(key, signal).then(
      (r) => ({ ok: true as const, r }),
      (e) => ({ ok: false as const, e }),
    );
    const uploaded = await this.#upload(key, body, signal);
    const first = await reading;
    if (!first.ok) {
      await this.#deleteBlobs([uploaded.blob]);
      throw first.e;
    }
    return [uploaded, first.r] as const;
  }

  async #upload(key: string, body: Uint8Array | ReadableStream<Uint8Array>, signal?: AbortSignal) {
    const blob = this.layout.newBlob(key);
    let crc = 0;
    let size = 0;
    // A failed single PUT stores nothing and a failed multipart is aborted; a PUT whose outcome is unknown
    // may have stored the blob, which gc removes later (no record names it). The checksum is taken as the
    // bytes go (S3Bucket shows every byte once, in order), without a copy or a stream stage in between.
    await this.#s3.put(this.layout.blobKey(blob), body, {}, signal, (piece) => {
      crc = crc32(piece, crc);
      size += piece.length;
    });
    return { blob, size, crc };
  }

  /** The CAS loop shared by put and patch. `next` builds the new record from the current one (or throws). */
  async #commit(
    key: string,
    blob: string,
    first: RecordHead | undefined,
    signal: AbortSignal | undefined,
    next: (current: VersionRecord | undefined) => VersionRecord,
  ): Promise<VersionRecord> {
    // The last record we tried to write and the one it replaced. A write can land even though we saw a
    // 412: the HTTP client may transparently resend a request whose connection dropped, and the resent
    // copy then fails its precondition against our own first copy. Our blob id is unique to this call, so
    // a record naming it (or our blob already retired) means our last attempt committed.
    let attempted: { record: VersionRecord; previous: VersionRecord | undefined } | undefined;
    for (let attempt = 0;; attempt++) {
      // Not reading the record (or our blob) now leaves our blob for gc: a previous attempt may have landed.
      const read = attempt === 0 ? first : await this.#readRecord(key, signal);
      if (attempted) {
        const landed = read !== undefined && blobsOf(read.record).includes(blob);
        if (landed || !(await this.#s3.head(this.layout.blobKey(blob), signal))) {
          return this.#committed(attempted.previous, attempted.record);
        }
      }
      if (attempt >= this.#casAttempts) {
        await this.#deleteBlobs([blob]); // none of our attempts landed (checked above)
        throw new TierUnavailableError(`tier commit ${key}: too much contention, try again`);
      }
      let record: VersionRecord;
      try {
        record = next(read?.record);
        // The caller gave up (its call was cancelled or ran out of time): do not commit now, on top of writes
        // it may have made since. Checked before every round, so a lost CAS does not retry for it either.
        signal?.throwIfAborted();
      } catch (err) {
        await this.#deleteBlobs([blob]); // no record names it (checked above): the blob is ours alone
        throw err;
      }
      try {
        // Without the signal: a record write once sent runs to its end (bounded by the request timeout), so
        // its outcome is known. Aborting it midway would leave an unknown outcome with the blob deleted below.
        await this.#writeRecord(record, read?.etag);
      } catch (err) {
        if (err instanceof TierPreconditionError) {
          // Also after a round built on a remembered record: a lost round may still be a resent copy of ours.
          attempted = { record, previous: read?.record };
          await backoff(attempt);
          continue;
        }
        if (err instanceof TierUnavailableError) {
          // Unknown outcome: the write may have landed. Read back to find out. Our blob id is unique to
          // this call, so a record naming it means our write (exactly `record`) committed, even if later
          // writers have moved the record on since.
          const landed = await this.#readRecord(key, signal).catch(() => undefined);
          if (landed && blobsOf(landed.record).includes(blob)) return this.#committed(read?.record, record);
          throw err; // our blob stays for gc: a write still in flight may yet name it
        }
        await this.#deleteBlobs([blob]);
        throw err;
      }
      return this.#committed(read?.record, record);
    }
  }

  /** After a commit: schedule deletion of the blobs the previous record named and the new one does not. */
  #committed(previous: VersionRecord | undefined, record: VersionRecord): VersionRecord {
    if (previous) {
      const kept = new Set(blobsOf(record));
      const retired = blobsOf(previous).filter((b) => !kept.has(b));
      if (retired.length) this.#retire(record.key, retired).catch(() => {});
    }
    return record;
  }

  /** Remove blobs of `key` a record stopped naming: after `retireDelayMs`, or now when that is 0. */
  #retire(key: string, blobs: string[]): Promise<void> {
    if (blobs.length === 0) return Promise.resolve();
    if (this.#retireDelayMs <= 0) return this.#removeUnnamed(key, blobs);
    const id = this.#nextRetire++;
    const timer = setTimeout(() => {
      this.#retiring.delete(id);
      this.#removeUnnamed(key, blobs).catch(() => {});
    }, this.#retireDelayMs);
    Deno.unrefTimer(timer);
    this.#retiring.set(id, { timer, key, blobs });
    return Promise.resolve();
  }

  /**
   * Delete `blobs` of `key` except those the current record names. The check matters: a write whose
   * first answer was lost may have been retried by the HTTP client and committed a record naming a blob
   * another call meant to retire. When the record cannot be read, nothing is deleted (gc finds them).
   */
  async #removeUnnamed(key: string, blobs: string[]): Promise<void> {
    let current: RecordHead | undefined;
    try {
      current = await this.#readRecord(key);
    } catch {
      return;
    }
    const named = new Set(current ? blobsOf(current.record) : []);
    await this.#deleteBlobs(blobs.filter((b) => !named.has(b)));
  }

  /** Best-effort: a blob that stays behind is found by gc. */
  async #deleteBlobs(blobs: string[]): Promise<void> {
    await mapLimit(blobs, this.#concurrency, (b) => this.#s3.delete(this.layout.blobKey(b)).catch(() => {}));
  }

  async #readRecord(key: string, signal?: AbortSignal): Promise<RecordHead | undefined> {
    let got;
    try {
      got = await this.#s3.getStream(this.layout.recordKey(key), undefined, signal);
    } catch (err) {
      if (err instanceof TierNotFoundError) {
        this.#heads.remember(key, undefined);
        return undefined;
      }
      throw err;
    }
    const text = decoder.decode(await new Response(got.body).arrayBuffer());
    let head: RecordHead;
    try {
      head = { record: parseRecord(text, key), etag: got.etag };
    } catch {
      this.#heads.forget(key);
      throw dataLoss(`tier record of ${key} is malformed`);
    }
    this.#heads.remember(key, head);
    return head;
  }

  async #writeRecord(record: VersionRecord, etag: string | undefined, signal?: AbortSignal): Promise<void> {
    const body = encoder.encode(JSON.stringify(record));
    try {
      const written = await this.#s3.put(
        this.layout.recordKey(record.key),
        body,
        etag
          ? { ifMatch: etag, contentType: "application/json" }
          : { ifNoneMatch: "*", contentType: "application/json" },
        signal,
      );
      if (written.etag) this.#heads.remember(record.key, { record, etag: written.etag });
      else this.#heads.forget(record.key);
    } catch (err) {
      this.#heads.forget(record.key);
      throw err;
    }
  }

  async #forEachRecordKey(
    selector: string,
    signal: AbortSignal | undefined,
    fn: (key: string) => Promise<void>,
  ) {
    let batch: string[] = [];
    for await (const item of this.#s3.list(this.layout.recordPrefix(selector), signal)) {
      batch.push(this.layout.keyOfRecord(item.key));
      if (batch.length >= 64) {
        await mapLimit(batch, this.#concurrency, fn);
        batch = [];
      }
    }
    await mapLimit(batch, this.#concurrency, fn);
  }
}

/** What {@link HeadCache.get} knows of a key: its record and ETag, or that it had none (`r` undefined). */
type KnownHead = { ok: true; r: RecordHead | undefined };

/** The last known record per key, least recently used dropped first (see `Tier.#heads`). */
class HeadCache {
  readonly #entries = new Map<string, RecordHead | undefined>();

  constructor(private readonly capacity: number) {}

  get(key: string): KnownHead | undefined {
    if (!this.#entries.has(key)) return undefined;
    const r = this.#entries.get(key);
    this.#entries.delete(key); // re-insert: most recently used last
    this.#entries.set(key, r);
    return { ok: true, r };
  }

  remember(key: string, head: RecordHead | undefined): void {
    if (this.capacity <= 0) return;
    this.#entries.delete(key);
    this.#entries.set(key, head);
    if (this.#entries.size > this.capacity) this.#entries.delete(this.#entries.keys().next().value!);
  }

  forget(key: string): void {
    this.#entries.delete(key);
  }
}

/** Jittered backoff between lost CAS rounds: 1-2 ms growing to at most ~50 ms. */
function backoff(attempt: number): Promise<void> {
  const ms = Math.min(50, 2 ** Math.min(attempt, 6)) * (0.5 + Math.random());
  return new Promise((r) => setTimeout(r, ms));
}

/** Map with at most `limit` calls in flight; results in input order; the first error rejects. */
async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** True for errors the server should send as UNAVAILABLE (the caller may retry). */
export function isRetryable(err: unknown): boolean {
  return err instanceof TierUnavailableError || (err instanceof CacheError && err.code === 14);
}
