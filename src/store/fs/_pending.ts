/**
 * Bases acknowledged through the write-ahead log whose files are not written yet. Creating a file is
 * the dearest step of a small put (0.5 ms of an ~0.6 ms in-process put here while other flushes were in
 * flight: ext4 waits for the journal), so the put only logs the bytes, and the next checkpoint writes
 * the files of all bases logged since, concurrently, off the store worker's thread (async file calls).
 * Until then reads are answered from here.
 *
 * A base is renamed into place only if it is still the key's latest (a newer put or a delete since
 * supersedes it: that newer operation is in a newer log segment).
 *
 * @module
 */
import { tempName } from "./_layout.ts";
import { ensureDir, removeQuietly, writeParts } from "./_io.ts";
import type { ObjectPaths } from "./_layout.ts";
import type { Delta, StoredObject } from "../types.ts";

/** Files written at once by a checkpoint. */
const PARALLEL = 64;

/** One pending base: the object as acknowledged (with patches added since) and its encoded file. */
export interface PendingBase {
  /** The object (own `deltas` array: patches acknowledged since are added to it). */
  obj: StoredObject;
  paths: ObjectPaths;
  parts: Uint8Array[];
  bytes: number;
}

/** The latest pending base of each key. */
export class PendingBases {
  private readonly map = new Map<string, PendingBase>();

  constructor(private readonly root: string) {}

  get size(): number {
    return this.map.size;
  }

  /** Remember the base `obj` (acknowledged; its file `parts` not written yet). */
  set(obj: StoredObject, paths: ObjectPaths, parts: Uint8Array[], bytes: number): void {
    this.map.set(obj.key, { obj: { ...obj, deltas: [...obj.deltas] }, paths, parts, bytes });
  }

  /** The object as acknowledged, for a read; undefined when its file is written (or never was pending). */
  get(key: string): StoredObject | undefined {
    const p = this.map.get(key);
    return p ? { ...p.obj, deltas: [...p.obj.deltas] } : undefined;
  }

  has(key: string): boolean {
    return this.map.has(key);
  }

  /** A patch acknowledged on a pending base (its own file is written at once). */
  addDelta(key: string, delta: Delta): void {
    this.map.get(key)?.obj.deltas.push(delta);
  }

  /** Forget `key` (deleted, or replaced by a write that bypasses the log). */
  drop(key: string): void {
    this.map.delete(key);
  }

  /** Keys pending, for prefix deletes. */
  keys(): string[] {
    return [...this.map.keys()];
  }

  /**
   * Write every base pending now: temp file, write, `fdatasync` (all concurrently), then rename each
   * that is still its key's latest. Returns the folders that changed (to be fsynced). Throws when a
   * base could not be written; the others are written, and the failed ones stay pending.
   */
  async writeAll(): Promise<Set<string>> {
    const batch = [...this.map.values()];
    const dirs = new Set<string>();
    let failure: unknown;
    for (let i = 0; i < batch.length; i += PARALLEL) {
      const slice = batch.slice(i, i + PARALLEL);
      const written = await Promise.allSettled(slice.map((p) => this.writeTemp(p)));
      written.forEach((w, k) => {
        const p = slice[k];
        if (w.status === "rejected") {
          failure ??= w.reason;
          return;
        }
        // A newer put or a delete since the batch began supersedes this file.
        if (this.map.get(p.obj.key) !== p) {
          removeQuietly(w.value);
          return;
        }
        try {
          Deno.renameSync(w.value, p.paths.base);
        } catch (err) {
          removeQuietly(w.value);
          failure ??= err;
          return;
        }
        this.map.delete(p.obj.key);
        dirs.add(p.paths.dir);
      });
    }
    if (failure !== undefined) throw failure;
    return dirs;
  }

  /** {@link writeAll}, synchronously (before a write that bypasses the log, and at a small close). */
  writeAllSync(): Set<string> {
    return this.writeSync([...this.map.values()]);
  }

  /** The pending base of `key` (if any), written now; returns its folder (to be fsynced). */
  writeKeySync(key: string): Set<string> {
    const p = this.map.get(key);
    return p ? this.writeSync([p]) : new Set();
  }

  private writeSync(batch: PendingBase[]): Set<string> {
    const dirs = new Set<string>();
    for (const p of batch) {
      const tmp = `${p.paths.dir}/${tempName(p.paths.baseName)}`;
      let file: Deno.FsFile;
      try {
        file = Deno.openSync(tmp, { write: true, createNew: true });
      } catch (err) {
        if (!(err instanceof Deno.errors.NotFound)) throw err;
        ensureDir(p.paths.dir, this.root);
        file = Deno.openSync(tmp, { write: true, createNew: true });
      }
      try {
        writeParts(file, p.parts);
        file.syncDataSync();
      } catch (err) {
        file.close();
        removeQuietly(tmp);
        throw err;
      }
      file.close();
      Deno.renameSync(tmp, p.paths.base);
      this.map.delete(p.obj.key);
      dirs.add(p.paths.dir);
    }
    return dirs;
  }

  private async writeTemp(p: PendingBase): Promise<string> {
    const tmp = `${p.paths.dir}/${tempName(p.paths.baseName)}`;
    let file: Deno.FsFile;
    try {
      file = await Deno.open(tmp, { write: true, createNew: true });
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
      ensureDir(p.paths.dir, this.root);
      file = await Deno.open(tmp, { write: true, createNew: true });
    }
    try {
      const bytes = p.parts.length === 1 ? p.parts[0] : concat(p.parts, p.bytes);
      let off = 0;
      while (off < bytes.byteLength) off += await file.write(bytes.subarray(off));
      await file.syncData();
    } catch (err) {
      file.close();
      removeQuietly(tmp);
      throw err;
    }
    file.close();
    return tmp;
  }
}

function concat(parts: Uint8Array[], n: number): Uint8Array {
  const out = new Uint8Array(n);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.byteLength;
  }
  return out;
}
