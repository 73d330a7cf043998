/**
 * Tests that need something the machine may lack (pyarrow, chromium, etcd,
 * SeaweedFS, h2spec, systemd-analyze, ...) are skipped through here, so a skip
 * always says why, and CI cannot skip silently:
 *
 * ```ts
 * Deno.test({ name: "...", ignore: skipUnless("pyarrow", PY !== undefined, "no Python with pyarrow"), fn });
 * ```
 *
 * A skip prints one line `SKIPPED: <what>: <reason>` on stderr and, when
 * `TEST_SKIP_LOG` names a file, appends it there (scripts/test.sh runs
 * `deno test --quiet`, which hides output printed while tests load, and counts
 * that file's lines). When `CI=true` and the missing thing is one CI installs
 * ({@link CI_DEPENDENCIES}), the skip becomes a failing test named
 * `missing in CI: <what>` instead.
 *
 * @module
 */

/** What CI is expected to provide (.ci/run and scripts/test.sh install or set them up). */
export const CI_DEPENDENCIES: ReadonlySet<string> = new Set([
  "pyarrow",
  "chromium",
  "etcd",
  "weed",
  "h2spec",
]);

/** True in CI (`CI=true`, as GitHub Actions and most CI systems set it). */
export const IN_CI: boolean = (Deno.env.get("CI") ?? "").toLowerCase() === "true";

const reported = new Set<string>();

/**
 * The `ignore` value for a test that needs `what`: false when `available`;
 * otherwise true, after printing why. In CI, a missing {@link CI_DEPENDENCIES}
 * entry also registers one failing test, so the run fails.
 */
export function skipUnless(what: string, available: boolean, reason: string): boolean {
  if (available) return false;
  const line = `SKIPPED: ${what}: ${reason}`;
  if (!reported.has(line)) {
    reported.add(line);
    console.error(line);
    const log = Deno.env.get("TEST_SKIP_LOG");
    if (log) Deno.writeTextFileSync(log, `${line}\n`, { append: true });
    if (IN_CI && CI_DEPENDENCIES.has(what)) {
      Deno.test(`missing in CI: ${what}`, () => {
        throw new Error(`${what} is required in CI (CI=true) but missing: ${reason}`);
      });
    }
  }
  return true;
}
