/**
 * The `{root}/.trash/` folder: whole objects and patch folders are removed by
 * one rename into it (atomic), then emptied in the background of the
 * operation. Start-up empties whatever a crash left there.
 *
 * @module
 */
import { ensureDir, removeQuietly, renameIfExists } from "./_io.ts";
import { randomHex, TRASH_DIR } from "./_layout.ts";

/** The trash folder of one store root. */
export class Trash {
  private readonly dir: string;
  private ready = false;

  constructor(private readonly root: string) {
    this.dir = `${root}/${TRASH_DIR}`;
  }

  /** Rename `path` into the trash; false when it does not exist. */
  move(path: string): boolean {
    if (!this.ready) {
      ensureDir(this.dir, this.root);
      this.ready = true;
    }
    return renameIfExists(path, `${this.dir}/${Date.now()}-${randomHex(12)}`);
  }

  /** Remove everything in the trash; returns the number of entries removed. */
  empty(atStart = false): number {
    let n = 0;
    try {
      for (const e of Deno.readDirSync(this.dir)) {
        removeQuietly(`${this.dir}/${e.name}`, true);
        n++;
      }
      this.ready = true;
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
      if (atStart) this.ready = false;
    }
    return n;
  }
}
