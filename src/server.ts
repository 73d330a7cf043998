/**
 * Wires a configuration into a running server: store worker, Flight service
 * and gRPC transport.
 *
 * @module
 */
import { type CacheConfig, withBoundPort } from "./config/mod.ts";
import { GrpcServer } from "./transport/grpc_server.ts";
import { FLIGHT_SERVICE, FlightService } from "./protocol/service.ts";
import { type Store, WorkerStore } from "./store/store.ts";
import { HotCacheStore } from "./store/hot_cache.ts";
import { log, setLogLevel } from "./log.ts";
import { VERSION } from "./config/mod.ts";
import { statusName } from "./errors.ts";
import { Authenticator } from "./auth/auth.ts";
import { createStager } from "./store/fs/mod.ts";
// ops: health checking, readiness gate, metrics, status page, OTel (src/ops/).
import { Ops } from "./ops/mod.ts";
import { sidePortGuard } from "./ops/http_auth.ts";
import { checkStorageFolder, formatHostPort, listenError } from "./startup.ts";

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
  /** ops: health, metrics and the HTTP side port (src/ops/mod.ts). */
  ops: Ops;
  /** Stop accepting, finish in-flight calls within `graceMs`, close the store. */
  close(graceMs?: number): Promise<void>;
}

/** Start the cache server described by `config`. */
export async function startServer(
  initial: CacheConfig,
  // ops: tests may pass their own store (e.g. one whose index loads slowly).
  deps: { store?: Store } = {},
): Promise<RunningServer> {
  setLogLevel(initial.logLevel);
  for (const w of initial.warnings) log("warn", w);
  const started = performance.now();
  const keys = initial.settingKeys ?? { storage: "storage", listen: "listen", http: "http" };
  // One clear line (exit 2) for a storage folder that is a file or not writable (startup.ts).
  if (!deps.store && initial.storage.kind === "fs") checkStorageFolder(initial.storage.root, keys.storage);
  // Small hot objects are answered on this thread; everything else goes to the worker.
  const store = deps.store ?? new HotCacheStore(
    new WorkerStore({
      storage: initial.storage,
      limits: initial.eviction,
      capacity: initial.capacity,
    }),
  );
  const authenticator = initial.auth ? new Authenticator(initial.auth) : undefined;
  // ops: the index is loaded (store.open) after the port listens, see below.
  const ops = new Ops({
    guard: sidePortGuard(initial.httpAuth, authenticator),
    version: VERSION,
    http: initial.http,
    storage: initial.storage.kind === "fs" ? { kind: "fs", root: initial.storage.root } : { kind: "none" },
    limits: { ...initial.eviction, capacity: initial.capacity },
    onError: (where, err) => log("warn", "ops error", { where, error: String(err) }),
  });

  const tls = initial.tls
    ? {
      cert: Deno.readFileSync(initial.tls.certFile),
      key: Deno.readFileSync(initial.tls.keyFile),
      ca: initial.tls.caFile ? Deno.readFileSync(initial.tls.caFile) : undefined,
    }
    : undefined;
  const grpc = new GrpcServer({
    maxMessageBytes: MAX_MESSAGE_BYTES,
    tls,
    authenticate: authenticator
      ? (headers, peer) => {
        const h = headers["authorization"];
        return authenticator.authenticate(typeof h === "string" ? h : undefined, peer);
      }
      : undefined,
    publicPaths: [FLIGHT_SERVICE + "Handshake", "/grpc.health.v1.Health/"],
    idleTimeoutMs: initial.idleTimeoutMs,
    onCallEnd: (path, code, ms, message) => {
      ops.onCallEnd(path, code, ms); // ops: metrics and OTel spans
      if (code !== 0 && code !== 5) {
        log("info", "call failed", {
          method: path,
          code: statusName(code),
          ms: Math.round(ms),
          error: message,
        });
      } else {
        log("debug", "call", { method: path, code: statusName(code), ms: Math.round(ms * 1000) / 1000 });
      }
    },
    onError: (where, err) => log("warn", "transport error", { where, error: String(err) }),
  });
  ops.register(grpc); // ops: grpc.health.v1.Health, NOT_SERVING until the index is loaded
  let port: number;
  try {
    port = await grpc.listen(initial.listen.host, initial.listen.port);
  } catch (err) {
    await store.close().catch(() => {});
    throw listenError(err, keys.listen, formatHostPort(initial.listen));
  }
  const config = withBoundPort(initial, port);
  const service = new FlightService(store, {
    endpoint: config.endpoint,
    maxObjectBytes: MAX_OBJECT_BYTES,
    authenticator,
    // Large uploads stream into {root}/.staging and are adopted without a copy.
    stager: config.storage.kind === "fs" ? createStager(config.storage.root) : undefined,
  });
  service.register(ops.gate(grpc)); // ops: UNAVAILABLE "starting" until the index is loaded

  // ops: listen first, then load the index, so health answers NOT_SERVING meanwhile.
  let summary: string;
  let http: string | null = null;
  try {
    http = await ops.attach(store, grpc, {
      endpoint: config.endpoint,
      listen: `${config.listen.host}:${port}`,
    });
    log("info", "listening, loading the index", { listen: `${config.listen.host}:${port}`, http });
    summary = await store.open();
  } catch (err) {
    await ops.shutdown();
    await grpc.close(0);
    await ops.close();
    await store.close().catch(() => {});
    throw http === null && initial.http
      ? listenError(err, keys.http ?? "http", formatHostPort(initial.http))
      : err;
  }
  ops.ready();

  log("info", "flame-cache started", {
    version: VERSION,
    listen: `${config.listen.host}:${port}`,
    endpoint: config.endpoint,
    http, // ops: HTTP side port (metrics, health, status page), or null
    tls: config.tls ? (config.tls.caFile ? "mutual" : "server") : "off",
    auth: authenticator ? "on" : "off",
    httpAuth: config.http ? config.httpAuth?.mode ?? "none" : null,
    storage: config.storage.kind === "fs" ? config.storage.root : "none",
    index: summary,
    policy: config.eviction.policy,
    maxMemory: config.eviction.maxMemory,
    maxObjects: Number.isFinite(config.eviction.maxObjects) ? config.eviction.maxObjects : null,
    startupMs: Math.round(performance.now() - started),
  });

  return {
    config,
    port,
    store,
    grpc,
    ops,
    async close(graceMs = 10_000) {
      await ops.shutdown(); // ops: health NOT_SERVING, open Watch streams get it and end
      await grpc.close(graceMs);
      await ops.close(); // ops: HTTP side port
      await store.close();
    },
  };
}
