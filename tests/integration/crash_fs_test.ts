/**
 * Crash test of the fs engine: a child process (crash_writer.ts) puts, updates, patches and deletes
 * known keys in a loop and is SIGKILLed at random moments. After each kill the folder is reopened and
 * must show every acknowledged write with the right bytes and version, and nothing half-done: each
 * key's visible state is either the acknowledged one or the one after the single in-flight operation.
 * Nothing may be quarantined (a kill never damages a file).
 *
 * SIGKILL keeps the page cache, so this checks atomicity and ordering, not fsync against power loss.
 */
import assert from "node:assert/strict";
import { CacheCore } from "../../src/store/_core.ts";
import { FsEngine } from "../../src/store/fs/mod.ts";
import { CRASH_KEYS, selfVerifies, sha256 } from "./crash_writer.ts";

const ROUNDS = 8;
const DEADLINE_MS = 55_000;
const WRITER = new URL("./crash_writer.ts", import.meta.url).pathname;
const REPO = new URL("../../", import.meta.url).pathname;

interface KeyState {
  version: number;
  base: string;
  deltas: { version: number; sha: string }[];
}
type World = Map<string, KeyState>;

interface Op {
  t: "intent" | "ack" | "open";
  n: number;
  op: "put" | "patch" | "delete" | "deletePrefix";
  key?: string;
  prefix?: string;
  version?: number;
  sha?: string;
}

function apply(world: World, op: Op): World {
  const next: World = new Map([...world].map(([k, v]) => [k, { ...v, deltas: [...v.deltas] }]));
  switch (op.op) {
    case "put":
      next.set(op.key!, { version: op.version!, base: op.sha!, deltas: [] });
      break;
    case "patch": {
      const s = next.get(op.key!);
      assert.ok(s, `patch of absent key ${op.key}`);
      s.deltas.push({ version: op.version!, sha: op.sha! });
      s.version = op.version!;
      break;
    }
    case "delete":
      next.delete(op.key!);
      break;
    case "deletePrefix":
      for (const k of [...next.keys()]) if (k === op.prefix || k.startsWith(op.prefix + "/")) next.delete(k);
      break;
  }
  return next;
}

function show(world: World): string {
  return JSON.stringify([...world].sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** What a fresh engine sees in the folder; checks every payload verifies itself. */
async function observe(root: string): Promise<{ world: World; summary: string }> {
  const cache = new CacheCore(new FsEngine(root), {
    policy: "lru",
    maxMemory: 1 << 30,
    maxObjects: Infinity,
  });
  const summary = cache.open();
  const world: World = new Map();
  for (const st of cache.list({ value: "", exact: false })) {
    assert.ok(CRASH_KEYS.includes(st.key), `unexpected key ${st.key}`);
    const obj = cache.get(st.key);
    assert.equal(obj.body.type, "opaque");
    const data = (obj.body as { data: Uint8Array }).data;
    assert.ok(selfVerifies(data), `base of ${st.key} does not verify itself`);
    for (const d of obj.deltas) assert.ok(selfVerifies(d.data), `patch ${d.version} of ${st.key} is torn`);
    world.set(st.key, {
      version: st.version,
      base: sha256(data),
      deltas: obj.deltas.map((d) => ({ version: d.version, sha: sha256(d.data) })),
    });
  }
  // A clean stop: replayed files flushed and the log removed before the next writer starts.
  await cache.close();
  return { world, summary };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test({
  name: "crash: SIGKILLed writer never leaves acknowledged writes lost or a write half-visible",
  sanitizeResources: false,
  fn: async () => {
    const started = Date.now();
    const root = Deno.makeTempDirSync({ prefix: "crash_fs_" });
    let world: World = new Map();
    let acked = 0;
    let inFlightApplied = 0;
    let staged = 0;
    try {
      for (let round = 0; round < ROUNDS; round++) {
        assert.ok(Date.now() - started < DEADLINE_MS, "crash test ran out of time");
        const child = new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "--allow-all",
            WRITER,
            root,
            String(1000 + round * 7919 + Math.floor(Math.random() * 1e6)),
          ],
          cwd: REPO,
          stdout: "piped",
          stderr: "piped",
        }).spawn();
        let out = "";
        let err = "";
        const dec = new TextDecoder();
        const pump = async (s: ReadableStream<Uint8Array>, sink: (t: string) => void) => {
          for await (const chunk of s) sink(dec.decode(chunk, { stream: true }));
        };
        const pumps = Promise.all([
          pump(child.stdout, (t) => (out += t)),
          pump(child.stderr, (t) => (err += t)),
        ]);
        try {
          const waitUntil = Date.now() + 20_000;
          while (!out.includes('"t":"ack"')) {
            assert.ok(Date.now() < waitUntil, `writer produced no acknowledged write; stderr:\n${err}`);
            await sleep(20);
          }
          await sleep(300 + Math.random() * 1200);
        } finally {
          try {
            child.kill("SIGKILL");
          } catch {
            // already gone
          }
          await child.status;
          await pumps;
        }
        // Only complete lines count.
        const lines = out.slice(0, out.lastIndexOf("\n") + 1).split("\n").filter((l) => l !== "");
        let pending: Op | undefined;
        for (const line of lines) {
          const op = JSON.parse(line) as Op;
          if (op.t === "intent") {
            pending = op;
          } else if (op.t === "ack") {
            assert.equal(op.n, pending?.n, "ack without intent");
            if (op.version !== undefined) {
              assert.equal(op.version, pending!.version, "writer predicted the version");
            }
            world = apply(world, op);
            acked++;
            pending = undefined;
          }
        }
        const { world: seen, summary } = await observe(root);
        assert.match(summary, / 0 quarantined/, summary);
        staged += lines.filter((l) => l.includes('"staged":true') && l.includes('"t":"intent"')).length;
        const candidates = [world];
        if (pending) candidates.push(apply(world, pending));
        const match = candidates.findIndex((w) => show(w) === show(seen));
        assert.ok(
          match >= 0,
          `round ${round}: folder does not match the acknowledged state` +
            `${pending ? ` or the in-flight ${JSON.stringify(pending)}` : ""}\nexpected ${
              show(world)
            }\nseen     ${show(seen)}`,
        );
        if (match === 1) inFlightApplied++;
        world = seen;
      }
      console.log(
        `crash test: ${ROUNDS} kills, ${acked} acknowledged writes (${staged} staged uploads), ` +
          `${inFlightApplied} in-flight writes visible`,
      );
      assert.ok(acked > ROUNDS, "the writer made progress");
      assert.ok(staged > 0, "some uploads went through staging files");
    } finally {
      Deno.removeSync(root, { recursive: true });
    }
  },
});
