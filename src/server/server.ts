/**
 * Wires a configuration into a running server: store worker, Flight service
 * and gRPC transport (src/grpc).
 *
 * @module
 */
import { type CacheConfig, type ClusterConfig, clusterLogFields, withBoundPort } from "../config/mod.ts";
import { GrpcServer } from "../grpc/mod.ts";
import { FLIGHT_SERVICE, FlightService } from "./service.ts";
import { openStore, stagerFor, type Store } from "../store/mod.ts";
import { log, logEnabled, setLogLevel } from "../log.ts";
import { VERSION } from "../config/mod.ts";
import { statusName } from "../errors.ts";
import { Authenticator } from "../auth/auth.ts";
import { Ops, sidePortGuard } from "../ops/mod.ts";
import { checkStorageFolder, formatHostPort, listenError } from "./startup.ts";
import {
  ClusterMember,
  peerCredentials,
  startTier,
  tierStartupError,
  type TierStore,
} from "../cluster/mod.ts";

/** Largest object accepted: Arrow Binary offsets are 32-bit, so one value stays below 2 GiB. */
export const MAX_OBJECT_BYTES = 2 ** 31 - 64;
/** Largest gRPC message: one object plus IPC and protobuf framing. */
export const MAX_MESSAGE_BYTES = 2 ** 31 - 1;

/** A started server. */
export interface RunningServer {
  config: CacheConfig;
  port: number;
  store: Store;
  grpc: GrpcServer;
  /** Health, metrics and the HTTP side port. */
  ops: Ops;
  /** Stop accepting, finish in-flight calls within `graceMs`, close the store. */
  close(graceMs?: number): Promise<void>;
}

/** Start the cache server described by `config`. */
export async function startServer(
  initial: CacheConfig,
  // Tests may pass their own store (e.g. one whose index loads slowly).
  deps: { store?: Store } = {},
): Promise<RunningServer> {
  setLogLevel(initial.logLevel);
  for (const w of initial.warnings) log("warn", w);
  const started = performance.now();
  const keys = initial.settingKeys ?? { storage: "storage", listen: "listen", http: "http" };
  const { store, tierStore } = await storeFor(initial, keys.storage, deps.store);
  const authenticator = initial.auth ? new Authenticator(initial.auth) : undefined;
  // The index is loaded (store.open) after the port listens, see below.
  const ops = new Ops({
    guard: sidePortGuard(initial.httpAuth, authenticator),
    version: VERSION,
    http: initial.http,
    storage: initial.storage.kind === "fs" ? { kind: "fs", root: initial.storage.root } : { kind: "none" },
    limits: { ...initial.eviction, capacity: initial.capacity },
    onError: (where, err) => log("warn", "ops error", { where, error: String(err) }),
  });

  const grpc = createGrpcServer(initial, ops, authenticator);
  ops.register(grpc); // grpc.health.v1.Health, NOT_SERVING until the index is loaded
  const port = await listenOrExplain(grpc, initial, keys.listen, store);
  const config = withBoundPort(initial, port);
  const service = new FlightService(store, {
    endpoint: config.endpoint,
    maxObjectBytes: MAX_OBJECT_BYTES,
    authenticator,
    // Large uploads stream into a staging file (disk storage) and are adopted without a copy. On a
    // replica the local disk also caches tier blobs: a staging write that finds it full drops some.
    stager: stagerFor(config.storage, tierStore ? (bytes) => tierStore.makeRoom(bytes) : undefined),
  });
  service.register(ops.gate(grpc)); // UNAVAILABLE "starting" until the index is loaded

  // Listen first, then load the index, so health answers NOT_SERVING meanwhile.
  let summary: string;
  let http: string | null = null;
  let member: ClusterMember | undefined;
  try {
    http = await ops.attach(store, grpc, {
      endpoint: config.endpoint,
      listen: `${config.listen.host}:${port}`,
    });
    log("info", "listening, opening the store", { listen: `${config.listen.host}:${port}`, http });
    summary = await store.open().catch((err) => {
      throw config.remote ? tierStartupError(err, config.remote) : err;
    });
    if (config.cluster) {
      member = await joinCluster(config, config.cluster, tierStore);
      if (tierStore) service.forwardWith(member.forwarder);
    }
  } catch (err) {
    await ops.shutdown();
    await grpc.close(0);
    await ops.close();
    await store.close().catch(() => {});
    throw http === null && initial.http
      ? listenError(err, keys.http ?? "http", formatHostPort(initial.http))
      : err;
  }
  // Gets, puts and patches are served from here on; a store that loads its index in the background
  // (the local store) says when listings can be answered too (health service flame-cache.index).
  ops.ready(!store.indexed);
  if (store.indexed) {
    store.indexed().then((index) => {
      ops.indexed();
      log("info", "index loaded", { index, ms: Math.round(performance.now() - started) });
    }, (err) => {
      if (!ops.health.shuttingDown) log("error", "the index could not be loaded", { error: String(err) });
    });
  }

  // Cluster mode adds its settings and the live members to the start-up line (never credentials).
  const cluster = config.remote
    ? { ...clusterLogFields(config.cluster, config.remote), ...member?.describe() }
    : {};
  logStarted(config, port, {
    http,
    auth: authenticator !== undefined,
    index: store.indexed ? "loading in the background" : summary,
    started,
    cluster,
  });

  return {
    config,
    port,
    store,
    grpc,
    ops,
    async close(graceMs = 10_000) {
      await ops.shutdown(); // health NOT_SERVING, open Watch streams get it and end
      await member?.leave(); // peers stop routing here at once
      await grpc.close(graceMs);
      await ops.close(); // HTTP side port
      await store.close();
    },
  };
}

/**
 * The store for `config`: with a shared tier (cluster mode) the tier is the store and local memory and disk
 * cache it; otherwise small hot objects are answered on this thread and everything else goes to the store
 * worker. A storage folder that is a file or not writable is one clear line (exit 2, startup.ts).
 */
async function storeFor(
  config: CacheConfig,
  storageKey: string,
  given?: Store,
): Promise<{ store: Store; tierStore: TierStore | null }> {
  if (given) return { store: given, tierStore: null };
  if (config.storage.kind === "fs") checkStorageFolder(config.storage.root, storageKey);
  if (config.remote) {
    const tierStore = await startTier({ ...config, remote: config.remote });
    return { store: tierStore, tierStore };
  }
  const store = openStore({
    storage: config.storage,
    limits: config.eviction,
    capacity: config.capacity,
    durability: config.durability,
    flushIntervalMs: config.flushIntervalMs,
  });
  return { store, tierStore: null };
}

/** Listen on the configured address; an address in use is one line naming the setting (exit 2). */
async function listenOrExplain(
  grpc: GrpcServer,
  config: CacheConfig,
  key: string,
  store: Store,
): Promise<number> {
  try {
    return await grpc.listen(config.listen.host, config.listen.port);
  } catch (err) {
    await store.close().catch(() => {});
    throw listenError(err, key, formatHostPort(config.listen));
  }
}

/** Join the cluster: deletes reach the peers' local copies; the owner of the tier's garbage collection runs it. */
async function joinCluster(
  config: CacheConfig,
  cluster: ClusterConfig,
  store: TierStore | null,
): Promise<ClusterMember> {
  const member = await ClusterMember.join(cluster, peerCredentials(config));
  if (store) {
    member.tellPeersAfterDeletes(store);
    member.startGarbageCollection(store, (n) => log("info", "tier garbage collected", { blobs: n }));
  }
  return member;
}

/** The gRPC server for `config`: TLS, authentication, limits, and per-call logs and metrics. */
function createGrpcServer(config: CacheConfig, ops: Ops, authenticator?: Authenticator): GrpcServer {
  const tls = config.tls
    ? {
      cert: Deno.readFileSync(config.tls.certFile),
      key: Deno.readFileSync(config.tls.keyFile),
      ca: config.tls.caFile ? Deno.readFileSync(config.tls.caFile) : undefined,
    }
    : undefined;
  return new GrpcServer({
    maxMessageBytes: MAX_MESSAGE_BYTES,
    tls,
    authenticate: authenticator
      ? (headers, peer) => {
        const h = headers["authorization"];
        return authenticator.authenticate(typeof h === "string" ? h : undefined, peer);
      }
      : undefined,
    publicPaths: [FLIGHT_SERVICE + "Handshake", "/grpc.health.v1.Health/"],
    idleTimeoutMs: config.idleTimeoutMs,
    onCallEnd: (path, code, ms, message) => {
      ops.onCallEnd(path, code, ms); // metrics and OTel spans
      logCall(path, code, ms, message);
    },
    onError: (where, err) => log("warn", "transport error", { where, error: String(err) }),
  });
}

/** Failed calls at info level (NOT_FOUND is an answer, not a failure), the rest at debug. */
function logCall(path: string, code: number, ms: number, message: string): void {
  if (code !== 0 && code !== 5) {
    log("info", "call failed", { method: path, code: statusName(code), ms: Math.round(ms), error: message });
  } else if (logEnabled("debug")) {
    // checked first: building the fields costs more than the rest of the hook on every call
    log("debug", "call", { method: path, code: statusName(code), ms: Math.round(ms * 1000) / 1000 });
  }
}

/** The start-up summary line. */
function logStarted(
  config: CacheConfig,
  port: number,
  o: { http: string | null; auth: boolean; index: string; started: number; cluster: Record<string, unknown> },
): void {
  log("info", "flame-cache started", {
    version: VERSION,
    listen: `${config.listen.host}:${port}`,
    endpoint: config.endpoint,
    http: o.http, // HTTP side port (metrics, health, status page), or null
    tls: config.tls ? (config.tls.caFile ? "mutual" : "server") : "off",
    auth: o.auth ? "on" : "off",
    httpAuth: config.http ? config.httpAuth?.mode ?? "none" : null,
    storage: config.storage.kind === "fs" ? config.storage.root : "none",
    index: o.index,
    policy: config.eviction.policy,
    maxMemory: config.eviction.maxMemory,
    maxObjects: Number.isFinite(config.eviction.maxObjects) ? config.eviction.maxObjects : null,
    startupMs: Math.round(performance.now() - o.started),
    ...o.cluster,
  });
}
