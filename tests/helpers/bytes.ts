/**
 * Small byte helpers shared by the Arrow unit tests.
 *
 * @module
 */
import assert from "node:assert/strict";
import { IpcError } from "../../src/arrow/mod.ts";

/** Join byte arrays into one. */
export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** `n` deterministic, non-repeating-looking bytes. */
export function bytes(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed * 7 + (i >> 8)) & 0xff;
  return out;
}

/** Assert that `fn` throws an IpcError (whose message matches `re`, if given). */
export function throwsIpc(fn: () => unknown, re?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof IpcError, `expected IpcError, got ${e}`);
    if (re) assert.match(e.message, re);
    return true;
  });
}
