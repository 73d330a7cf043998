/**
 * The Python interpreter with pyarrow that cross-check tests use: `FLAME_TEST_PYTHON`, the interop
 * virtualenv (`.venv/`, which scripts/test.sh sets up before the Deno tests), or `python3`.
 * Undefined when none of them can import pyarrow (those tests are then skipped).
 *
 * @module
 */
const REPO = new URL("../../", import.meta.url).pathname;

/** Path or name of a Python that imports pyarrow, or undefined. */
export function findPyarrowPython(): string | undefined {
  const candidates = [Deno.env.get("FLAME_TEST_PYTHON"), `${REPO}.venv/bin/python`, "python3"];
  for (const py of candidates) {
    if (!py) continue;
    try {
      const r = new Deno.Command(py, { args: ["-c", "import pyarrow"], stdout: "null", stderr: "null" })
        .outputSync();
      if (r.success) return py;
    } catch {
      // not installed
    }
  }
  return undefined;
}

/** Why pyarrow tests are skipped when {@link findPyarrowPython} finds nothing. */
export const NO_PYARROW =
  "no Python with pyarrow (FLAME_TEST_PYTHON, .venv/bin/python or python3); run scripts/interop.sh once to create .venv";
