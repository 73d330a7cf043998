/**
 * The start-up walk: finds every object under the root, removes leftovers of interrupted writes (temp
 * files, stale patches, patch folders without a base) and stats each object from its file footers.
 *
 * Walked: `{root}/{a}/{b}/{c}.arrow` (key `a/b/c`) and `{root}/{a}/{b}.arrow` (two-part key `a/b`, the
 * seed's layout). `{x}.deltas` folders next to `{x}.arrow` are patch folders. The reserved folders
 * (`.trash`, `.quarantine`) are skipped; other names, dot-names included, are keys like any other.
 * Symbolic links are not followed.
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

/** Walk `root` (which must exist). */
export function scanRoot(root: string, inspector: Inspector, onDamaged: OnDamaged): RootScan {
  const counts: ScanCounts = {
    objects: 0,
    patches: 0,
    bytes: 0,
    fileBytes: 0,
    quarantined: 0,
    tempsRemoved: 0,
    stalePatchesRemoved: 0,
    orphanFoldersRemoved: 0,
  };
  const found: ObjectScan[] = [];

  const scanDir = (dir: string, prefix: string[]) => {
    const files: string[] = [];
    const dirs: string[] = [];
    for (const e of Deno.readDirSync(dir)) {
      if (e.isFile) {
        if (isTempName(e.name)) {
          if (removeQuietly(`${dir}/${e.name}`)) counts.tempsRemoved++;
        } else if (e.name.endsWith(ARROW_EXT)) {
          files.push(e.name);
        }
      } else if (e.isDirectory) {
        dirs.push(e.name);
      }
    }
    const fileSet = new Set(files);
    const dirSet = dirs.length > 0 ? new Set(dirs) : undefined;
    const keyPrefix = prefix.join("/") + "/";
    for (const name of files) {
      const stem = name.slice(0, -ARROW_EXT.length);
      const key = keyPrefix + stem;
      const deltas = dirSet?.has(stem + DELTAS_EXT) ? `${dir}/${stem}${DELTAS_EXT}` : null;
      try {
        const s = scanObject(inspector, key, `${dir}/${name}`, deltas, true);
        found.push(s);
        counts.objects++;
        counts.patches += s.stat.deltaCount;
        counts.bytes += s.stat.size;
        counts.fileBytes += s.fileBytes;
        counts.tempsRemoved += s.tempsRemoved;
        counts.stalePatchesRemoved += s.staleRemoved;
      } catch (err) {
        if (err instanceof Deno.errors.NotFound) continue;
        if (!(err instanceof DamagedObject)) throw err;
        onDamaged(err, objectPaths(root, key));
        counts.quarantined++;
      }
    }
    for (const name of dirs) {
      const path = `${dir}/${name}`;
      if (name.endsWith(DELTAS_EXT)) {
        const stem = name.slice(0, -DELTAS_EXT.length);
        if (fileSet.has(stem + ARROW_EXT)) continue; // patches of an object above
        if (prefix.length === 2 || isLeftoverPatchFolder(path)) {
          // Patches whose base is gone: the rest of an interrupted delete. Invisible, so just remove.
          removeQuietly(path, true);
          counts.orphanFoldersRemoved++;
          continue;
        }
      }
      if (prefix.length === 1) scanDir(path, [...prefix, name]);
    }
  };

  for (const e of Deno.readDirSync(root)) {
    if (e.isDirectory && !RESERVED.has(e.name)) {
      scanDir(`${root}/${e.name}`, [e.name]);
    } else if (e.isFile && isTempName(e.name)) {
      if (removeQuietly(`${root}/${e.name}`)) counts.tempsRemoved++;
    }
  }
  return { found, counts };
}
