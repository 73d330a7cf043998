/**
 * The start-up walk: finds every object under the root, removes leftovers of interrupted writes (temp
 * files, stale patches, patch folders without a base) and stats each object from its file footers.
 *
 * Walked: `{root}/{a}/{b}/{c}.arrow` (key `a/b/c`) and `{root}/{a}/{b}.arrow` (two-part key `a/b`, the
 * seed's layout). `{x}.deltas` folders next to `{x}.arrow` are patch folders. The reserved folders
 * (`.trash`, `.quarantine`) are skipped; other names, dot-names included, are keys like any other.
 * Symbolic links are not followed.
 *
 * The walk runs in steps (one folder each, {@link FolderWalk.step}) while the cache already serves, so
 * it never removes what a write of this process is doing: temp files newer than the walk's start are
 * left alone, and objects the cache already knows (written or looked up since start) are skipped. With
 * a snapshot (_snapshot.ts), a session folder unchanged since it was written costs one `stat` instead of
 * opening each of its files.
 *
 * Ambiguity (documented): at the first level a folder `{b}.deltas` without a sibling `{b}.arrow` is either
 * the patch folder of a deleted two-part key (left by a crash mid-delete) or a session whose name ends in
 * `.deltas`. It is treated as a leftover patch folder, and removed, only when it holds nothing but
 * numbered patch files and temp files.
 *
 * @module
 */
import {
  ARROW_EXT,
  deltaNumber,
  DELTAS_EXT,
  isTempName,
  type ObjectPaths,
  objectPaths,
  RESERVED,
} from "./_layout.ts";
import { removeQuietly } from "./_io.ts";
import type { Inspector } from "./_inspect.ts";
import { DamagedObject, type ObjectScan, scanObject } from "./_objects.ts";
import type { Snapshot } from "./_snapshot.ts";

/** Counts of a start-up walk. */
export interface ScanCounts {
  objects: number;
  patches: number;
  /** Payload bytes of the objects found. */
  bytes: number;
  /** Bytes of their files on disk. */
  fileBytes: number;
  quarantined: number;
  tempsRemoved: number;
  stalePatchesRemoved: number;
  orphanFoldersRemoved: number;
  /** Objects taken from the snapshot without opening their files. */
  fromSnapshot: number;
}

/** Result of {@link scanRoot}. */
export interface RootScan {
  found: ObjectScan[];
  counts: ScanCounts;
}

/** Called for each damaged object; must move its files aside. */
export type OnDamaged = (err: DamagedObject, paths: ObjectPaths) => void;

function isLeftoverPatchFolder(path: string): boolean {
  try {
    for (const e of Deno.readDirSync(path)) {
      if (!e.isFile) return false;
      if (!isTempName(e.name) && !(e.name.endsWith(ARROW_EXT) && deltaNumber(e.name) >= 0)) return false;
    }
    return true;
  } catch {
    return false;
  }
}

/** Files opened per step of the walk (about 2-3 ms): requests are served between steps. */
export const FILES_PER_STEP = 128;

/** What a {@link FolderWalk} needs from the engine. */
export interface WalkHooks {
  inspector: Inspector;
  /** Moves a damaged object's files aside. */
  onDamaged: OnDamaged;
  /** True for keys the cache already indexed: skipped. */
  known(key: string): boolean;
  /** False when no key under the parent `app/session` is known (then no key needs checking). */
  knownIn(parent: string): boolean;
  /** A usable snapshot, or null (set to null once the walk is done, to free it). */
  snapshot: Snapshot | null;
  /** When the walk started (ms): temp files newer than this belong to writes of this process. */
  startedAt: number;
}

function mtimeOf(path: string): number {
  try {
    return Deno.statSync(path).mtime?.getTime() ?? -1;
  } catch {
    return -1;
  }
}

/** The start-up walk of `root` (which must exist), one folder per {@link FolderWalk.step}. */
export class FolderWalk {
  readonly counts: ScanCounts = {
    objects: 0,
    patches: 0,
    bytes: 0,
    fileBytes: 0,
    quarantined: 0,
    tempsRemoved: 0,
    stalePatchesRemoved: 0,
    orphanFoldersRemoved: 0,
    fromSnapshot: 0,
  };
  private readonly queue: { dir: string; prefix: string[] }[] = [];
  private next = 0;
  /** Files of the folder being scanned that are still to be opened, a chunk per step. */
  private files: {
    dir: string;
    keyPrefix: string;
    names: string[];
    deltas: Set<string> | undefined;
    at: number;
  } | null = null;

  constructor(private readonly root: string, private readonly hooks: WalkHooks) {
    for (const e of Deno.readDirSync(root)) {
      if (e.isDirectory && !RESERVED.has(e.name)) {
        this.queue.push({ dir: `${root}/${e.name}`, prefix: [e.name] });
      } else if (e.isFile && isTempName(e.name)) this.removeTemp(`${root}/${e.name}`);
    }
  }

  /** Folders found but not walked yet. */
  get pending(): number {
    return this.queue.length - this.next;
  }

  /**
   * Walk the next folder (or the next {@link FILES_PER_STEP} files of one whose files must be opened);
   * its objects, or null when every folder was walked.
   */
  step(): ObjectScan[] | null {
    if (this.files) return this.scanFiles(this.files);
    if (this.next >= this.queue.length) {
      this.hooks.snapshot?.close();
      this.hooks.snapshot = null;
      return null;
    }
    const item = this.queue[this.next++];
    if (this.next > 4096 && this.next * 2 > this.queue.length) {
      this.queue.splice(0, this.next);
      this.next = 0;
    }
    const found: ObjectScan[] = [];
    try {
      if (item.prefix.length === 2 && this.fromSnapshot(item.dir, item.prefix, found)) return found;
      this.scanDir(item.dir, item.prefix, found);
    } catch (err) {
      // A folder removed meanwhile (a delete) has nothing left to index.
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
    return found;
  }

  /** Give up the walk (the store closes before it is done): release the snapshot file. */
  stop(): void {
    this.queue.length = 0;
    this.next = 0;
    this.files = null;
    this.hooks.snapshot?.close();
    this.hooks.snapshot = null;
  }

  private removeTemp(path: string): void {
    try {
      if ((Deno.lstatSync(path).mtime?.getTime() ?? 0) >= this.hooks.startedAt) return;
    } catch {
      return;
    }
    if (removeQuietly(path)) this.counts.tempsRemoved++;
  }

  private add(s: ObjectScan, found: ObjectScan[]): void {
    found.push(s);
    const c = this.counts;
    c.objects++;
    c.patches += s.stat.deltaCount;
    c.bytes += s.stat.size;
    c.fileBytes += s.fileBytes;
    c.tempsRemoved += s.tempsRemoved;
    c.stalePatchesRemoved += s.staleRemoved;
  }

  /** Objects of a session folder from the snapshot; false when the folder changed since. */
  private fromSnapshot(dir: string, prefix: string[], found: ObjectScan[]): boolean {
    const snap = this.hooks.snapshot;
    if (!snap) return false;
    const mtime = mtimeOf(dir);
    if (mtime < 0) return true; // gone
    const rel = prefix.join("/");
    const objects = snap.folder(rel, mtime);
    if (!objects) return false;
    const check = this.hooks.knownIn(rel);
    for (const o of objects) {
      const key = o.stat.key;
      if (check && this.hooks.known(key)) continue;
      if (o.deltasMtime >= 0) {
        const name = key.slice(key.lastIndexOf("/") + 1);
        const deltas = `${dir}/${name}${DELTAS_EXT}`;
        const m = mtimeOf(deltas);
        if (m !== o.deltasMtime || !snap.settled(m)) {
          this.scanOne(key, `${dir}/${name}${ARROW_EXT}`, deltas, found);
          continue;
        }
      }
      this.add({
        stat: o.stat,
        fileBytes: o.fileBytes,
        nextDelta: o.nextDelta,
        staleRemoved: 0,
        tempsRemoved: 0,
      }, found);
      this.counts.fromSnapshot++;
    }
    return true;
  }

  private scanOne(key: string, base: string, deltas: string | null, found: ObjectScan[]): void {
    try {
      this.add(scanObject(this.hooks.inspector, key, base, deltas, true), found);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return;
      if (!(err instanceof DamagedObject)) throw err;
      this.hooks.onDamaged(err, objectPaths(this.root, key));
      this.counts.quarantined++;
    }
  }

  /** Open the next chunk of a folder's files. */
  private scanFiles(
    f: NonNullable<FolderWalk["files"]>,
    found: ObjectScan[] = [],
  ): ObjectScan[] {
    const end = Math.min(f.names.length, f.at + FILES_PER_STEP);
    for (; f.at < end; f.at++) {
      const name = f.names[f.at];
      const stem = name.slice(0, -ARROW_EXT.length);
      const key = f.keyPrefix + stem;
      if (this.hooks.known(key)) continue;
      const deltas = f.deltas?.has(stem + DELTAS_EXT) ? `${f.dir}/${stem}${DELTAS_EXT}` : null;
      this.scanOne(key, `${f.dir}/${name}`, deltas, found);
    }
    if (f.at >= f.names.length) this.files = null;
    return found;
  }

  private scanDir(dir: string, prefix: string[], found: ObjectScan[]): void {
    const files: string[] = [];
    const dirs: string[] = [];
    for (const e of Deno.readDirSync(dir)) {
      if (e.isFile) {
        if (isTempName(e.name)) this.removeTemp(`${dir}/${e.name}`);
        else if (e.name.endsWith(ARROW_EXT)) files.push(e.name);
      } else if (e.isDirectory) {
        dirs.push(e.name);
      }
    }
    const fileSet = new Set(files);
    const dirSet = dirs.length > 0 ? new Set(dirs) : undefined;
    const keyPrefix = prefix.join("/") + "/";
    if (files.length > 0) {
      this.files = { dir, keyPrefix, names: files, deltas: dirSet, at: 0 };
      this.scanFiles(this.files, found);
    }
    for (const name of dirs) {
      const path = `${dir}/${name}`;
      if (name.endsWith(DELTAS_EXT)) {
        const stem = name.slice(0, -DELTAS_EXT.length);
        if (fileSet.has(stem + ARROW_EXT)) continue; // patches of an object above
        if (this.hooks.known(keyPrefix + stem)) continue; // written since start
        if (prefix.length === 2 || isLeftoverPatchFolder(path)) {
          // Patches whose base is gone: the rest of an interrupted delete. Invisible, so just remove.
          removeQuietly(path, true);
          this.counts.orphanFoldersRemoved++;
          continue;
        }
      }
      if (prefix.length === 1) this.queue.push({ dir: path, prefix: [...prefix, name] });
    }
  }
}
