/**
 * Files written behind the write-ahead log (or, with `durability: relaxed`, behind nothing): renamed into
 * place without a flush, remembered here, and flushed later by a checkpoint, many at once (the device
 * merges concurrent flushes: 1000 such files took ~0.08 ms each here, against ~4-8 ms for one crash-safe
 * file on its own; bench/wal_probe.ts).
 *
 * A checkpoint takes the current generation (files, folders, keys), seals the log segment that covers
 * it, flushes every file and folder of the generation concurrently, then removes the sealed segments.
 * Checkpoints run one at a time in the background of the store worker; a file replaced or removed
 * meanwhile is skipped (the newer operation is in a newer segment).
 *
 * @module
 */
import { log } from "../../log.ts";
import { type KeySelector, selects } from "../types.ts";
import { syncDir } from "./_io.ts";
import type { PendingBases } from "./_pending.ts";
import type { WriteAheadLog } from "./_wal.ts";

/** Start a checkpoint at once when this many files are waiting. */
const MAX_FILES = 4096;
/** Start a checkpoint at once when the current log segment is this large. */
const MAX_SEGMENT_BYTES = 64 * 1024 * 1024;
/** Close flushes up to this many files and folders one by one, synchronously. */
const SYNC_CLOSE_MAX = 32;
/** Flushes in flight at once. */
const PARALLEL = 128;

interface Generation {
  files: Set<string>;
  dirs: Set<string>;
  keys: Set<string>;
  deletes: KeySelector[];
}

function generation(): Generation {
  return { files: new Set(), dirs: new Set(), keys: new Set(), deletes: [] };
}

/** Writes not flushed yet, and the checkpoints that flush them. */
export class WriteBehind {
  private cur = generation();
  private inflight: Generation[] = [];
  private running?: Promise<void>;
  private timer?: ReturnType<typeof setTimeout>;
  private closed = false;
  /** Segments left by a crash and replayed at start-up: dropped by the first checkpoint. */
  replayedUpTo = 0;
  /** Checkpoints completed (for tests and logs). */
  checkpoints = 0;

  /**
   * @param wal the log whose sealed segments a checkpoint removes
   * @param bases the logged bases whose files a checkpoint writes
   * @param intervalMs how long a logged write may wait for its checkpoint
   */
  constructor(
    private readonly wal: WriteAheadLog,
    private readonly bases: PendingBases,
    private readonly intervalMs: number,
  ) {}

  /** A write of `key` was logged (its file is written by the next checkpoint). */
  logged(key: string): void {
    this.cur.keys.add(key);
  }

  /** `path` (in folder `dir`, of object `key`) was renamed into place without a flush. */
  wrote(path: string, dir: string, key: string): void {
    this.cur.files.add(path);
    this.cur.dirs.add(dir);
    this.cur.keys.add(key);
  }

  /** An entry of folder `dir` was created, renamed or removed without a flush of `dir`. */
  dirtied(dir: string): void {
    this.cur.dirs.add(dir);
  }

  /** The objects selected by `sel` were deleted without flushing their folders. */
  deleted(sel: KeySelector): void {
    this.cur.deletes.push(sel);
  }

  /**
   * True when a logged record not yet checkpointed may touch `key`: a write that bypasses the log
   * (a large upload) must wait for a checkpoint, or replay could undo it.
   */
  touches(key: string): boolean {
    for (const g of [this.cur, ...this.inflight]) {
      if (g.keys.has(key) || g.deletes.some((sel) => selects(sel, key))) return true;
    }
    return false;
  }

  /** After a write: start a checkpoint now when much is waiting, else make sure one is due. */
  schedule(): void {
    if (this.closed) return;
    if (
      this.cur.files.size + this.bases.size >= MAX_FILES || this.wal.bytes >= MAX_SEGMENT_BYTES
    ) {
      void this.checkpoint();
      return;
    }
    if (this.timer !== undefined) return;
    const timer = setTimeout(async () => {
      this.timer = undefined;
      // A checkpoint still running took its generation before these writes: wait for it, then take
      // them at once (not an interval later), so a write waits at most about one interval for its flush.
      await this.running;
      await this.checkpoint();
      if (!this.empty(this.cur) || this.bases.size > 0 || this.wal.bytes > 0) this.schedule();
    }, this.intervalMs);
    // A tool or test that forgets to close must not be kept alive by it (close flushes anyway).
    Deno.unrefTimer(timer);
    this.timer = timer;
  }

  /** Flush the current generation and remove the log segments it makes unnecessary (one at a time). */
  checkpoint(): Promise<void> {
    if (this.running) return this.running;
    if (this.empty(this.cur) && this.bases.size === 0 && this.wal.bytes === 0 && this.replayedUpTo === 0) {
      return Promise.resolve();
    }
    const gen = this.cur;
    this.cur = generation();
    let sealed: number | undefined;
    try {
      sealed = this.wal.bytes > 0 ? this.wal.rotate() : undefined;
    } catch (err) {
      this.merge(gen);
      log("warn", "write-ahead log could not be rotated (retried at the next checkpoint)", {
        error: String(err),
      });
      return Promise.resolve();
    }
    const upTo = Math.max(sealed ?? 0, this.replayedUpTo);
    this.inflight.push(gen);
    this.running = (async () => {
      try {
        // Every base logged up to the sealed segment is pending now (later ones may be written too).
        for (const dir of await this.bases.writeAll()) gen.dirs.add(dir);
        await flushAll(gen);
        if (upTo > 0) this.wal.drop(upTo);
        if (this.replayedUpTo <= upTo) this.replayedUpTo = 0;
        this.checkpoints++;
      } catch (err) {
        // The segments stay; the next checkpoint flushes these files again and removes them.
        this.merge(gen);
        log("warn", "checkpoint failed (retried)", { error: String(err) });
      } finally {
        this.inflight = this.inflight.filter((g) => g !== gen);
        this.running = undefined;
      }
    })();
    return this.running;
  }

  /** Flush everything now, synchronously (before a write that bypasses the log). */
  drainSync(rotate = true): void {
    for (const dir of this.bases.writeAllSync()) this.cur.dirs.add(dir);
    const gens = [...this.inflight, this.cur];
    for (const g of gens) {
      for (const f of g.files) syncQuietly(f, false);
      for (const d of g.dirs) syncQuietly(d, true);
    }
    this.cur = generation();
    // Every sealed segment is covered now, those of in-flight checkpoints too: all bases are written
    // and every file and folder of every generation flushed.
    if (rotate) {
      if (this.wal.bytes > 0) this.wal.rotate();
      this.wal.drop(Math.max(this.wal.current, this.replayedUpTo));
    }
    this.replayedUpTo = 0;
    for (const g of this.inflight) {
      g.keys.clear();
      g.deletes.length = 0;
    }
  }

  /**
   * Stop the timer, flush everything and remove the log: the folder is then pure Flame layout. With
   * few files waiting (tools, tests) this is done synchronously, else concurrently (a promise).
   */
  close(): void | Promise<void> {
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.running && this.cur.files.size + this.cur.dirs.size + this.bases.size <= SYNC_CLOSE_MAX) {
      this.drainSync(false);
      this.wal.remove();
      return;
    }
    return (async () => {
      await this.running;
      const gen = this.cur;
      this.cur = generation();
      for (const dir of await this.bases.writeAll()) gen.dirs.add(dir);
      await flushAll(gen);
      this.wal.remove();
    })();
  }

  private empty(g: Generation): boolean {
    return g.files.size === 0 && g.dirs.size === 0 && g.deletes.length === 0;
  }

  private merge(g: Generation): void {
    for (const f of g.files) this.cur.files.add(f);
    for (const d of g.dirs) this.cur.dirs.add(d);
    for (const k of g.keys) this.cur.keys.add(k);
    this.cur.deletes.push(...g.deletes);
  }
}

/** Flush files, then their folders; a path that is gone was replaced or removed later (skipped). */
async function flushAll(g: Generation): Promise<void> {
  await flushPaths([...g.files], false);
  await flushPaths([...g.dirs], true);
}

async function flushPaths(paths: string[], dirs: boolean): Promise<void> {
  for (let i = 0; i < paths.length; i += PARALLEL) {
    await Promise.all(
      paths.slice(i, i + PARALLEL).map(async (p) => {
        let f: Deno.FsFile;
        try {
          f = await Deno.open(p, { read: true });
        } catch (err) {
          if (err instanceof Deno.errors.NotFound || err instanceof Deno.errors.NotADirectory) return;
          throw err;
        }
        try {
          await (dirs ? f.sync() : f.syncData());
        } finally {
          f.close();
        }
      }),
    );
  }
}

function syncQuietly(path: string, dir: boolean): void {
  if (dir) {
    try {
      syncDir(path);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
    return;
  }
  let f: Deno.FsFile;
  try {
    f = Deno.openSync(path, { read: true });
  } catch (err) {
    if (err instanceof Deno.errors.NotFound || err instanceof Deno.errors.NotADirectory) return;
    throw err;
  }
  try {
    f.syncDataSync();
  } finally {
    f.close();
  }
}
