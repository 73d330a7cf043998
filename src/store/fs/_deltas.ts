/**
 * Which patch files of an object count, and with which versions.
 *
 * The base file's version is the truth. A patch counts only when its version is greater than the base
 * version; patches at or below it are stale leftovers of an update that crashed after writing the new
 * base and before dropping the old `.deltas` folder (an update's new base version is always greater
 * than every patch it replaces). Legacy patches stored with version 0 under a version-0 base get Flame's
 * synthetic version `base + position + 1`. The counted patches must then have strictly increasing
 * versions in file-number order; anything else is damage.
 *
 * @module
 */
import { ARROW_EXT, deltaNumber } from "./_layout.ts";

/** A patch file as found in a `.deltas` folder. */
export interface DeltaFile {
  /** File name, e.g. `3.arrow`. */
  name: string;
  /** Stored version (0 for legacy patches). */
  version: number;
}

/** The outcome of {@link planDeltas}. */
export interface DeltaPlan<T extends DeltaFile> {
  /** Patches that count, in order, with their effective versions. */
  live: { file: T; version: number }[];
  /** Stale patches (version <= base version). */
  stale: T[];
  /** First patch whose version does not increase, when the sequence is damaged. */
  broken?: T;
  /** Next free patch number: highest numbered file + 1. */
  next: number;
}

/** Patch files of a folder listing, in Flame's order: by number, non-numeric names last (by name). */
export function sortDeltaNames(names: string[]): string[] {
  const keyed = names.filter((n) => n.endsWith(ARROW_EXT)).map((n) => ({ n, k: deltaNumber(n) }));
  keyed.sort((a, b) => {
    if (a.k >= 0 && b.k >= 0) return a.k - b.k;
    if (a.k >= 0) return -1;
    if (b.k >= 0) return 1;
    return a.n < b.n ? -1 : a.n > b.n ? 1 : 0;
  });
  return keyed.map((x) => x.n);
}

/** Decide which of `files` (already in {@link sortDeltaNames} order) count for a base at `baseVersion`. */
export function planDeltas<T extends DeltaFile>(baseVersion: number, files: T[]): DeltaPlan<T> {
  const plan: DeltaPlan<T> = { live: [], stale: [], next: 0 };
  let last = baseVersion;
  files.forEach((file, pos) => {
    plan.next = Math.max(plan.next, deltaNumber(file.name) + 1);
    const version = file.version === 0 && baseVersion === 0 ? pos + 1 : file.version;
    if (version <= baseVersion) {
      plan.stale.push(file);
      return;
    }
    if (plan.broken) return;
    if (version <= last) {
      plan.broken = file;
      return;
    }
    plan.live.push({ file, version });
    last = version;
  });
  return plan;
}
