/**
 * `rejectsWith(fn, Class)`: asserts that `fn` rejects with an instance of `Class` and returns that error,
 * so a test can check its fields (node:assert's `rejects` does not return the error).
 *
 * @module
 */
import assert from "node:assert/strict";

export async function rejectsWith<E extends Error>(
  fn: () => Promise<unknown>,
  type: new (...args: never[]) => E,
): Promise<E> {
  try {
    await fn();
  } catch (err) {
    assert.ok(err instanceof type, `expected ${type.name}, got ${err instanceof Error ? err.stack : err}`);
    return err;
  }
  assert.fail(`expected a rejection with ${type.name}`);
}
