/**
 * A bounded, self-checking load for cluster fault tests, through the project's own client SDK.
 *
 * K workers each own their keys, so what every key must hold is known at any time: a worker is the only
 * writer of its keys and runs one call at a time. Each worker mixes puts of new objects (under a few
 * sessions; server-chosen ids), updates and patches of its keys, and gets of its keys. Payloads are derived
 * from (worker, attempt, seed), mostly 1-64 KiB with a few of 1-4 MiB. Every call has a deadline.
 *
 * What is checked, per phase (a phase is one fault and the load around it):
 * - every acknowledged write: its ref names the balancer; its version is exactly the key's previous one
 *   plus one (a version handed out twice, or skipped, is an error) and a new key starts at 1;
 * - every get: the version and bytes (base and each patch, by SHA-256) are the key's current state;
 * - {@link LoadGenerator.verifyAll}: after the fault, the latest acknowledged state of EVERY key is read
 *   through the balancer (with its latest ref) and must match.
 * A write that fails has an unknown outcome (it may have committed, or may still commit later). Its key is
 * frozen: never written again, and its reads may show the last acknowledged state or that write's.
 *
 * Failures are classified: UNAVAILABLE (retryable; allowed during a fault, counted), DEADLINE_EXCEEDED
 * (counted apart), anything else (an error, with examples kept).
 *
 * @module
 */
import { CacheClientError, FlameCacheClient, type ObjectRef, Status } from "../../src/client/mod.ts";

/**
 * Default deadline of every call: above the server's worst case for a stalled tier (two 10 s tier requests),
 * so such calls must come back UNAVAILABLE, not run into the deadline.
 */
export const CALL_DEADLINE_MS = 30_000;

const KIB = 1024;
const MIB = 1024 * KIB;

/** Load settings. */
export interface LoadOptions {
  /** The balancer endpoint (`grpc://...`): every call goes there, and every ref must name it. */
  endpoint: string;
  /** Application name of every key (`app/session/object`). */
  app: string;
  workers?: number;
  /** Sessions per worker. */
  sessions?: number;
  /** Seed of the payloads (any value; printed so a failure can be replayed). */
  seed?: number;
  /** Deadline of each call. */
  timeoutMs?: number;
  /** Share of puts/updates that are 1-4 MiB (default 0.03). */
  largeShare?: number;
  /** Pause after an UNAVAILABLE before the worker's next call (default 100 ms). */
  backoffMs?: number;
  /** Pause between a worker's calls (default 20 ms): bounds the rate on a shared machine. */
  thinkMs?: number;
  /**
   * Writable keys per worker (default 40; all keys at most 3x): at the limit a put becomes an update, so
   * verification stays bounded.
   */
  keysPerWorker?: number;
}

/** Counts of one phase. */
export interface PhaseStats {
  name: string;
  ops: number;
  succeeded: number;
  /** Acknowledged puts, updates and patches. */
  ackedWrites: number;
  gets: number;
  unavailable: number;
  deadlineExceeded: number;
  otherFailures: number;
  wrongBytes: number;
  /** Acknowledged versions that were not exactly previous + 1 (twice handed out, or gone backwards). */
  badVersions: number;
  /** Refs that did not name the balancer. */
  badRefs: number;
  /** Reads in verifyAll whose key did not hold its latest acknowledged state. */
  lostWrites: number;
  /** Keys read by verifyAll. */
  verifiedKeys: number;
  /** Failure examples (codes and messages), at most 8. */
  examples: string[];
  /** UNAVAILABLE messages, at most 4 (why calls were refused, for the report). */
  unavailableExamples: string[];
}

/** The content a key holds: its version, and SHA-256 of the base and of each patch. */
interface KeyState {
  version: number;
  base: string;
  patches: string[];
}

/** One key of one worker. */
interface OwnedKey {
  ref: ObjectRef;
  state: KeyState;
  /** A failed write's resulting state, when the key is frozen (that write may have committed). */
  maybe?: KeyState;
}

/** Deterministic pseudo-random bytes (xorshift32) from a seed string. */
export function payload(seedText: string, size: number): Uint8Array {
  let h = 2166136261;
  for (let i = 0; i < seedText.length; i++) h = Math.imul(h ^ seedText.charCodeAt(i), 16777619);
  let x = h >>> 0 || 1;
  const words = new Uint32Array(Math.ceil(size / 4));
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x >>> 0;
  }
  return new Uint8Array(words.buffer, 0, size);
}

async function sha256(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

function sameState(a: KeyState, b: KeyState): boolean {
  return a.version === b.version && a.base === b.base && a.patches.join() === b.patches.join();
}

function showState(s: KeyState): string {
  return `v${s.version} base ${s.base.slice(0, 8)} patches [${
    s.patches.map((p) => p.slice(0, 8)).join(",")
  }]`;
}

function newStats(name: string): PhaseStats {
  return {
    name,
    ops: 0,
    succeeded: 0,
    ackedWrites: 0,
    gets: 0,
    unavailable: 0,
    deadlineExceeded: 0,
    otherFailures: 0,
    wrongBytes: 0,
    badVersions: 0,
    badRefs: 0,
    lostWrites: 0,
    verifiedKeys: 0,
    examples: [],
    unavailableExamples: [],
  };
}

/** Mulberry32: a small seeded PRNG for the workers' choices. */
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

/** The load: start it, switch phases, pause it to verify, resume, stop. */
export class LoadGenerator {
  readonly seed: number;
  readonly phases: PhaseStats[] = [];
  readonly #opts: Required<LoadOptions>;
  readonly #keys: OwnedKey[][] = [];
  #clients: FlameCacheClient[] = [];
  #running: Promise<void>[] = [];
  #stopping = false;
  #phase: PhaseStats = newStats("start");

  constructor(options: LoadOptions) {
    this.#opts = {
      workers: 6,
      sessions: 3,
      seed: Math.floor(Math.random() * 2 ** 31),
      timeoutMs: CALL_DEADLINE_MS,
      largeShare: 0.03,
      backoffMs: 100,
      thinkMs: 20,
      keysPerWorker: 40,
      ...options,
    };
    this.seed = this.#opts.seed;
    for (let w = 0; w < this.#opts.workers; w++) this.#keys.push([]);
  }

  /** The counts of the current phase. */
  get current(): PhaseStats {
    return this.#phase;
  }

  /** Every acknowledged key so far. */
  get keyCount(): number {
    return this.#keys.reduce((n, k) => n + k.length, 0);
  }

  /** Start counting into a new phase named `name`. */
  phase(name: string): PhaseStats {
    this.#phase = newStats(name);
    this.phases.push(this.#phase);
    return this.#phase;
  }

  /** Start (or resume) the workers; each has its own connection to the balancer. */
  async start(): Promise<void> {
    if (this.#running.length) return;
    if (this.#clients.length === 0) {
      this.#clients = await Promise.all(
        this.#keys.map(() =>
          FlameCacheClient.connect(this.#opts.endpoint, { cache: false, lazy: true, connectTimeoutMs: 5000 })
        ),
      );
    }
    this.#stopping = false;
    this.#running = this.#keys.map((_, w) => this.#work(w));
  }

  /** Let every worker finish its call, then return (the load is paused until {@link start}). */
  async pause(): Promise<void> {
    this.#stopping = true;
    await Promise.all(this.#running);
    this.#running = [];
  }

  /**
   * Read EVERY key through the balancer with its latest ref (the load must be paused) and compare with
   * its latest acknowledged state (`via`: through that endpoint instead, e.g. one replica directly). A read failing with UNAVAILABLE is tried again (up to 5 times, counted).
   */
  async verifyAll(options: { via?: string; concurrency?: number } = {}): Promise<void> {
    if (this.#running.length) throw new Error("verifyAll needs the load paused");
    const stats = this.#phase;
    const all = this.#keys.flat();
    let next = 0;
    const client = options.via
      ? await FlameCacheClient.connect(options.via, { cache: false, lazy: true })
      : this.#clients[0];
    const one = async () => {
      while (next < all.length) {
        const key = all[next++];
        for (let attempt = 0;; attempt++) {
          try {
            const got = await this.#read(client, key.ref);
            stats.verifiedKeys++;
            if (!this.#matches(key, got)) {
              stats.lostWrites++;
              this.#example(
                `verify ${key.ref.key}: holds ${showState(got)}, acknowledged ${showState(key.state)}`,
              );
            }
            break;
          } catch (err) {
            const code = err instanceof CacheClientError ? err.code : -1;
            if (code === Status.UNAVAILABLE && attempt < 5) {
              stats.unavailable++;
              await delay(200);
              continue;
            }
            stats.lostWrites++;
            this.#classify(err, `verify ${key.ref.key}`);
            break;
          }
        }
      }
    };
    try {
      await Promise.all(Array.from({ length: options.concurrency ?? 6 }, one));
    } finally {
      if (options.via) await client.close();
    }
  }

  /** Stop the workers and close the connections. */
  async close(): Promise<void> {
    await this.pause();
    await Promise.all(this.#clients.map((c) => c.close().catch(() => {})));
    this.#clients = [];
  }

  // --- the workers ---------------------------------------------------------------------------------

  async #work(w: number): Promise<void> {
    const random = rng(this.seed * 31 + w + this.phases.length * 1009);
    const client = this.#clients[w];
    const keys = this.#keys[w];
    while (!this.#stopping) {
      const writable = keys.filter((k) => !k.maybe);
      const r = random();
      const attempt = `${this.seed}/${w}/${this.phases.length}/${this.#phase.ops}/${r}`;
      let failed: unknown;
      const stats = this.#phase;
      stats.ops++;
      try {
        // Frozen keys do not count (a tier outage freezes many), up to a hard limit of 3x.
        const canPut = writable.length < this.#opts.keysPerWorker &&
          keys.length < 3 * this.#opts.keysPerWorker;
        if (canPut && (writable.length < 3 || r < 0.2)) await this.#put(client, w, keys, random, attempt);
        else if (writable.length === 0) await this.#get(client, pick(keys, random));
        else if (r < 0.4) await this.#update(client, pick(writable, random), random, attempt);
        else if (r < 0.55) await this.#patch(client, pick(writable, random), random, attempt);
        else await this.#get(client, pick(keys, random));
        stats.succeeded++;
      } catch (err) {
        failed = err;
      }
      if (failed !== undefined) {
        const code = this.#classify(failed, `worker ${w}`);
        if (code === Status.UNAVAILABLE) await delay(this.#opts.backoffMs);
      }
      await delay(this.#opts.thinkMs);
    }
  }

  #size(random: () => number): number {
    if (random() < this.#opts.largeShare) return MIB + Math.floor(random() * 3 * MIB);
    return KIB + Math.floor(random() * 63 * KIB);
  }

  async #put(client: FlameCacheClient, w: number, keys: OwnedKey[], random: () => number, attempt: string) {
    const session = `${this.#opts.app}/w${w}-s${Math.floor(random() * this.#opts.sessions)}`;
    const data = payload(attempt, this.#size(random));
    const ref = await client.putObject(session, data, { timeoutMs: this.#opts.timeoutMs });
    // A failed put of a server-chosen key leaves nothing this worker could know about: no state to track.
    const state = { version: ref.version, base: await sha256(data), patches: [] };
    this.#acked(ref, { version: 0, base: "", patches: [] }, state);
    keys.push({ ref, state });
  }

  async #update(client: FlameCacheClient, key: OwnedKey, random: () => number, attempt: string) {
    const data = payload(attempt, this.#size(random));
    const next = { version: key.state.version + 1, base: await sha256(data), patches: [] };
    key.maybe = next; // until acknowledged: a failure leaves the key frozen with this possible state
    const ref = await client.updateObject(key.ref, data, { timeoutMs: this.#opts.timeoutMs });
    key.maybe = undefined;
    this.#acked(ref, key.state, { ...next, version: ref.version });
    key.ref = ref;
    key.state = { ...next, version: ref.version };
  }

  async #patch(client: FlameCacheClient, key: OwnedKey, random: () => number, attempt: string) {
    if (key.state.patches.length >= 20) return await this.#update(client, key, random, attempt);
    const data = payload(attempt, 64 + Math.floor(random() * 8 * KIB));
    const next = {
      version: key.state.version + 1,
      base: key.state.base,
      patches: [...key.state.patches, await sha256(data)],
    };
    key.maybe = next;
    const ref = await client.patchObject(key.ref, data, { timeoutMs: this.#opts.timeoutMs });
    key.maybe = undefined;
    this.#acked(ref, key.state, { ...next, version: ref.version });
    key.ref = ref;
    key.state = { ...next, version: ref.version };
  }

  async #get(client: FlameCacheClient, key: OwnedKey) {
    const got = await this.#read(client, key.ref);
    this.#phase.gets++;
    if (!this.#matches(key, got)) {
      this.#phase.wrongBytes++;
      this.#example(`get ${key.ref.key}: read ${showState(got)}, expected ${showState(key.state)}`);
    }
  }

  /** Read a key through the balancer and describe what it holds. */
  async #read(client: FlameCacheClient, ref: ObjectRef): Promise<KeyState> {
    const obj = await client.getObject(ref, { timeoutMs: this.#opts.timeoutMs });
    if (obj.kind !== "opaque") throw new Error(`${ref.key} came back as a ${obj.kind} object`);
    const patches = await Promise.all(obj.patches.map((p) => sha256(p.data)));
    return { version: obj.version, base: await sha256(obj.base), patches };
  }

  /** The key holds its acknowledged state, or (when frozen) the state of its failed write. */
  #matches(key: OwnedKey, got: KeyState): boolean {
    return sameState(got, key.state) || (key.maybe !== undefined && sameState(got, key.maybe));
  }

  /** Check an acknowledgement: the ref names the balancer and the version is the previous one + 1. */
  #acked(ref: ObjectRef, before: KeyState, after: KeyState) {
    const stats = this.#phase;
    stats.ackedWrites++;
    if (ref.endpoint !== this.#opts.endpoint) {
      stats.badRefs++;
      this.#example(`ref of ${ref.key} names ${ref.endpoint}, not the balancer ${this.#opts.endpoint}`);
    }
    if (after.version !== before.version + 1) {
      stats.badVersions++;
      this.#example(`${ref.key}: acknowledged version ${after.version} after version ${before.version}`);
    }
  }

  /** Count a failure by its code; returns the code (-1 for a non-gRPC error). */
  #classify(err: unknown, where: string): number {
    const stats = this.#phase;
    const code = err instanceof CacheClientError ? err.code : -1;
    if (code === Status.UNAVAILABLE) {
      stats.unavailable++;
      if (stats.unavailableExamples.length < 4) {
        stats.unavailableExamples.push(`${where}: ${(err as Error).message}`);
      }
    } else if (code === Status.DEADLINE_EXCEEDED) {
      stats.deadlineExceeded++;
      this.#example(`${where}: DEADLINE_EXCEEDED ${(err as Error).message}`);
    } else {
      stats.otherFailures++;
      const name = err instanceof CacheClientError ? err.codeName : (err as Error)?.name;
      this.#example(`${where}: ${name} ${(err as Error)?.message ?? err}`);
    }
    return code;
  }

  #example(text: string) {
    const stats = this.#phase;
    if (stats.examples.length < 8) stats.examples.push(text);
  }
}

function pick<T>(items: T[], random: () => number): T {
  return items[Math.floor(random() * items.length)];
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
