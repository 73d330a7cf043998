/**
 * gRPC health checking (`grpc.health.v1.Health`, Check and Watch) on the Flight
 * port, so load balancers, Kubernetes `grpc:` probes and `grpc_health_probe`
 * can ask whether the cache serves.
 *
 * The two messages are tiny and hand-encoded:
 * `HealthCheckRequest { string service = 1; }` and
 * `HealthCheckResponse { ServingStatus status = 1; }`.
 *
 * Life cycle: every service starts NOT_SERVING (the port listens while the
 * store opens), `""` and the Flight service turn SERVING when the store
 * serves gets, puts and patches (within a second, whatever the object count),
 * {@link INDEX_HEALTH_SERVICE} when the whole index is loaded (listings,
 * prefix deletes, the disk budget), and all go back to NOT_SERVING when the
 * server shuts down; open Watch streams get that last update and are then
 * ended, so they do not hold up the drain.
 *
 * @module
 */
import { CacheError, invalidArgument, notFound, Status } from "../errors.ts";
import { decodeUtf8 } from "../flight/messages.ts";
import { fields, ProtoWriter, WireType } from "../flight/protobuf.ts";
import type { GrpcCall, GrpcServer } from "../grpc/mod.ts";

/** `grpc.health.v1.HealthCheckResponse.ServingStatus`. */
export const ServingStatus = {
  UNKNOWN: 0,
  SERVING: 1,
  NOT_SERVING: 2,
  /** Only sent by Watch, for a service name the server does not know. */
  SERVICE_UNKNOWN: 3,
} as const;

/** A serving status number. */
export type ServingStatusCode = typeof ServingStatus[keyof typeof ServingStatus];

/** Method path prefix of the health service. */
export const HEALTH_SERVICE = "/grpc.health.v1.Health/";

/**
 * The health service name that tells whether the whole index is loaded: SERVING once listings, prefix
 * deletes and the disk budget work; NOT_SERVING while the index loads (gets, puts and patches already
 * work then: `""` and the Flight service are SERVING).
 */
export const INDEX_HEALTH_SERVICE = "flame-cache.index";

/** Service names answered: the whole server (`""`), the Flight service and the index. */
export const HEALTH_SERVICE_NAMES: readonly string[] = [
  "",
  "arrow.flight.protocol.FlightService",
  INDEX_HEALTH_SERVICE,
];

/** Name of a serving status, for logs and the status page. */
export function servingStatusName(status: number): string {
  for (const [name, value] of Object.entries(ServingStatus)) if (value === status) return name;
  return `STATUS_${status}`;
}

/** Decode `HealthCheckRequest`: the service name (field 1), `""` when absent. */
export function decodeHealthCheckRequest(buf: Uint8Array): string {
  let service = "";
  for (const f of fields(buf, "HealthCheckRequest")) {
    if (f.number === 1) {
      if (f.wireType !== WireType.LEN) {
        throw invalidArgument("Malformed HealthCheckRequest: service is not a string");
      }
      service = decodeUtf8(f.bytes, "Invalid HealthCheckRequest service");
    }
  }
  return service;
}

/** Encode `HealthCheckResponse` (UNKNOWN = 0 is the empty message, as proto3 omits defaults). */
export function encodeHealthCheckResponse(status: number): Uint8Array {
  return new ProtoWriter(4).uint(1, status).finish().slice();
}

/** Read the one request message of a unary or server-streaming call. */
async function onlyMessage(call: GrpcCall, what: string): Promise<Uint8Array> {
  let first: Uint8Array | undefined;
  for await (const m of call.messages()) {
    if (!(m instanceof Uint8Array)) throw invalidArgument(`${what}: request message too large`);
    if (first) throw invalidArgument(`${what}: more than one request message`);
    first = m;
  }
  return first ?? new Uint8Array(0);
}

/** Health state of the server and the `grpc.health.v1.Health` methods. */
export class HealthService {
  private readonly statuses = new Map<string, ServingStatusCode>();
  private waiters: (() => void)[] = [];
  private closed = false;
  /** Watch calls in progress. */
  private readonly watches = new Set<Promise<void>>();

  constructor(services: readonly string[] = HEALTH_SERVICE_NAMES) {
    for (const s of services) this.statuses.set(s, ServingStatus.NOT_SERVING);
  }

  /** Status of `service`, or undefined when the name is not known. */
  status(service = ""): ServingStatusCode | undefined {
    return this.statuses.get(service);
  }

  /** True when the whole server (`""`) is SERVING. */
  get serving(): boolean {
    return this.statuses.get("") === ServingStatus.SERVING;
  }

  /** True once {@link HealthService.shutdown} was called. */
  get shuttingDown(): boolean {
    return this.closed;
  }

  /** Set every known service to `status` (ignored after shutdown, which is final). */
  setAll(status: ServingStatusCode): void {
    if (this.closed) return;
    for (const s of this.statuses.keys()) this.statuses.set(s, status);
    this.notify();
  }

  /** Set one service (adds it when new; ignored after shutdown). */
  set(service: string, status: ServingStatusCode): void {
    if (this.closed) return;
    this.statuses.set(service, status);
    this.notify();
  }

  /**
   * NOT_SERVING for good: Watch streams get the update and then end. Resolves when
   * they have ended (at most `timeoutMs`) plus `flushMs`, so the last update is on
   * the wire before the transport closes its connections.
   */
  async shutdown(timeoutMs = 1000, flushMs = 100): Promise<void> {
    if (!this.closed) {
      for (const s of this.statuses.keys()) this.statuses.set(s, ServingStatus.NOT_SERVING);
      this.closed = true;
      this.notify();
    }
    if (this.watches.size === 0) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.allSettled([...this.watches]),
      new Promise<void>((r) => (timer = setTimeout(r, timeoutMs))),
    ]);
    clearTimeout(timer);
    await new Promise<void>((r) => setTimeout(r, flushMs));
  }

  /** Register Check and Watch on `server`. */
  register(server: GrpcServer): void {
    server.handle(HEALTH_SERVICE + "Check", (call) => this.check(call));
    server.handle(HEALTH_SERVICE + "Watch", (call) => {
      const p = this.watch(call);
      const tracked = p.then(() => {}, () => {}).finally(() => this.watches.delete(tracked));
      this.watches.add(tracked);
      return p;
    });
  }

  private notify(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Resolves on the next status change or when `signal` aborts. */
  private changed(signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      if (signal.aborted) return resolve();
      const done = () => {
        signal.removeEventListener("abort", done);
        resolve();
      };
      this.waiters.push(done);
      signal.addEventListener("abort", done, { once: true });
    });
  }

  private async check(call: GrpcCall): Promise<void> {
    const service = decodeHealthCheckRequest(await onlyMessage(call, "Check"));
    const status = this.statuses.get(service);
    if (status === undefined) throw notFound(`unknown service '${service}'`);
    await call.send([encodeHealthCheckResponse(status)]);
  }

  private async watch(call: GrpcCall): Promise<void> {
    const service = decodeHealthCheckRequest(await onlyMessage(call, "Watch"));
    let last = -1;
    while (true) {
      const status = this.statuses.get(service) ?? ServingStatus.SERVICE_UNKNOWN;
      if (status !== last) {
        await call.send([encodeHealthCheckResponse(status)]);
        last = status;
      }
      if (this.closed) return;
      await this.changed(call.signal);
      if (call.signal.aborted) throw new CacheError(Status.CANCELLED, "Watch cancelled by the client");
    }
  }
}
