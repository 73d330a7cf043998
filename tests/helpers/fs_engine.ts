/**
 * The fs engine with a checkpoint after every write: tests of the on-disk Flame layout (file names,
 * patch folders, damage, crash leftovers) see each write's files at once, as a checkpoint leaves them.
 * The deferred writing itself (the write-ahead log, pending bases, replay) is tested in
 * tests/unit/store_fs_wal_test.ts and tests/reliability/wal_crash_test.ts.
 */
import { FsEngine } from "../../src/store/fs/mod.ts";
import type { CacheError } from "../../src/errors.ts";
import type { Delta, KeySelector, ObjectStat, StagedPayload, StoredObject } from "../../src/store/types.ts";

/** {@link FsEngine} that runs `checkpointNow()` after each write. */
export class CheckpointedFsEngine extends FsEngine {
  override writeBase(obj: StoredObject): void {
    super.writeBase(obj);
    this.checkpointNow();
  }

  override async writeBases(objs: StoredObject[]): Promise<(CacheError | null)[]> {
    const out = await super.writeBases(objs);
    this.checkpointNow();
    return out;
  }

  override appendDelta(key: string, delta: Delta, index: number): void {
    super.appendDelta(key, delta, index);
    this.checkpointNow();
  }

  override adoptStaged(key: string, version: number, staged: StagedPayload): ObjectStat {
    const stat = super.adoptStaged(key, version, staged);
    this.checkpointNow();
    return stat;
  }

  override remove(sel: KeySelector, keys: string[]): void {
    super.remove(sel, keys);
    this.checkpointNow();
  }
}

/** A test body run in a fresh temporary folder, removed afterwards. */
export function withRoot(
  fn: (root: string) => void | Promise<void>,
  prefix = "fs_engine_",
): () => Promise<void> {
  return async () => {
    const root = Deno.makeTempDirSync({ prefix });
    try {
      await fn(root);
    } finally {
      Deno.removeSync(root, { recursive: true });
    }
  };
}

/** Every entry under `dir`, folders with a trailing `/`, sorted. */
export function listTree(dir: string, prefix = ""): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(dir)) {
    const rel = prefix + e.name;
    if (e.isDirectory) out.push(rel + "/", ...listTree(`${dir}/${e.name}`, rel + "/"));
    else out.push(rel);
  }
  return out.sort();
}
