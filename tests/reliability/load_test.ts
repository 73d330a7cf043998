/**
 * Load with a checker, then a crash: 64 concurrent clients (one HTTP/2
 * connection each) run mixed put / get / update / patch / delete / seed-UPDATE
 * for LOAD_SECONDS (default 40) against a server on `--storage <dir>`. Every
 * payload carries its own SHA-256; every reply is checked against a per-key
 * model (owned keys: exact bytes and versions; shared keys written by all
 * clients: self-hash, versions strictly increasing per client and never
 * handed out twice). Then SIGKILL mid-load, restart on the same directory, and
 * every acknowledged write must be there with the right bytes and version -
 * or, for the one operation per client in flight at the kill, its result.
 */
import assert from "node:assert/strict";
import type http2 from "node:http2";
import { BSON } from "bson";
import { RecordBatchReader } from "apache-arrow";
import { startServer, type TestServer } from "../helpers/server.ts";
import {
  action,
  bytesMessage,
  concat,
  crashMarkers,
  dec,
  enc,
  FLIGHT,
  grpcFrame,
  grpcMessages,
  h2call,
  h2close,
  h2connect,
  listKeys,
  MiB,
  opaqueUpload,
  pbFields,
  S,
} from "./helpers.ts";

const SECONDS = Number(Deno.env.get("LOAD_SECONDS") ?? 40);
const CLIENTS = 64;
const SHARED_KEYS = 8;
const MAGIC = enc.encode("FLMLOAD1");

// ------------------------------------------------------------------ self-verifying payloads

let seq = 0;
async function makePayload(client: number, size: number): Promise<Uint8Array> {
  const body = new Uint8Array(Math.max(size, 56));
  body.set(MAGIC, 0);
  const dv = new DataView(body.buffer);
  dv.setUint16(8, client);
  dv.setUint32(10, ++seq);
  dv.setUint32(14, body.length);
  let x = (seq * 2654435761) >>> 0 || 1;
  for (let i = 18; i < body.length - 32; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    body[i] = x & 0xff;
  }
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", body.subarray(0, body.length - 32)));
  body.set(digest, body.length - 32);
  return body;
}

async function selfCheck(p: Uint8Array): Promise<string | null> {
  if (p.length < 56) return `payload of ${p.length} bytes`;
  for (let i = 0; i < 8; i++) if (p[i] !== MAGIC[i]) return "bad magic";
  if (new DataView(p.buffer, p.byteOffset).getUint32(14) !== p.length) {
    return "length field mismatch (truncated?)";
  }
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", p.slice(0, p.length - 32)));
  for (let i = 0; i < 32; i++) if (digest[i] !== p[p.length - 32 + i]) return "SHA-256 mismatch";
  return null;
}

function base64(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i += 8192) s += String.fromCharCode(...b.subarray(i, i + 8192));
  return btoa(s);
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function sizeFor(): number {
  const r = Math.random();
  return r < 0.6
    ? 64 + Math.floor(Math.random() * 2048)
    : r < 0.97
    ? 4096 + Math.floor(Math.random() * 60_000)
    : MiB;
}

// ------------------------------------------------------------------ protocol

interface Row {
  version: number;
  kind: string;
  data: Uint8Array;
}

function putResultVersion(data: Uint8Array): { key: string; version: number } {
  for (const m of grpcMessages(data)) {
    for (const f of pbFields(m)) {
      if (f.field === 1 && f.wire === 2) {
        const doc = BSON.deserialize(f.bytes, { useBigInt64: true });
        return { key: String(doc.key), version: Number(doc.version) };
      }
    }
  }
  throw new Error("no PutResult");
}

function readRows(data: Uint8Array): Row[] {
  const parts: Uint8Array[] = [];
  for (const m of grpcMessages(data)) {
    let header: Uint8Array = new Uint8Array(0);
    let body: Uint8Array = new Uint8Array(0);
    for (const f of pbFields(m)) {
      if (f.field === 2) header = f.bytes;
      if (f.field === 1000) body = f.bytes;
    }
    if (header.length === 0) continue;
    const pad = (8 - (header.length % 8)) % 8;
    const prefix = new Uint8Array(8);
    new DataView(prefix.buffer).setInt32(0, -1, true);
    new DataView(prefix.buffer).setInt32(4, header.length + pad, true);
    parts.push(prefix, header, new Uint8Array(pad), body);
  }
  parts.push(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]));
  const rows: Row[] = [];
  for (const batch of RecordBatchReader.from(concat(parts))) {
    const v = batch.getChild("version")!;
    const k = batch.getChild("kind")!;
    const d = batch.getChild("data")!;
    for (let i = 0; i < batch.numRows; i++) {
      rows.push({
        version: Number(v.get(i)),
        kind: String(k.get(i)),
        data: (d.get(i) as Uint8Array).slice(),
      });
    }
  }
  return rows;
}

// ------------------------------------------------------------------ the model

/** What a key holds after an acknowledged operation. */
interface KeyState {
  exists: boolean;
  version: number;
  base?: Uint8Array;
  baseVersion?: number;
  patches: { version: number; data: Uint8Array }[];
}

interface Owned {
  key: string;
  state: KeyState;
  /** The state the in-flight operation would produce, if one is in flight. */
  pending?: KeyState;
}

interface Stats {
  ops: Record<string, number>;
  violations: string[];
  bytesOut: number;
}

function sharedKey(i: number): string {
  return `ld/shared/k${i}`;
}

class Client {
  readonly owned: Owned[] = [];
  /** Highest version this client saw per shared key. */
  readonly sharedSeen = new Map<string, number>();
  /** (key, version) of every acknowledged shared write, and the payloads written there. */
  readonly sharedAcks: { key: string; version: number; payload: Uint8Array; kind: string }[] = [];
  readonly sharedPending: { key: string; payload: Uint8Array }[] = [];

  constructor(readonly id: number, readonly session: http2.ClientHttp2Session, readonly stats: Stats) {}

  private bad(msg: string) {
    if (this.stats.violations.length < 50) this.stats.violations.push(`client ${this.id}: ${msg}`);
  }

  private count(op: string) {
    this.stats.ops[op] = (this.stats.ops[op] ?? 0) + 1;
  }

  /** One random operation; returns false when the server is gone (stop). */
  async step(): Promise<boolean> {
    const r = Math.random();
    const live = this.owned.filter((o) => o.state.exists);
    if (this.owned.length < 4 || r < 0.08) return await this.create();
    if (r < 0.14) return await this.shared();
    const o = this.owned[Math.floor(Math.random() * this.owned.length)];
    if (r < 0.45) return await this.get(o);
    if (!o.state.exists || r < 0.6) return await this.update(o, r < 0.53 ? "DoPut" : "UPDATE");
    if (r < 0.93) return await this.patch(o);
    if (live.length > 3 || this.owned.length > 12) return await this.remove(o);
    return await this.get(o);
  }

  private async call(path: string, body: Uint8Array | Uint8Array[]) {
    const r = await h2call(this.session, path, body, { keep: true, timeoutMs: 30_000 });
    if (r.grpcStatus === undefined) return null; // connection gone (the kill)
    return r;
  }

  private unexpected(what: string, r: { grpcStatus?: number; grpcMessage?: string }) {
    this.bad(`${what}: unexpected status ${r.grpcStatus} ${r.grpcMessage ?? ""}`);
  }

  async create(): Promise<boolean> {
    const payload = await makePayload(this.id, sizeFor());
    const prefix = `ld/c${this.id}`;
    // The key is unknown until the answer: nothing to verify after a crash if it never comes.
    const r = await this.call(FLIGHT + "DoPut", opaqueUpload(prefix, [payload]).map((m) => grpcFrame(m)));
    if (!r) return false;
    this.count("put-new");
    if (r.grpcStatus !== 0) return this.unexpected("put-new", r), true;
    const ack = putResultVersion(r.data!);
    if (!ack.key.startsWith(prefix + "/") || ack.version !== 1) {
      this.bad(`put-new answered ${JSON.stringify(ack)}`);
    }
    this.owned.push({
      key: ack.key,
      state: { exists: true, version: ack.version, base: payload, baseVersion: ack.version, patches: [] },
    });
    this.stats.bytesOut += payload.length;
    return true;
  }

  async update(o: Owned, how: "DoPut" | "UPDATE"): Promise<boolean> {
    const payload = await makePayload(this.id, how === "UPDATE" ? Math.min(sizeFor(), 32_768) : sizeFor());
    const next = o.state.version + 1;
    o.pending = { exists: true, version: next, base: payload, baseVersion: next, patches: [] };
    const r = how === "DoPut"
      ? await this.call(FLIGHT + "DoPut", opaqueUpload(o.key, [payload]).map((m) => grpcFrame(m)))
      : await this.call(FLIGHT + "DoAction", grpcFrame(action("UPDATE", `${o.key}:${base64(payload)}`)));
    if (!r) return false;
    this.count(how === "DoPut" ? "update" : "seed-update");
    if (r.grpcStatus !== 0) {
      o.pending = undefined;
      return this.unexpected(how, r), true;
    }
    let version: number;
    if (how === "DoPut") version = putResultVersion(r.data!).version;
    else {
      const meta = JSON.parse(dec.decode(pbFields(grpcMessages(r.data!)[0])[0].bytes));
      version = Number(meta.version);
    }
    if (version !== next) {
      this.bad(`${how} ${o.key}: version ${version}, expected ${next} (after ${o.state.version})`);
    }
    o.state = { ...o.pending, version, baseVersion: version };
    o.pending = undefined;
    this.stats.bytesOut += payload.length;
    return true;
  }

  async patch(o: Owned): Promise<boolean> {
    const payload = await makePayload(this.id, 64 + Math.floor(Math.random() * 4000));
    const next = o.state.version + 1;
    o.pending = {
      ...o.state,
      version: next,
      patches: [...o.state.patches, { version: next, data: payload }],
    };
    const r = await this.call(
      FLIGHT + "DoPut",
      opaqueUpload(null, [payload], `PATCH:${o.key}`).map((m) => grpcFrame(m)),
    );
    if (!r) return false;
    this.count("patch");
    if (r.grpcStatus === S.RESOURCE_EXHAUSTED && o.state.patches.length >= 1000) {
      o.pending = undefined;
      return await this.update(o, "DoPut");
    }
    if (r.grpcStatus !== 0) {
      o.pending = undefined;
      return this.unexpected(`patch ${o.key}`, r), true;
    }
    const ack = putResultVersion(r.data!);
    if (ack.version !== next) this.bad(`patch ${o.key}: version ${ack.version}, expected ${next}`);
    o.state = o.pending;
    o.pending = undefined;
    this.stats.bytesOut += payload.length;
    return true;
  }

  async remove(o: Owned): Promise<boolean> {
    o.pending = { exists: false, version: o.state.version, patches: [] };
    const r = await this.call(FLIGHT + "DoAction", grpcFrame(action("DELETE", o.key)));
    if (!r) return false;
    this.count("delete");
    if (r.grpcStatus !== 0) {
      o.pending = undefined;
      return this.unexpected(`delete ${o.key}`, r), true;
    }
    o.state = o.pending;
    o.pending = undefined;
    // Deleted keys stay in the model (they must stay deleted); forget the oldest dead ones.
    if (this.owned.length > 24) {
      const i = this.owned.findIndex((x) => !x.state.exists && !x.pending);
      if (i >= 0) this.owned.splice(i, 1);
    }
    return true;
  }

  async get(o: Owned): Promise<boolean> {
    const r = await this.call(FLIGHT + "DoGet", grpcFrame(bytesMessage(enc.encode(o.key))));
    if (!r) return false;
    this.count("get");
    const problem = await checkObject(o.state, r);
    if (problem) this.bad(`get ${o.key}: ${problem}`);
    return true;
  }

  /** A write or read on a key every client uses. */
  async shared(): Promise<boolean> {
    const key = sharedKey(Math.floor(Math.random() * SHARED_KEYS));
    const r0 = Math.random();
    if (r0 < 0.4) {
      const r = await this.call(FLIGHT + "DoGet", grpcFrame(bytesMessage(enc.encode(key))));
      if (!r) return false;
      this.count("shared-get");
      if (r.grpcStatus === S.NOT_FOUND) return true;
      if (r.grpcStatus !== 0) return this.unexpected(`shared get ${key}`, r), true;
      const rows = readRows(r.data!);
      for (const row of rows) {
        const p = await selfCheck(row.data);
        if (p) this.bad(`shared get ${key} v${row.version}: ${p}`);
      }
      const v = rows.length ? rows[rows.length - 1].version : 0;
      if (v < (this.sharedSeen.get(key) ?? 0)) {
        this.bad(`shared ${key}: read v${v} after seeing v${this.sharedSeen.get(key)}`);
      }
      this.sharedSeen.set(key, Math.max(v, this.sharedSeen.get(key) ?? 0));
      return true;
    }
    const payload = await makePayload(this.id, 64 + Math.floor(Math.random() * 8000));
    const patch = r0 < 0.7;
    const pending = { key, payload };
    this.sharedPending.push(pending);
    const r = await this.call(
      FLIGHT + "DoPut",
      (patch ? opaqueUpload(null, [payload], `PATCH:${key}`) : opaqueUpload(key, [payload])).map((m) =>
        grpcFrame(m)
      ),
    );
    if (!r) return false;
    this.sharedPending.splice(this.sharedPending.indexOf(pending), 1);
    this.count(patch ? "shared-patch" : "shared-put");
    if (patch && (r.grpcStatus === S.NOT_FOUND || r.grpcStatus === S.RESOURCE_EXHAUSTED)) return true;
    if (r.grpcStatus !== 0) return this.unexpected(`shared write ${key}`, r), true;
    const ack = putResultVersion(r.data!);
    const seen = this.sharedSeen.get(key) ?? 0;
    if (ack.version <= seen) this.bad(`shared ${key}: write acked v${ack.version} after seeing v${seen}`);
    this.sharedSeen.set(key, ack.version);
    this.sharedAcks.push({ key, version: ack.version, payload, kind: patch ? "patch" : "base" });
    return true;
  }
}

/** Compare a DoGet answer with a model state; returns a problem or null. */
async function checkObject(
  state: KeyState,
  r: { grpcStatus?: number; grpcMessage?: string; data?: Uint8Array },
) {
  if (!state.exists) return r.grpcStatus === S.NOT_FOUND ? null : `deleted object answered ${r.grpcStatus}`;
  if (r.grpcStatus !== 0) return `status ${r.grpcStatus} ${r.grpcMessage ?? ""}`;
  const rows = readRows(r.data!);
  const want = [
    { version: state.baseVersion!, kind: "base", data: state.base! },
    ...state.patches.map((p) => ({ ...p, kind: "patch" })),
  ];
  if (rows.length !== want.length) return `${rows.length} rows, expected ${want.length}`;
  for (let i = 0; i < rows.length; i++) {
    const p = await selfCheck(rows[i].data);
    if (p) return `row ${i}: ${p}`;
    if (rows[i].version !== want[i].version || rows[i].kind !== want[i].kind) {
      return `row ${i}: ${rows[i].kind} v${rows[i].version}, expected ${want[i].kind} v${want[i].version}`;
    }
    if (!same(rows[i].data, want[i].data)) return `row ${i}: other bytes than acknowledged`;
  }
  return null;
}

Deno.test({
  name:
    `load: ${CLIENTS} clients, mixed ops with a checker, SIGKILL, restart: no acknowledged write lost or corrupted`,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "flame-load-" });
    let server: TestServer | undefined;
    const stats: Stats = { ops: {}, violations: [], bytesOut: 0 };
    const sessions: http2.ClientHttp2Session[] = [];
    try {
      // LOAD_STORAGE=none shows the checker at work: every write is then lost by the kill.
      const storage = Deno.env.get("LOAD_STORAGE") ?? dir;
      server = await startServer([], { storage });
      const clients: Client[] = [];
      for (let i = 0; i < CLIENTS; i++) {
        const s = await h2connect(server.port, { initialWindowSize: 4 * MiB });
        sessions.push(s);
        clients.push(new Client(i, s, stats));
      }
      // Seed the shared keys.
      for (let i = 0; i < SHARED_KEYS; i++) {
        const r = await h2call(
          sessions[0],
          FLIGHT + "DoPut",
          opaqueUpload(sharedKey(i), [await makePayload(999, 100)]).map((m) => grpcFrame(m)),
        );
        assert.equal(r.grpcStatus, 0);
      }
      let stop = false;
      const started = performance.now();
      const loops = clients.map(async (c) => {
        while (!stop) if (!(await c.step())) break;
      });
      await new Promise((r) => setTimeout(r, SECONDS * 1000));
      // Crash in the middle of the load.
      const killedAt = performance.now();
      await server.kill();
      stop = true;
      await Promise.all(loops);
      const loadMs = killedAt - started;
      for (const s of sessions) s.destroy();
      const totalOps = Object.values(stats.ops).reduce((a, b) => a + b, 0);
      assert.deepEqual(crashMarkers(server.logs()), [], "the server crashed before the kill");

      // Restart on the same directory and check every acknowledged write.
      server = await startServer([], { storage });
      const s = await h2connect(server.port, { initialWindowSize: 16 * MiB });
      sessions.push(s);
      const lost: string[] = [];
      let verified = 0;
      let inFlight = 0;
      const allKeys = new Set(await listKeys(server.port, s));
      for (const c of clients) {
        for (const o of c.owned) {
          const r = await h2call(s, FLIGHT + "DoGet", grpcFrame(bytesMessage(enc.encode(o.key))), {
            keep: true,
            timeoutMs: 30_000,
          });
          const asAcked = await checkObject(o.state, r);
          if (asAcked === null) {
            verified++;
            continue;
          }
          if (o.pending && (await checkObject(o.pending, r)) === null) {
            inFlight++;
            verified++;
            continue;
          }
          lost.push(`${o.key}: ${asAcked}${o.pending ? ` (an operation was in flight at the kill)` : ""}`);
        }
      }
      // Shared keys: present, self-verifying, never behind the newest acknowledged version.
      const versions = new Map<string, Set<number>>();
      for (const c of clients) {
        for (const a of c.sharedAcks) {
          const set = versions.get(`${a.key}`) ?? new Set();
          if (set.has(a.version)) lost.push(`${a.key}: version ${a.version} acknowledged to two writers`);
          set.add(a.version);
          versions.set(a.key, set);
        }
      }
      for (let i = 0; i < SHARED_KEYS; i++) {
        const key = sharedKey(i);
        const r = await h2call(s, FLIGHT + "DoGet", grpcFrame(bytesMessage(enc.encode(key))), { keep: true });
        if (r.grpcStatus !== 0) {
          lost.push(`${key}: ${r.grpcStatus} ${r.grpcMessage}`);
          continue;
        }
        const rows = readRows(r.data!);
        for (const row of rows) {
          const p = await selfCheck(row.data);
          if (p) lost.push(`${key} v${row.version}: ${p}`);
        }
        const newest = Math.max(0, ...(versions.get(key) ?? []));
        const v = rows.length ? rows[rows.length - 1].version : 0;
        if (v < newest) lost.push(`${key}: version ${v} after restart, ${newest} was acknowledged`);
        verified++;
      }
      const owned = clients.reduce((n, c) => n + c.owned.length, 0);
      const live = clients.reduce((n, c) => n + c.owned.filter((o) => o.state.exists).length, 0);
      console.log(
        `load: ${CLIENTS} clients for ${(loadMs / 1000).toFixed(1)} s on ${
          storage === dir ? "fs" : storage
        } storage: ${totalOps} ops (${Math.round(totalOps / (loadMs / 1000))}/s) ${
          JSON.stringify(stats.ops)
        }, ${
          (stats.bytesOut / MiB).toFixed(0)
        } MiB written; SIGKILL; restart: ${verified} keys verified (${owned} owned keys, ${live} live, ${SHARED_KEYS} shared; ${inFlight} showed the in-flight op's result), ${allKeys.size} keys listed, ${lost.length} lost/corrupted`,
      );
      assert.deepEqual(stats.violations, [], "checker violations during the load");
      assert.deepEqual(
        lost.slice(0, 30),
        [],
        `${lost.length} acknowledged writes lost or corrupted after SIGKILL + restart`,
      );
      assert.ok(totalOps > 1000, `only ${totalOps} operations ran`);
    } finally {
      for (const s of sessions) await h2close(s).catch(() => {});
      await server?.stop(5_000).catch(() => server?.kill());
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
