/**
 * Child process for crash_fs_test.ts: writes to a cache folder through CacheCore + FsEngine in an
 * endless loop until it is killed.
 *
 * `deno run --allow-all tests/integration/crash_writer.ts ROOT SEED`
 *
 * Every operation is announced on stdout as a JSON line before the engine call
 * (`{"t":"intent",...}`) and acknowledged after it returns (`{"t":"ack",...}`), each with a synchronous
 * write, so the parent knows which writes were acknowledged and which one may have been in flight.
 * Payloads verify themselves: the first 32 bytes are the SHA-256 of the rest, and the rest starts with
 * the key and version as text.
 */
import { createHash } from "node:crypto";
import { CacheCore } from "../../src/store/_core.ts";
import { FsEngine } from "../../src/store/fs/mod.ts";
import { createStager } from "../../src/store/fs/_staging.ts";
import type { ObjectBody, StagedPayload } from "../../src/store/types.ts";

/** Keys the writer uses (two sessions of one app, plus a two-part key). */
export const CRASH_KEYS = [
  "crash/s0/a",
  "crash/s0/b",
  "crash/s0/c",
  "crash/s1/a",
  "crash/s1/b",
  "crash/s1/c",
  "crash2/s/x",
  "seed/two",
];

const out = new TextEncoder();

function emit(line: Record<string, unknown>): void {
  const bytes = out.encode(JSON.stringify(line) + "\n");
  let off = 0;
  while (off < bytes.length) off += Deno.stdout.writeSync(bytes.subarray(off));
}

/** Small deterministic PRNG (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** hex SHA-256. */
export function sha256(b: Uint8Array): string {
  return createHash("sha256").update(b).digest("hex");
}

/** A payload whose first 32 bytes are the SHA-256 of the rest. */
function payload(label: string, size: number, rand: () => number): Uint8Array {
  const head = out.encode(label + "|");
  const rest = new Uint8Array(Math.max(size, head.length));
  rest.set(head);
  for (let i = head.length; i < rest.length; i += 4) {
    const v = (rand() * 2 ** 32) >>> 0;
    rest[i] = v & 0xff;
    if (i + 1 < rest.length) rest[i + 1] = (v >>> 8) & 0xff;
    if (i + 2 < rest.length) rest[i + 2] = (v >>> 16) & 0xff;
    if (i + 3 < rest.length) rest[i + 3] = v >>> 24;
  }
  const all = new Uint8Array(32 + rest.length);
  all.set(createHash("sha256").update(rest).digest(), 0);
  all.set(rest, 32);
  return all;
}

/** True when `b` is a self-verifying payload. */
export function selfVerifies(b: Uint8Array): boolean {
  if (b.length < 32) return false;
  const want = createHash("sha256").update(b.subarray(32)).digest();
  return want.every((x, i) => x === b[i]);
}

function size(rand: () => number): number {
  const r = rand();
  if (r < 0.1) return (1 << 20) << Math.floor(rand() * 2); // 1 or 2 MiB: a wide window for a kill mid-write
  if (r < 0.4) return Math.floor(rand() * 200_000);
  return Math.floor(rand() * 4000);
}

if (import.meta.main) {
  const [root, seedText] = Deno.args;
  const rand = rng(Number(seedText ?? 1));
  const cache = new CacheCore(new FsEngine(root), {
    policy: "lru",
    maxMemory: 32 << 20,
    maxObjects: Infinity,
  });
  emit({ t: "open", summary: cache.open() });
  const stager = createStager(root);
  const tombstones = new Map<string, number>();
  for (let n = 0;; n++) {
    const key = CRASH_KEYS[Math.floor(rand() * CRASH_KEYS.length)];
    const current = cache.stat(key);
    const r = rand();
    if (current && r < 0.45 && current.deltaCount < 50) {
      const version = current.version + 1;
      const data = payload(`${key}@${version}`, size(rand), rand);
      const sha = sha256(data);
      emit({ t: "intent", n, op: "patch", key, version, sha });
      const st = cache.patch(key, data);
      emit({ t: "ack", n, op: "patch", key, version: st.version, sha });
    } else if (current && r < 0.55) {
      emit({ t: "intent", n, op: "delete", key });
      cache.delete({ value: key, exact: true });
      tombstones.set(key, current.version);
      emit({ t: "ack", n, op: "delete", key });
    } else if (r < 0.58) {
      const prefix = key.split("/").slice(0, -1).join("/");
      emit({ t: "intent", n, op: "deletePrefix", prefix });
      for (const s of cache.list({ value: prefix, exact: false })) tombstones.set(s.key, s.version);
      cache.delete({ value: prefix, exact: false });
      emit({ t: "ack", n, op: "deletePrefix", prefix });
    } else {
      const version = (current?.version ?? tombstones.get(key) ?? 0) + 1;
      const staged = rand() < 0.15;
      const data = payload(
        `${key}@${version}`,
        staged ? (1 << 20) + Math.floor(rand() * (2 << 20)) : size(rand),
        rand,
      );
      const sha = sha256(data);
      // Large uploads arrive through a staging file, as the server spills them.
      let body: ObjectBody | StagedPayload = { type: "opaque", data };
      if (staged) {
        const w = await stager(key);
        for (let i = 0; i < data.length; i += 256 << 10) await w.write(data.subarray(i, i + (256 << 10)));
        body = await w.finish();
      }
      emit({ t: "intent", n, op: "put", key, version, sha, staged });
      const st = cache.put(key, body);
      emit({ t: "ack", n, op: "put", key, version: st.version, sha });
    }
  }
}
