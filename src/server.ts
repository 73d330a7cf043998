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
import { log, setLogLevel } from "./log.ts";
import { VERSION } from "./config/mod.ts";
import { statusName } from "./errors.ts";
import { Authenticator } from "./auth/auth.ts";

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
  /** Stop accepting, finish in-flight calls within `graceMs`, close the store. */
  close(graceMs?: number): Promise<void>;
}

/** Start the cache server described by `config`. */
export async function startServer(initial: CacheConfig): Promise<RunningServer> {
  setLogLevel(initial.logLevel);
  for (const w of initial.warnings) log("warn", w);
  const started = performance.now();
  const store = new WorkerStore({
    storage: initial.storage,
    limits: initial.eviction,
    capacity: initial.capacity,
  });
  const summary = await store.open();

  const tls = initial.tls
    ? {
      cert: Deno.readFileSync(initial.tls.certFile),
      key: Deno.readFileSync(initial.tls.keyFile),
      ca: initial.tls.caFile ? Deno.readFileSync(initial.tls.caFile) : undefined,
    }
    : undefined;
  const authenticator = initial.auth ? new Authenticator(initial.auth) : undefined;
  const grpc = new GrpcServer({
    maxMessageBytes: MAX_MESSAGE_BYTES,
    tls,
    authenticate: authenticator
      ? (headers) => {
        const h = headers["authorization"];
        return authenticator.authenticate(typeof h === "string" ? h : undefined);
      }
      : undefined,
    publicPaths: [FLIGHT_SERVICE + "Handshake", "/grpc.health.v1.Health/"],
    onCallEnd: (path, code, ms, message) => {
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
  const port = await grpc.listen(initial.listen.host, initial.listen.port);
  const config = withBoundPort(initial, port);
  const service = new FlightService(store, {
    endpoint: config.endpoint,
    maxObjectBytes: MAX_OBJECT_BYTES,
    authenticator,
  });
  service.register(grpc);

  log("info", "flame-cache started", {
    version: VERSION,
    listen: `${config.listen.host}:${port}`,
    endpoint: config.endpoint,
    tls: config.tls ? (config.tls.caFile ? "mutual" : "server") : "off",
    auth: authenticator ? "on" : "off",
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
    async close(graceMs = 10_000) {
      await grpc.close(graceMs);
      await store.close();
    },
  };
}
