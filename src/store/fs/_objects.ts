/**
 * One object on disk (base file plus `.deltas` folder): its index metadata from footers only
 * ({@link scanObject}, used at start-up and by probe) or its whole content, verified
 * ({@link loadObject}).
 *
 * @module
 */
import type { Delta, ObjectStat, StoredObject } from "../types.ts";
import { decodeObjectFile } from "./_codec.ts";
import { type DeltaFile, planDeltas, sortDeltaNames } from "./_deltas.ts";
import type { FileInfo, Inspector } from "./_inspect.ts";
import { readWhole, removeQuietly, syncDir } from "./_io.ts";
import { isTempName, type ObjectPaths } from "./_layout.ts";

/** A file of an object is damaged; the whole object must be quarantined. */
export class DamagedObject extends Error {
  constructor(readonly key: string, readonly file: string, readonly reason: string) {
    super(`object ${key} is damaged (${file}): ${reason}`);
    this.name = "DamagedObject";
  }
}

function reasonOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Names in a `.deltas` folder: patch files, and temp files (removed when `cleanup`). Null if absent. */
function listDeltas(dir: string, cleanup: boolean): { names: string[]; temps: number } | null {
  const names: string[] = [];
  let temps = 0;
  try {
    for (const e of Deno.readDirSync(dir)) {
      if (!e.isFile) continue;
      if (isTempName(e.name)) {
        if (cleanup && removeQuietly(`${dir}/${e.name}`)) temps++;
        continue;
      }
      names.push(e.name);
    }
  } catch (err) {
    if (err instanceof Deno.errors.NotFound || err instanceof Deno.errors.NotADirectory) return null;
    throw err;
  }
  return { names: sortDeltaNames(names), temps };
}

/** Index metadata of an object found on disk. */
export interface ObjectScan {
  stat: ObjectStat;
  /** Bytes of its files on disk (base and counted patches). */
  fileBytes: number;
  /** Next free patch file number. */
  nextDelta: number;
  /** Stale patch files removed (only with `cleanup`). */
  staleRemoved: number;
  /** Temp files removed from the `.deltas` folder (only with `cleanup`). */
  tempsRemoved: number;
}

/**
 * Stat an object from file footers: base file `base`, patches in the folder `deltas` (null when the
 * caller knows there is none). With `cleanup` (start-up only, when nothing else writes) temp files and
 * stale patches are removed. Throws Deno.errors.NotFound when the base file does not exist and
 * {@link DamagedObject} when a file does not parse or the patch versions are inconsistent.
 */
export function scanObject(
  inspector: Inspector,
  key: string,
  base: string,
  deltas: string | null,
  cleanup: boolean,
): ObjectScan {
  let info: FileInfo;
  try {
    info = inspector.inspect(base);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) throw err;
    throw new DamagedObject(key, base, reasonOf(err));
  }
  if (deltas === null) {
    return {
      stat: {
        key,
        version: info.version,
        baseVersion: info.version,
        size: info.size,
        deltaCount: 0,
        kind: info.kind,
        rows: info.rows,
        modified: info.mtime,
      },
      fileBytes: info.fileBytes,
      nextDelta: 0,
      staleRemoved: 0,
      tempsRemoved: 0,
    };
  }
  return scanDeltas(inspector, key, info, deltas, cleanup);
}

function scanDeltas(
  inspector: Inspector,
  key: string,
  base: FileInfo,
  dir: string,
  cleanup: boolean,
): ObjectScan {
  const listing = listDeltas(dir, cleanup);
  const files: (DeltaFile & { info: FileInfo })[] = [];
  for (const name of listing?.names ?? []) {
    const path = `${dir}/${name}`;
    try {
      const info = inspector.inspect(path);
      if (info.kind !== "opaque") throw new Error("a patch file must hold an opaque row");
      files.push({ name, version: info.version, info });
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) continue;
      throw new DamagedObject(key, path, reasonOf(err));
    }
  }
  const plan = planDeltas(base.version, files);
  if (plan.broken) {
    throw new DamagedObject(key, `${dir}/${plan.broken.name}`, "patch versions do not increase");
  }
  let staleRemoved = 0;
  if (cleanup && plan.stale.length > 0) {
    if (plan.live.length === 0) {
      removeQuietly(dir, true);
      syncDir(dir.slice(0, dir.lastIndexOf("/")));
    } else {
      for (const f of plan.stale) removeQuietly(`${dir}/${f.name}`);
      syncDir(dir);
    }
    staleRemoved = plan.stale.length;
  }
  let size = base.size;
  let fileBytes = base.fileBytes;
  let modified = base.mtime;
  for (const { file } of plan.live) {
    size += file.info.size;
    fileBytes += file.info.fileBytes;
    modified = Math.max(modified, file.info.mtime);
  }
  const last = plan.live.length > 0 ? plan.live[plan.live.length - 1].version : base.version;
  return {
    stat: {
      key,
      version: last,
      baseVersion: base.version,
      size,
      deltaCount: plan.live.length,
      kind: base.kind,
      rows: base.rows,
      modified,
    },
    fileBytes,
    nextDelta: plan.next,
    staleRemoved,
    tempsRemoved: listing?.temps ?? 0,
  };
}

/** A whole object read from disk. */
export interface LoadedObject {
  obj: StoredObject;
  fileBytes: number;
  nextDelta: number;
  modified: number;
}

/**
 * Read and verify a whole object. Null when the base file does not exist. Throws {@link DamagedObject}
 * when a file does not parse, fails its checksum, or the patch versions are inconsistent. Stale patches
 * are skipped (never removed here).
 */
export function loadObject(key: string, paths: ObjectPaths): LoadedObject | null {
  let bytes: Uint8Array;
  let modified: number;
  try {
    ({ bytes, mtime: modified } = readWhole(paths.base));
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return null;
    throw new DamagedObject(key, paths.base, reasonOf(err));
  }
  let base;
  try {
    base = decodeObjectFile(bytes);
  } catch (err) {
    throw new DamagedObject(key, paths.base, reasonOf(err));
  }
  let fileBytes = bytes.byteLength;
  const files: (DeltaFile & { data: Uint8Array; fileBytes: number; mtime: number })[] = [];
  for (const name of listDeltas(paths.deltas, false)?.names ?? []) {
    const path = `${paths.deltas}/${name}`;
    try {
      const file = readWhole(path);
      const d = decodeObjectFile(file.bytes);
      if (d.body.type !== "opaque") throw new Error("a patch file must hold an opaque row");
      files.push({
        name,
        version: d.version,
        data: d.body.data,
        fileBytes: file.bytes.byteLength,
        mtime: file.mtime,
      });
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) continue;
      throw new DamagedObject(key, path, reasonOf(err));
    }
  }
  const plan = planDeltas(base.version, files);
  if (plan.broken) {
    throw new DamagedObject(key, `${paths.deltas}/${plan.broken.name}`, "patch versions do not increase");
  }
  const deltas: Delta[] = plan.live.map(({ file, version }) => {
    fileBytes += file.fileBytes;
    modified = Math.max(modified, file.mtime);
    return { version, data: file.data };
  });
  return {
    obj: { key, baseVersion: base.version, body: base.body, deltas },
    fileBytes,
    nextDelta: plan.next,
    modified,
  };
}
