/**
 * The fs engine's write-ahead log behind a real server, in both durability modes: concurrent clients put,
 * update, patch and delete (exact keys and whole sessions) while the server is SIGKILLed mid-load. After
 * a restart every acknowledged write is there with its bytes and versions, and each key shows either its
 * last acknowledged state or the state after the one operation that was in flight on it. A clean stop
 * leaves pure Flame layout (no `.wal` folder).
 *
 * SIGKILL keeps the page cache, so this checks that nothing acknowledged lives only in the process (both
 * modes promise that), not the flush against a power cut.
 */
import assert from "node:assert/strict";
import { BSON } from "bson";
import {
  connect,
  doAction,
  doGet,
  doPut,
  type FlightClient,
  flightDataToTable,
  opaqueFlightData,
  readRows,
  statusOf,
} from "../helpers/flight_client.ts";
import { startServer } from "../helpers/server.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const WORKERS = 12;
const KEYS_PER_WORKER = 3;
const LOAD_MS = 1500;

/** What a key holds: its base text and its patch texts (absent = deleted or never written). */
type Content = string[];
type World = Map<string, Content>;

function text(key: string, n: number, what: string): string {
  // Sizes from a few bytes to a few KiB, so records of different lengths share log segments.
  return `${key}#${n}:${what}|` + "x".repeat((n * 733) % 3000);
}

async function put(client: FlightClient, key: string, body: string): Promise<number> {
  const msgs = opaqueFlightData([enc.encode(body)]);
  msgs[0].flight_descriptor = { type: 1, path: [key] };
  const r = await doPut(client, msgs);
  return (BSON.deserialize(r[0], { promoteLongs: true }) as { version: number }).version;
}

async function patch(client: FlightClient, key: string, body: string): Promise<number> {
  const msgs = opaqueFlightData([enc.encode(body)]);
  msgs[0].flight_descriptor = { type: 2, cmd: enc.encode(`PATCH:${key}`) };
  const r = await doPut(client, msgs);
  return (BSON.deserialize(r[0], { promoteLongs: true }) as { version: number }).version;
}

async function read(client: FlightClient, key: string): Promise<Content | undefined> {
  const got = await statusOf(doGet(client, `${key}:0`));
  if (got.code === 5) return undefined; // NOT_FOUND
  assert.equal(got.code, 0, `get ${key}: ${got.details}`);
  return readRows(flightDataToTable(await doGet(client, `${key}:0`))).map((r) => dec.decode(r.data));
}

/** One client's loop over its own keys (so per-key order is its own); returns when `stop()` is true. */
async function worker(
  client: FlightClient,
  app: string,
  w: number,
  world: World,
  inflight: Map<number, (world: World) => void>,
  stop: () => boolean,
): Promise<void> {
  const keys = Array.from({ length: KEYS_PER_WORKER }, (_, j) => `${app}/s${w}/k${j}`);
  for (let n = 0; !stop(); n++) {
    const key = keys[n % keys.length];
    const cur = world.get(key);
    const r = (n * 7919 + w * 104729) % 100;
    let apply: (world: World) => void;
    let call: () => Promise<unknown>;
    if (cur && r < 35) {
      const body = text(key, n, "patch");
      apply = (m) => m.get(key)!.push(body);
      call = () => patch(client, key, body);
    } else if (cur && r < 45) {
      apply = (m) => m.delete(key);
      call = () => doAction(client, "DELETE", key);
    } else if (r < 48) {
      apply = (m) => keys.forEach((k) => m.delete(k));
      call = () => doAction(client, "DELETE", `${app}/s${w}`);
    } else {
      const body = text(key, n, "base");
      apply = (m) => m.set(key, [body]);
      call = () => put(client, key, body);
    }
    inflight.set(w, apply);
    try {
      await call();
    } catch {
      return; // the server was killed: this operation may or may not have happened
    }
    apply(world);
    inflight.delete(w);
  }
}

/** One round on app `app` (each round its own app, so earlier rounds' objects stay out of the way). */
async function crashRound(root: string, durability: string, app: string): Promise<void> {
  const world: World = new Map();
  const inflight = new Map<number, (world: World) => void>();
  const server = await startServer(["--storage", root, "--durability", durability]);
  const clients = Array.from({ length: WORKERS }, () => connect(server.address));
  let stopped = false;
  const loops = clients.map((c, w) => worker(c, app, w, world, inflight, () => stopped));
  await new Promise((r) => setTimeout(r, LOAD_MS));
  await server.kill();
  stopped = true;
  await Promise.all(loops);
  for (const c of clients) c.close();

  const again = await startServer(["--storage", root, "--durability", durability]);
  const client = connect(again.address);
  try {
    let acked = 0;
    for (let w = 0; w < WORKERS; w++) {
      const after: World = new Map([...world].map(([k, v]) => [k, [...v]]));
      inflight.get(w)?.(after);
      for (let j = 0; j < KEYS_PER_WORKER; j++) {
        const key = `${app}/s${w}/k${j}`;
        const got = await read(client, key);
        const before = world.get(key);
        const ok = JSON.stringify(got) === JSON.stringify(before) ||
          (inflight.has(w) && JSON.stringify(got) === JSON.stringify(after.get(key)));
        assert.ok(
          ok,
          `${durability}: ${key} is ${JSON.stringify(got)?.slice(0, 200)}, acknowledged ${
            JSON.stringify(before)?.slice(0, 200)
          }`,
        );
        if (before) acked++;
      }
    }
    assert.ok(acked > 0, "the load acknowledged something before the kill");
    assert.doesNotMatch(again.logs(), /quarantin(e|ed)\b.*"key"/, "a kill never damages a file");
  } finally {
    client.close();
    await again.stop();
  }
  // A clean stop checkpoints and removes the log: the folder is Flame layout again.
  const top = [...Deno.readDirSync(root)].map((e) => e.name).sort();
  assert.ok(!top.includes(".wal"), `no write-ahead log after a clean stop: ${top.join(", ")}`);
}

for (const durability of ["sync", "relaxed"]) {
  Deno.test({
    name: `wal crash (${durability}): SIGKILL mid-load loses no acknowledged put, update, patch or delete`,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      const root = Deno.makeTempDirSync({ prefix: `wal_crash_${durability}_` });
      try {
        for (let round = 0; round < 3; round++) await crashRound(root, durability, `wal${round}`);
      } finally {
        Deno.removeSync(root, { recursive: true });
      }
    },
  });
}
