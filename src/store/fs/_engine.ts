/**
 * The `fs` storage engine: durable, crash-safe object files in Flame's DiskStorage layout, so it can
 * take over a folder written by Flame's Rust server or flamepy's local-storage mode (see _layout.ts).
 *
 * ## The write-ahead log (issue 15)
 * A crash-safe file costs a temp file, an `fdatasync`, a rename and a folder fsync: two device flushes
 * and a file creation per put (bench/wal_probe.ts on this machine: 8 ms for a lone 1 KiB file, 4 ms for a
 * log append + `fdatasync`, and file creation alone ~0.5 ms of CPU while other flushes are in flight). So
 * small writes (encoded files up to {@link WAL_MAX_FILE_BYTES}) are logged instead (_wal.ts): a group of
 * concurrent puts is one append and one `fdatasync` (`durability: sync`; `relaxed` skips it), and is then
 * acknowledged. A logged base is kept in memory (_pending.ts, reads are answered from it) and its file
 * is written by the next checkpoint (_behind.ts: about once a second, concurrently and off the worker
 * thread, each file flushed before its rename), which then removes the log segments it covered. Patches
 * and deletes are applied to the folder at once and flushed by the checkpoint (in `relaxed` mode patches
 * are flushed at once, with their pending base first). Start-up replays a log a crash left, in order;
 * a record whose checksum fails ends its segment (a torn tail, never acknowledged, never applied). A
 * clean close writes everything and removes the log: the folder is then pure Flame layout. A write that
 * bypasses the log (a large object, a staged upload) first checkpoints a log holding records of its key,
 * so that a replay can never put an older version back over it.
 *
 * ## Atomicity and durability
 * Every file is written as a temp file in its final folder (`.{name}.tmp-{hex}`), `syncData`ed, renamed
 * over its final name, and the folder is fsynced (_io.ts `writeFileAtomic`; for logged writes the
 * checkpoint does these steps for many files at once). So a base or a patch is either wholly there or not
 * at all; start-up removes stray temp files.
 *
 * - **Update** (writeBase): the new base replaces the old one by rename, then the old `.deltas` folder
 *   is renamed into `{root}/.trash/` (folder fsynced) and removed. The base file's version is the truth:
 *   a patch counts only if its version is greater than its base's (_deltas.ts). A new base always has a
 *   version greater than every patch it replaces, so a crash between the two renames leaves the new
 *   base with stale patches that are ignored on load and removed at start-up. A crash before the base
 *   rename leaves the old base with all its patches. Neither a new base with old patches nor an old base
 *   with some patches missing can ever be seen.
 * - **Patch** (appendDelta): `{object}.deltas/{n}.arrow` appears by rename, so it is all there or not
 *   at all; n is the next free number.
 * - **Delete**: an exact key first loses its base file (unlink: from then on the object does not
 *   exist), then its `.deltas` folder is renamed into the trash. A prefix (`app/session`, `app`, or all)
 *   is one rename of the whole folder into the trash. The parent folders are fsynced, then the trash is
 *   emptied. A crash mid-delete leaves either the whole object or nothing visible: leftover patch folders
 *   without a base are removed at start-up, and so is the trash.
 *
 * ## Integrity
 * Files this engine writes carry `flame.cache.crc32`. A load that finds a file that does not parse,
 * fails its checksum or has inconsistent patch versions moves the whole object (base and patches) to
 * `{root}/.quarantine/`, logs one JSON line to stderr and throws DATA_LOSS; later reads get NOT_FOUND.
 * Wrong bytes are never returned. Files without a checksum (Flame's, pyarrow's) are accepted as they are.
 *
 * ## Start-up
 * `startOpen()` empties the trash and the staging folder at once, then walks the folders a step at a time
 * while the cache serves (_scan.ts): it removes temp files older than the start, stale patches and orphan
 * patch folders, and stats every object from its file footers without reading payloads (_inspect.ts), or
 * takes a session folder unchanged since the last clean shutdown from the index snapshot (_snapshot.ts)
 * without opening its files. Damaged files are quarantined and start-up carries on. `close()` writes the
 * snapshot when the cache's index is complete.
 *
 * ## Disk budget (`capacity`)
 * With `capacity` set, the engine tracks the file bytes of every object and the order in which objects
 * were last read or written. After a write that takes the total above `capacity` it deletes whole
 * objects, least recently used first, until the total fits again (never the object just written, which
 * is kept even if it alone exceeds the budget). Objects it deletes, and objects it quarantines, are
 * reported through {@link FsEngine.takeEvicted}, which the cache polls so it forgets them.
 *
 * @module
 */
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { IpcError } from "../../arrow/mod.ts";
import { type CacheError, dataLoss, invalidArgument } from "../../errors.ts";
import { log } from "../../log.ts";
import type { AdoptsStagedUploads, IndexLoader, StorageEngine } from "../engine.ts";
import type { ObjectIndex } from "../_index.ts";
import {
  type Delta,
  type KeySelector,
  type ObjectStat,
  selects,
  type StagedPayload,
  statOf,
  type StoredObject,
} from "../types.ts";
import { encodeBase, encodeDelta } from "./_codec.ts";
import { Inspector } from "./_inspect.ts";
import {
  commitMany,
  ioError,
  type PendingWrite,
  recentlyModified,
  removeQuietly,
  syncDir,
  writeFileAtomic,
  writeTemp,
} from "./_io.ts";
import {
  checkNameLengths,
  deltaName,
  isStorableKey,
  type ObjectPaths,
  objectPaths,
  RESERVED,
} from "./_layout.ts";
import { DamagedObject, loadObject, scanObject } from "./_objects.ts";
import { Quarantine } from "./_quarantine.ts";
import { FolderWalk, type ScanCounts } from "./_scan.ts";
import { Snapshot, writeSnapshot } from "./_snapshot.ts";
import { DiskUsage } from "./_usage.ts";
import { adoptStagedFile, removeStaging } from "./_staging.ts";
import { Trash } from "./_trash.ts";
import { encodeRecord, type WalRecord, WriteAheadLog } from "./_wal.ts";
import { WriteBehind } from "./_behind.ts";
import { PendingBases } from "./_pending.ts";

/** Base files at least this large are streamed from disk on get, not loaded. */
export const STREAM_FROM_DISK_BYTES = 32 * 1024 * 1024;

/** Encoded files up to this size go through the write-ahead log; larger ones are written durably in place. */
export const WAL_MAX_FILE_BYTES = 1024 * 1024;

/** How long a file written behind the log waits for its flush, in `sync` mode. */
const CHECKPOINT_MS = 1000;

/** When a write is acknowledged: `sync` once it is on disk, `relaxed` once it is in the OS. */
export type Durability = "sync" | "relaxed";

/** Options of {@link FsEngine}. */
export interface FsEngineOptions {
  /** Disk budget in bytes (file sizes); unlimited when absent. */
  capacity?: number;
  /** Default `sync`. */
  durability?: Durability;
  /** `relaxed`: the longest a write waits for its flush (default 1000 ms). */
  flushIntervalMs?: number;
}

/** Storage engine keeping objects as Arrow IPC files under a root folder. */
export class FsEngine implements StorageEngine, AdoptsStagedUploads {
  readonly name = "fs";
  readonly persistent = true;
  /** Absolute root folder. */
  readonly root: string;
  private readonly capacity?: number;
  private readonly trash: Trash;
  private readonly inspector = new Inspector();
  private readonly quarantine: Quarantine;
  private readonly usage: DiskUsage;
  /** True while the start-up walk runs: the disk budget waits for it. */
  private loading = false;
  private walk?: FolderWalk;
  /** Next patch file number of objects that have (or had) patch files. */
  private readonly nextDelta = new Map<string, number>();
  private evicted: string[] = [];
  /** `sync`: the log is flushed before a write is acknowledged (`relaxed`: by the next checkpoint). */
  private readonly syncEach: boolean;
  private readonly wal: WriteAheadLog;
  private readonly pending: PendingBases;
  private readonly behind: WriteBehind;

  constructor(root: string, options: FsEngineOptions = {}) {
    this.root = resolve(root);
    this.capacity = options.capacity;
    this.usage = new DiskUsage(options.capacity !== undefined);
    this.trash = new Trash(this.root);
    this.quarantine = new Quarantine(this.root);
    this.syncEach = (options.durability ?? "sync") === "sync";
    this.wal = new WriteAheadLog(this.root);
    this.pending = new PendingBases(this.root);
    const interval = this.syncEach ? CHECKPOINT_MS : Math.max(1, options.flushIntervalMs ?? 1000);
    this.behind = new WriteBehind(this.wal, this.pending, interval);
  }

  /** Clean up leftovers and index every object at once (tools and tests; the server loads in steps). */
  open(): { entries: ObjectStat[]; summary: string } {
    const loader = this.startOpen(() => false);
    const entries: ObjectStat[] = [];
    for (let batch = loader.step(); batch !== null; batch = loader.step()) entries.push(...batch);
    const evicted = new Set(this.takeEvicted());
    return {
      entries: evicted.size ? entries.filter((s) => !evicted.has(s.key)) : entries,
      summary: loader.summary(),
    };
  }

  /**
   * Clean up what needs no walk (trash, unfinished uploads), then index every object a folder per step
   * (_scan.ts): from the snapshot when its folder is unchanged, else from file footers. The disk budget
   * waits for the end of the walk.
   */
  startOpen(known: (key: string) => boolean, knownIn?: (parent: string) => boolean): IndexLoader {
    const t0 = performance.now();
    Deno.mkdirSync(this.root, { recursive: true });
    const trashed = this.trash.empty(true);
    const staged = removeStaging(this.root);
    // A log a crash left is replayed into the files before the walk reads them (their folders change,
    // so the snapshot is not trusted for them).
    const replayed = this.replay();
    let snapshot = Snapshot.read(this.root);
    // A snapshot without file sizes cannot seed the disk budget.
    if (snapshot && this.capacity !== undefined && !snapshot.hasFileBytes) snapshot = null;
    const usable = snapshot !== null;
    const walk = new FolderWalk(this.root, {
      inspector: this.inspector,
      onDamaged: (err, paths) => this.quarantine.move(err.key, paths, err.file, err.reason),
      known,
      knownIn: knownIn ?? (() => true),
      snapshot,
      startedAt: Date.now(),
    });
    snapshot = null; // the walk holds it until it is done, then lets it go
    this.walk = walk;
    let summary = "";
    const modified: { key: string; t: number }[] = [];
    const step = (): ObjectStat[] | null => {
      const found = walk.step();
      if (found === null) {
        if (!this.loading) return null;
        this.walk = undefined;
        const evicted = this.finishOpen(modified);
        summary = this.describe(walk.counts, { t0, trashed, staged, evicted, replayed, snapshot: usable });
        return null;
      }
      const out: ObjectStat[] = new Array(found.length);
      for (let i = 0; i < found.length; i++) {
        const s = found[i];
        out[i] = s.stat;
        this.usage.add(s.stat.key, s.fileBytes);
        if (this.capacity !== undefined) modified.push({ key: s.stat.key, t: s.stat.modified });
        if (s.nextDelta > 0) {
          this.nextDelta.set(s.stat.key, Math.max(s.nextDelta, this.nextDelta.get(s.stat.key) ?? 0));
        }
      }
      return out;
    };
    this.loading = true;
    return { step, summary: () => summary };
  }

  /** The walk is complete: recency starts as modification order, then the disk budget applies. */
  private finishOpen(modified: { key: string; t: number }[]): number {
    this.loading = false;
    if (this.capacity === undefined) return 0;
    modified.sort((a, b) => a.t - b.t);
    // Objects written since start were touched after everything found on disk.
    for (const { key } of modified) {
      const n = this.usage.get(key);
      if (n !== undefined) {
        this.usage.drop(key);
        this.usage.add(key, n);
      }
    }
    const found = new Set(modified.map((m) => m.key));
    for (const key of [...this.usage.keys()]) if (!found.has(key)) this.usage.touch(key);
    const before = this.evicted.length;
    this.enforceCapacity(undefined);
    return this.evicted.length - before;
  }

  private describe(
    c: ScanCounts,
    o: { t0: number; trashed: number; staged: number; evicted: number; replayed: number; snapshot: boolean },
  ): string {
    const ms = Math.round(performance.now() - o.t0);
    return `fs storage ${this.root}: ${
      c.objects - o.evicted
    } objects, ${c.patches} patches, ${c.bytes} bytes ` +
      `(${c.fileBytes} on disk), ${c.fromSnapshot} from the snapshot` +
      `${
        o.snapshot ? "" : " (none usable)"
      }, ${c.quarantined} quarantined, ${c.tempsRemoved} temp files removed, ` +
      `${c.stalePatchesRemoved} stale patches and ${c.orphanFoldersRemoved} orphan patch folders dropped, ` +
      `${o.staged} unfinished uploads and ${o.trashed} trash entries removed` +
      `${o.evicted ? `, ${o.evicted} evicted over capacity` : ""}, ` +
      `${o.replayed} log records replayed, durability ${this.syncEach ? "sync" : "relaxed"}, ${ms} ms`;
  }

  /** Durably replace the base of `obj.key` and drop its patches (see the module comment). */
  writeBase(obj: StoredObject): void {
    const err = this.writeGroup([obj])[0];
    if (err) throw err;
  }

  /**
   * {@link writeBase} for several objects (distinct keys) at once, as one group commit: one log append
   * and one flush acknowledge all small ones (large ones are written in place and flushed together).
   * Resolves with, per object, null or the error that failed it; each object is committed or not on its own.
   */
  writeBases(objs: StoredObject[]): Promise<(CacheError | null)[]> {
    const small: number[] = [];
    const large: number[] = [];
    const results = this.writeGroup(objs, small, large);
    if (large.length === 0) return Promise.resolve(results);
    return this.writeInPlace(objs, large, results);
  }

  /**
   * Write `objs`: small ones are logged (one append for all, flushed once in `sync` mode) and kept as
   * pending bases, written by the next checkpoint (_pending.ts). With `large` given, large files are left
   * for {@link writeInPlace}; without it they are written in place here, one by one.
   */
  private writeGroup(objs: StoredObject[], small: number[] = [], large?: number[]): (CacheError | null)[] {
    const results: (CacheError | null)[] = objs.map(() => null);
    const fail = (
      i: number,
      err: unknown,
    ) => (results[i] = err instanceof IpcError
      ? invalidArgument(err.message)
      : ioError(err, `could not store ${objs[i].key}`));
    const encoded: { parts: Uint8Array[]; bytes: number; paths: ObjectPaths }[] = [];
    objs.forEach((obj, i) => {
      try {
        const paths = this.paths(obj.key);
        // Checked before the put is logged: the checkpoint must never meet a name it cannot create.
        checkNameLengths(obj.key, paths);
        const parts = encodeBase(obj);
        let bytes = 0;
        for (const p of parts) bytes += p.byteLength;
        encoded[i] = { parts, bytes, paths };
        if (bytes > WAL_MAX_FILE_BYTES) (large ?? small).push(i);
        else small.push(i);
      } catch (err) {
        fail(i, err);
      }
    });
    if (!large) {
      // One at a time, in place (the single-put path): large files that bypass the log.
      for (const i of small.filter((i) => encoded[i].bytes > WAL_MAX_FILE_BYTES)) {
        const { paths, parts } = encoded[i];
        try {
          this.bypassLog(objs[i].key);
          const bytes = writeFileAtomic(this.root, paths.dir, paths.baseName, parts);
          this.committedBase(objs[i].key, paths, bytes, true);
        } catch (err) {
          fail(i, err);
        }
      }
      small = small.filter((i) => encoded[i].bytes <= WAL_MAX_FILE_BYTES);
    }
    if (small.length === 0) return results;
    const parts: Uint8Array[] = [];
    let bytes = 0;
    for (const i of small) {
      const r = encodeRecord("base", objs[i].key, 0, encoded[i].parts);
      parts.push(...r.parts);
      bytes += r.bytes;
    }
    try {
      this.wal.append(parts, bytes, this.syncEach);
    } catch (err) {
      for (const i of small) fail(i, err);
      return results;
    }
    for (const i of small) {
      const { paths, parts, bytes } = encoded[i];
      this.pending.set(objs[i], paths, parts, bytes);
      this.behind.logged(objs[i].key);
      this.committedBase(objs[i].key, paths, bytes, false);
    }
    this.behind.schedule();
    return results;
  }

  /**
   * Before a write of `key` that bypasses the log (a large file): a log that still holds records of
   * `key` (or a delete selecting it) is checkpointed first, or a replay after a crash could undo the
   * write. The checkpoint writes `key`'s pending base too: until the new file is in place (a kill can
   * come first) the acknowledged one must be on disk.
   */
  private bypassLog(key: string): void {
    if (this.behind.touches(key)) this.behind.drainSync();
    this.pending.drop(key);
  }

  /** Large bases of a group, written in place and flushed together (they bypass the log). */
  private async writeInPlace(
    objs: StoredObject[],
    large: number[],
    results: (CacheError | null)[],
  ): Promise<(CacheError | null)[]> {
    const pending: { i: number; paths: ObjectPaths; write: PendingWrite }[] = [];
    for (const i of large) {
      const obj = objs[i];
      const paths = this.paths(obj.key);
      try {
        this.bypassLog(obj.key);
        pending.push({ i, paths, write: writeTemp(this.root, paths.dir, paths.baseName, encodeBase(obj)) });
      } catch (err) {
        results[i] = err instanceof IpcError
          ? invalidArgument(err.message)
          : ioError(err, `could not store ${obj.key}`);
      }
    }
    const errors = await commitMany(pending.map((p) => p.write));
    pending.forEach((p, k) => {
      if (errors[k] !== null) {
        results[p.i] = ioError(errors[k], `could not store ${objs[p.i].key}`);
        return;
      }
      this.committedBase(objs[p.i].key, p.paths, p.write.bytes, true);
    });
    return results;
  }

  /**
   * Make a payload staged on disk by the network thread (_staging.ts) the new base of `key` at
   * `version`, durably and atomically, dropping its patches. The staging file is consumed.
   */
  adoptStaged(key: string, version: number, staged: StagedPayload): ObjectStat {
    const paths = this.paths(key);
    let bytes: number;
    try {
      // The log must not replay an older write of this key over the file about to be adopted.
      this.bypassLog(key);
      // Flushed in both modes: an unflushed file renamed over an object could, after a power cut, be
      // found torn, and then the previous version (older than the relaxed interval) would be lost too.
      bytes = adoptStagedFile(this.root, paths, version, staged);
    } catch (err) {
      if (err instanceof IpcError) throw invalidArgument(err.message);
      throw ioError(err, `could not store ${key}`);
    }
    this.committedBase(key, paths, bytes, true);
    return {
      key,
      version,
      baseVersion: version,
      size: staged.length,
      deltaCount: 0,
      kind: "opaque",
      rows: 1,
      modified: Date.now(),
    };
  }

  /**
   * Bookkeeping after a new base file of `key` (`bytes` long) was committed; `flushed` when it was
   * written in place and flushed (else the folder's flush is left to the next checkpoint).
   */
  private committedBase(key: string, paths: ObjectPaths, bytes: number, flushed: boolean): void {
    // The new base's version exceeds every old patch's, so the old patches are already invisible;
    // removing them is cleanup and must not fail the put.
    try {
      // Patch files exist only for keys in nextDelta (start-up scan, probe, appendDelta).
      if (this.nextDelta.has(key) && this.trash.move(paths.deltas)) {
        if (flushed) syncDir(paths.dir);
        else this.behind.dirtied(paths.dir);
        this.trash.empty();
      }
    } catch (err) {
      log("warn", "old patches of an updated object could not be removed (they are ignored)", {
        key,
        error: String(err),
      });
    }
    this.nextDelta.delete(key);
    this.usage.set(key, bytes);
    this.enforceCapacity(key);
  }

  /** Durably add patch number `max(index, next free)` of `key`. */
  appendDelta(key: string, delta: Delta, index: number): void {
    const paths = this.paths(key);
    const n = Math.max(index, this.nextDelta.get(key) ?? 0);
    let bytes: number;
    try {
      const parts = encodeDelta(delta);
      if (!this.syncEach) {
        // relaxed: the log is not flushed, so a patch file left unflushed could be found torn after a
        // power cut, and then its whole object is quarantined (older than the interval). And a patch on
        // disk whose base is still pending could, after a power cut, sit on the older base. So the base
        // goes first, then the patch, both flushed: patches cost a flush in both modes.
        const r = encodeRecord("patch", key, n, parts);
        this.wal.append(r.parts, r.bytes, false);
        const dirs = this.pending.writeKeySync(key);
        for (const d of dirs) syncDir(d);
        bytes = writeFileAtomic(this.root, paths.deltas, deltaName(n), parts);
        this.behind.logged(key);
        this.behind.schedule();
        this.nextDelta.set(key, n + 1);
        this.usage.add(key, bytes);
        this.enforceCapacity(key);
        return;
      }
      const w = writeTemp(this.root, paths.deltas, deltaName(n), parts);
      bytes = w.bytes;
      try {
        const r = encodeRecord("patch", key, n, parts);
        this.wal.append(r.parts, r.bytes, this.syncEach);
        w.file.close();
        Deno.renameSync(w.tmp, `${paths.deltas}/${deltaName(n)}`);
      } catch (err) {
        try {
          w.file.close();
        } catch { /* already closed */ }
        removeQuietly(w.tmp);
        throw err;
      }
      this.behind.wrote(`${paths.deltas}/${deltaName(n)}`, paths.deltas, key);
      this.pending.addDelta(key, delta);
      this.behind.dirtied(paths.dir); // the .deltas folder may be new
      this.behind.schedule();
    } catch (err) {
      if (err instanceof IpcError) throw invalidArgument(err.message);
      throw ioError(err, `could not store patch ${n} of ${key}`);
    }
    this.nextDelta.set(key, n + 1);
    this.usage.add(key, bytes);
    this.enforceCapacity(key);
  }

  /** Read and verify a whole object; null when absent; DATA_LOSS (and quarantine) when damaged. */
  load(key: string): StoredObject | null {
    if (!isStorableKey(key)) return null;
    const pending = this.pending.get(key);
    if (pending) return pending; // acknowledged, its file not written yet
    const paths = objectPaths(this.root, key);
    const streamed = this.locateLarge(key, paths);
    if (streamed) return streamed;
    let loaded;
    try {
      loaded = loadObject(key, paths);
    } catch (err) {
      if (err instanceof DamagedObject) throw this.damaged(err, paths);
      throw ioError(err, `could not read ${paths.rel}`);
    }
    if (!loaded) {
      this.forget(key);
      return null;
    }
    this.usage.set(key, loaded.fileBytes);
    if (loaded.nextDelta > 0) {
      this.nextDelta.set(key, Math.max(loaded.nextDelta, this.nextDelta.get(key) ?? 0));
    }
    return loaded.obj;
  }

  /**
   * A large object without patches whose payload can be streamed from its
   * file: returned with a {@link FileBody} instead of being read into memory.
   */
  private locateLarge(key: string, paths: ReturnType<typeof objectPaths>): StoredObject | null {
    let size: number;
    try {
      size = Deno.statSync(paths.base).size;
    } catch {
      return null;
    }
    if (size < STREAM_FROM_DISK_BYTES) return null;
    try {
      for (const e of Deno.readDirSync(paths.deltas)) if (e.isFile) return null;
    } catch { /* no patches folder */ }
    let info;
    try {
      info = this.inspector.locate(paths.base);
    } catch {
      return null; // let the full load report what is wrong with it
    }
    if (!info.region) return null;
    const { offset, length, crc32, ino } = info.region;
    this.usage.set(key, info.fileBytes);
    return {
      key,
      baseVersion: info.version,
      body: { type: "file", path: paths.base, ino, offset, length, crc32 },
      deltas: [],
    };
  }

  /**
   * Stat an object that is not indexed (e.g. written by another process); null when absent. A damaged
   * file is quarantined (DATA_LOSS), unless it changed in the last 2 s: then it may still be being written
   * in place by its writer, and it counts as absent for now.
   */
  probe(key: string): ObjectStat | null {
    if (!isStorableKey(key)) return null;
    const pending = this.pending.get(key);
    if (pending) return statOf(pending);
    const paths = objectPaths(this.root, key);
    // Every put of a new key probes for a file first, and the usual answer is "none": a boolean check
    // costs ~1 µs where the NotFound error of an open costs ~10 (it was 18% of the store worker's
    // samples in a c=1 put profile, with the inspector's opens).
    if (!existsSync(paths.base) && !existsSync(paths.deltas)) return null;
    let s;
    try {
      s = scanObject(this.inspector, key, paths.base, paths.deltas, false);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound || err instanceof Deno.errors.NotADirectory) return null;
      if (err instanceof DamagedObject) {
        // Another process (flamepy's local-storage mode writes in place) may still be writing it.
        if (recentlyModified(err.file)) return null;
        // Not indexed yet, so there is nothing for the cache to forget.
        throw this.damaged(err, paths, false);
      }
      throw ioError(err, `could not read ${paths.rel}`);
    }
    this.usage.set(key, s.fileBytes);
    if (s.nextDelta > 0) this.nextDelta.set(key, s.nextDelta);
    return s.stat;
  }

  /** Durably remove the selected objects (whole folders for prefixes, as Flame does). */
  remove(sel: KeySelector, keys: string[]): void {
    try {
      const r = encodeRecord("delete", sel.value, sel.exact ? 1 : 0, []);
      this.wal.append(r.parts, r.bytes, this.syncEach);
      this.removeFiles(sel);
      for (const key of this.pending.keys()) if (selects(sel, key)) this.pending.drop(key);
    } catch (err) {
      throw ioError(err, `could not delete ${sel.value}`);
    }
    this.behind.deleted(sel);
    this.behind.schedule();
    for (const key of keys) this.forget(key);
    if (sel.exact) this.forget(sel.value);
    else {
      for (const key of [...this.usage.keys()]) if (selects(sel, key)) this.forget(key);
      for (const key of [...this.nextDelta.keys()]) if (selects(sel, key)) this.forget(key);
    }
    try {
      this.trash.empty();
    } catch (err) {
      log("warn", "trash could not be emptied (it is retried at start-up)", { error: String(err) });
    }
  }

  /**
   * Take the selected objects' files away (base first, then patches; prefixes as whole folders). The
   * folders are flushed by the next checkpoint: the logged delete record (or, relaxed, the flush
   * interval) covers them until then.
   */
  private removeFiles(sel: KeySelector): void {
    const parts = sel.value === "" ? [] : sel.value.split("/");
    const dirty = new Set<string>();
    const trash = (path: string) => {
      if (this.trash.move(path)) dirty.add(path.slice(0, path.lastIndexOf("/")));
    };
    const dropObject = (key: string) => {
      if (!isStorableKey(key)) return;
      const p = objectPaths(this.root, key);
      // Base first: once it is gone the object does not exist, whatever happens to its patches.
      if (removeQuietly(p.base)) dirty.add(p.dir);
      trash(p.deltas);
    };
    try {
      if (sel.exact || parts.length >= 3) {
        dropObject(sel.value);
      } else if (parts.length === 0) {
        for (const e of Deno.readDirSync(this.root)) {
          if (!RESERVED.has(e.name)) trash(`${this.root}/${e.name}`);
        }
      } else if (!RESERVED.has(parts[0])) {
        trash(`${this.root}/${sel.value}`);
        if (parts.length === 2) dropObject(sel.value); // the two-part key equal to the prefix
      }
    } finally {
      for (const dir of dirty) this.behind.dirtied(dir);
    }
  }

  /**
   * Keys this engine removed on its own since the last call: objects deleted to keep within `capacity`
   * and damaged objects moved to the quarantine. The cache forgets them.
   */
  takeEvicted(): string[] {
    const out = this.evicted;
    this.evicted = [];
    return out;
  }

  /** A read served from the cache's memory: `key` becomes the most recently used. */
  touch(key: string): void {
    this.usage.touch(key);
  }

  /** Bytes of all object files, as tracked for the disk budget. */
  get diskBytes(): number {
    return this.usage.total;
  }

  /**
   * Write every pending base, flush everything written behind the log and drop the log's segments, now
   * and synchronously (the next checkpoint's work, done at once).
   */
  checkpointNow(): void {
    this.behind.drainSync();
  }

  /**
   * Flush everything written behind the log and remove the log: the folder is then pure Flame layout. Then,
   * given the complete index, write its snapshot (clean shutdown), so the next start opens no file of a
   * folder unchanged since.
   */
  close(index?: ObjectIndex): void | Promise<void> {
    this.walk?.stop();
    this.walk = undefined;
    const flushed = this.behind.close();
    if (!index) return flushed;
    if (flushed instanceof Promise) return flushed.then(() => this.saveSnapshot(index));
    this.saveSnapshot(index);
  }

  /**
   * Apply the log a crash left (oldest segment first, each up to its first damaged record) on top of the
   * files: bases and patches are written again, deletes done again, in their order. The files are
   * flushed, and the segments removed, by the first checkpoint. Returns the number of records applied.
   */
  private replay(): number {
    const segments = this.wal.readAll();
    let applied = 0;
    for (const seg of segments) {
      if (seg.torn) {
        log("warn", "write-ahead log segment ends in a torn record (ignored)", { segment: seg.seq });
      }
      for (const r of seg.records) {
        try {
          this.replayRecord(r);
          applied++;
        } catch (err) {
          // A write the log acknowledged but the folder refuses (e.g. a name too long): it failed live too.
          log("warn", "write-ahead log record could not be replayed (skipped)", {
            segment: seg.seq,
            key: r.kind === "delete" ? r.value : r.key,
            error: String(err),
          });
        }
      }
    }
    this.trash.empty();
    if (segments.length) {
      this.behind.replayedUpTo = segments[segments.length - 1].seq;
      this.behind.schedule();
    }
    return applied;
  }

  /** Apply one log record to the folder (no flush). */
  private replayRecord(r: WalRecord): void {
    if (r.kind === "delete") {
      this.removeFiles({ exact: r.exact, value: r.value });
      this.behind.deleted({ exact: r.exact, value: r.value });
    } else {
      if (!isStorableKey(r.key)) return;
      const paths = this.paths(r.key);
      const [dir, name] = r.kind === "base" ? [paths.dir, paths.baseName] : [paths.deltas, deltaName(r.n)];
      const w = writeTemp(this.root, dir, name, [r.file]);
      w.file.close();
      Deno.renameSync(w.tmp, `${dir}/${name}`);
      this.behind.wrote(`${dir}/${name}`, dir, r.key);
      if (r.kind === "base" && this.trash.move(paths.deltas)) this.behind.dirtied(paths.dir);
      else if (r.kind === "patch") this.behind.dirtied(paths.dir);
    }
  }

  /** Write the snapshot of a complete index (after everything was flushed to the object files). */
  private saveSnapshot(index: ObjectIndex): void {
    try {
      const t0 = performance.now();
      const n = writeSnapshot(this.root, index, {
        fileBytes: (key) => this.usage.get(key) ?? 0,
        nextDelta: (key) => this.nextDelta.get(key) ?? 0,
        mtime: (path) => {
          try {
            return Deno.statSync(path).mtime?.getTime() ?? -1;
          } catch {
            return -1;
          }
        },
      }, this.capacity !== undefined);
      log("info", "index snapshot written", { objects: n, ms: Math.round(performance.now() - t0) });
    } catch (err) {
      log("warn", "index snapshot could not be written (the next start-up reads every file)", {
        error: String(err),
      });
    }
  }

  private paths(key: string): ObjectPaths {
    return objectPaths(this.root, key);
  }

  private forget(key: string): void {
    this.usage.drop(key);
    this.nextDelta.delete(key);
  }

  /** Quarantine a damaged object; returns the DATA_LOSS error to throw. */
  private damaged(err: DamagedObject, paths: ObjectPaths, indexed = true) {
    this.quarantine.move(err.key, paths, err.file, err.reason);
    this.forget(err.key);
    if (indexed) this.evicted.push(err.key);
    return dataLoss(`object ${err.key} is damaged and was quarantined: ${err.reason}`);
  }

  /** Delete least recently used objects (never `keep`) until the files fit in `capacity`. */
  private enforceCapacity(keep: string | undefined): void {
    const cap = this.capacity;
    if (cap === undefined || this.loading || this.usage.total <= cap) return;
    const victims: string[] = [];
    const dirty = new Set<string>();
    let projected = this.usage.total;
    for (const key of this.usage.keys()) {
      if (projected <= cap) break;
      if (key === keep) continue;
      victims.push(key);
      projected -= this.usage.get(key) ?? 0;
    }
    for (const key of victims) {
      const p = objectPaths(this.root, key);
      // A logged base not written yet must not be written after its eviction.
      this.pending.drop(key);
      try {
        if (removeQuietly(p.base)) dirty.add(p.dir);
        if (this.trash.move(p.deltas)) dirty.add(p.dir);
      } catch (err) {
        log("warn", "could not evict object over disk capacity", { key, error: String(err) });
        continue;
      }
      this.forget(key);
      this.evicted.push(key);
    }
    for (const dir of dirty) {
      try {
        syncDir(dir);
      } catch { /* an evicted object that reappears after a power cut is still a valid object */ }
    }
    this.trash.empty();
    if (victims.length) {
      log("info", "objects evicted from disk over capacity", {
        count: victims.length,
        capacity: cap,
        bytes: this.usage.total,
      });
    }
  }
}
