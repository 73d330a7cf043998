/**
 * Moving damaged objects aside: their base file and `.deltas` folder go to `{root}/.quarantine/` under
 * names that keep their relative path (`app%2Fsession%2Fobject.arrow~20260101T000000Z-1a2b3c`), and one
 * JSON line per object is logged to stderr. Nothing is deleted, so an operator can inspect or restore.
 *
 * @module
 */
import { log } from "../../log.ts";
import { ensureDir, renameIfExists, syncDir } from "./_io.ts";
import { type ObjectPaths, QUARANTINE_DIR, quarantineName } from "./_layout.ts";

/** Moves damaged objects into the quarantine folder. */
export class Quarantine {
  /** Objects quarantined since start. */
  count = 0;
  private readonly dir: string;

  constructor(private readonly root: string) {
    this.dir = `${root}/${QUARANTINE_DIR}`;
  }

  /**
   * Move the files of `key` aside and log why. `file` is the damaged file (absolute). Returns the
   * quarantine names used. Never throws: a failure to move is logged (the object then stays damaged
   * in place and keeps failing with DATA_LOSS).
   */
  move(key: string, paths: ObjectPaths, file: string, reason: string): string[] {
    const moved: string[] = [];
    try {
      ensureDir(this.dir, this.root);
      const now = new Date();
      const baseTo = quarantineName(paths.rel, now);
      if (renameIfExists(paths.base, `${this.dir}/${baseTo}`)) moved.push(baseTo);
      const deltasRel = paths.rel.slice(0, -".arrow".length) + ".deltas";
      const deltasTo = quarantineName(deltasRel, now);
      if (renameIfExists(paths.deltas, `${this.dir}/${deltasTo}`)) moved.push(deltasTo);
      syncDir(paths.dir);
      syncDir(this.dir);
      this.count++;
      log("error", "damaged object quarantined", {
        key,
        file: file.startsWith(this.root + "/") ? file.slice(this.root.length + 1) : file,
        reason,
        quarantine: moved.map((m) => `${QUARANTINE_DIR}/${m}`),
      });
    } catch (err) {
      log("error", "damaged object could not be quarantined", { key, file, reason, error: String(err) });
    }
    return moved;
  }
}
