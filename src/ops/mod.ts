/**
 * Operations features, wired into the server by a few calls from
 * `src/server/server.ts`:
 *
 * ```ts
 * const ops = new Ops({ ... });                 // before the transport
 * onCallEnd: (p, code, ms) => ops.onCallEnd(p, code, ms)
 * ops.register(grpc);                           // grpc.health.v1.Health, NOT_SERVING
 * service.register(ops.gate(grpc));             // Flight: UNAVAILABLE "starting" until ready
 * await ops.attach(store, grpc, info);          // HTTP side port (if configured)
 * await store.open(); ops.ready();              // SERVING
 * await ops.shutdown(); await grpc.close(); await ops.close();
 * ```
 *
 * @module
 */
import { CacheError, Status } from "../errors.ts";
import type { Store, StoreUsage } from "../store/store.ts";
import type { GrpcServer, Handler } from "../grpc/mod.ts";
import { HealthService, INDEX_HEALTH_SERVICE, ServingStatus, servingStatusName } from "./_health.ts";
import { CallMetrics } from "./_metrics.ts";
import { CallTelemetry } from "./otel.ts";
import { type RatePoint, rates, type Sample, SampleRing } from "./_samples.ts";
import { aggregate, aggregateGroups, type OpsSnapshot, type StoredTotals } from "./_snapshot.ts";
import { type OpsHttpServer, startOpsHttp } from "./_http.ts";
import type { SidePortGuard } from "./_http_auth.ts";

export { HealthService, INDEX_HEALTH_SERVICE, ServingStatus } from "./_health.ts";
export type { OpsSnapshot } from "./_snapshot.ts";
export { sidePortGuard } from "./_http_auth.ts";

/** What the ops features need to know about the server. */
export interface OpsOptions {
  version: string;
  /** HTTP side port; none when absent. */
  http?: { host: string; port: number };
  storage: { kind: string; root?: string };
  limits: { policy: string; maxMemory: number; maxObjects: number; capacity?: number };
  /** Sampling period of the status page charts (default 5000 ms). */
  sampleMs?: number;
  /** Samples kept (default 720: one hour at 5 s). */
  sampleCount?: number;
  /** Transport-level errors worth logging. */
  onError?: (where: string, err: unknown) => void;
  /** Side port access check (_http_auth.ts); open when absent. */
  guard?: SidePortGuard;
}

/** The message of Flight calls refused while the index loads. */
export const STARTING_MESSAGE = "starting: the cache index is loading, retry shortly";

/** Health, readiness gate, metrics, samples, OTel and the HTTP side port. */
export class Ops {
  readonly health = new HealthService();
  readonly calls = new CallMetrics();
  readonly samples: SampleRing;
  private readonly telemetry = new CallTelemetry();
  private readonly startTime = Date.now();
  private isReady = false;
  private indexReady = false;
  private store?: Store;
  private grpc?: GrpcServer;
  private info = { endpoint: "", listen: "" };
  private http?: OpsHttpServer;
  private timer?: ReturnType<typeof setInterval>;
  private listCache?: { at: number; value: Promise<StoredTotals> };

  constructor(private readonly options: OpsOptions) {
    this.samples = new SampleRing(options.sampleCount ?? 720);
  }

  /** The side port's token check, when it needs one. */
  get guard(): SidePortGuard | undefined {
    return this.options.guard;
  }

  /** `starting`, `indexing` (serving, the index still loading), `shutting down` or `""` (serving). */
  get phase(): string {
    if (this.health.shuttingDown) return "shutting down";
    if (!this.isReady) return "starting";
    return this.indexReady ? "" : "indexing";
  }

  /** Transport hook: count the call, record its latency and (with OTel on) a span. */
  onCallEnd(path: string, code: number, ms: number): void {
    this.calls.record(path, code, ms);
    this.telemetry.record(path, code, ms);
  }

  /** Transport-level error hook (for the side port). */
  onError(where: string, err: unknown): void {
    this.options.onError?.(where, err);
  }

  /** Register `grpc.health.v1.Health` (Check, Watch) on the Flight port. */
  register(grpc: GrpcServer): void {
    this.health.register(grpc);
  }

  /**
   * A registrar for services that need the store: handlers registered through it
   * answer UNAVAILABLE "starting" until {@link Ops.ready}. It is `grpc` itself with
   * `handle` overridden (prototype delegation), so it type-checks as a GrpcServer.
   */
  gate(grpc: GrpcServer): GrpcServer {
    const gated: GrpcServer = Object.create(grpc);
    gated.handle = (path: string, handler: Handler) => {
      grpc.handle(path, (call) => {
        if (!this.isReady) return Promise.reject(new CacheError(Status.UNAVAILABLE, STARTING_MESSAGE));
        return handler(call);
      });
    };
    return gated;
  }

  /**
   * Give the ops features their data sources and start the HTTP side port (when
   * configured), before the index loads, so `/healthz` answers 503 meanwhile.
   * Resolves with the side port's bound address, or null.
   */
  async attach(
    store: Store,
    grpc: GrpcServer,
    info: { endpoint: string; listen: string },
  ): Promise<string | null> {
    this.store = store;
    this.grpc = grpc;
    this.info = info;
    if (!this.options.http) return null;
    this.http = await startOpsHttp(this, this.options.http.host, this.options.http.port);
    return this.http.address;
  }

  /**
   * The store serves: Flight calls pass, health is SERVING, sampling starts. `indexComplete` false: the
   * index is still loading ({@link INDEX_HEALTH_SERVICE} stays NOT_SERVING until {@link Ops.indexed}).
   */
  ready(indexComplete = true): void {
    this.isReady = true;
    this.indexReady = indexComplete;
    this.health.setAll(ServingStatus.SERVING);
    if (!indexComplete) this.health.set(INDEX_HEALTH_SERVICE, ServingStatus.NOT_SERVING);
    void this.sample();
    const timer = setInterval(() => void this.sample(), this.options.sampleMs ?? 5000);
    Deno.unrefTimer(timer);
    this.timer = timer;
  }

  /** The whole index is loaded: {@link INDEX_HEALTH_SERVICE} turns SERVING. */
  indexed(): void {
    this.indexReady = true;
    this.health.set(INDEX_HEALTH_SERVICE, ServingStatus.SERVING);
  }

  /**
   * Shutting down: health NOT_SERVING for good; open Watch streams get it and end
   * (resolves once they have, within about a second).
   */
  shutdown(): Promise<void> {
    return this.health.shutdown();
  }

  /** Stop sampling and close the HTTP side port. */
  async close(): Promise<void> {
    void this.health.shutdown();
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    await this.http?.close();
    this.http = undefined;
  }

  private async usage(): Promise<StoreUsage | null> {
    if (!this.isReady || !this.store) return null;
    try {
      return await this.store.usage();
    } catch {
      return null; // closing
    }
  }

  /**
   * Sums over the index (null while it loads: they would be partial); per session from the store's
   * group totals when it keeps them (no listing of every object), reused for up to 1 s.
   */
  private stored(): Promise<StoredTotals | null> {
    const store = this.store;
    if (!this.isReady || !this.indexReady || !store) return Promise.resolve(null);
    const now = Date.now();
    if (!this.listCache || now - this.listCache.at > 1000) {
      const value = store.groupTotals
        ? store.groupTotals().then(aggregateGroups)
        : store.list({ value: "", exact: false }).then(aggregate);
      this.listCache = { at: now, value };
    }
    return this.listCache.value.catch(() => null);
  }

  private current(usage: StoreUsage | null): Sample {
    const t = this.grpc?.stats;
    const c = usage?.counters ?? {};
    return {
      t: Date.now(),
      bytesIn: t?.bytesIn ?? 0,
      bytesOut: t?.bytesOut ?? 0,
      hits: c.hits ?? 0,
      loads: c.loads ?? 0,
      misses: c.misses ?? 0,
      calls: this.calls.total,
    };
  }

  /** Take one sample for the charts. */
  async sample(): Promise<void> {
    const usage = await this.usage();
    if (!usage) return;
    this.lastUsage = usage;
    this.samples.push(this.current(usage));
  }

  private lastUsage: StoreUsage | null = null;

  /** Rate points for the charts, including a live point (now) after the last sample. */
  ratePoints(): RatePoint[] {
    const samples = this.samples.all();
    const live = this.current(this.lastUsage);
    if (this.lastUsage && samples.length && live.t - samples[samples.length - 1].t >= 1000) {
      samples.push(live);
    }
    return rates(samples);
  }

  /** Everything `/metrics` and the status page show, now. */
  async snapshot(): Promise<OpsSnapshot> {
    const [usage, stored] = await Promise.all([this.usage(), this.stored()]);
    if (usage) this.lastUsage = usage;
    const g = this.grpc;
    const mem = Deno.memoryUsage();
    return {
      time: Date.now(),
      version: this.options.version,
      startTime: this.startTime,
      storage: this.options.storage.kind,
      storageRoot: this.options.storage.root,
      endpoint: this.info.endpoint,
      listen: this.info.listen,
      health: servingStatusName(this.health.status("") ?? ServingStatus.UNKNOWN),
      phase: this.phase,
      serving: this.health.serving,
      transport: {
        bytesIn: g?.stats.bytesIn ?? 0,
        bytesOut: g?.stats.bytesOut ?? 0,
        connectionsAccepted: g?.stats.connectionsAccepted ?? 0,
        connectionsRefused: g?.stats.connectionsRefused ?? 0,
        connections: g?.connectionCount ?? 0,
        inflight: g?.inflightCalls ?? 0,
      },
      usage,
      stored,
      limits: { ...this.options.limits },
      process: { rss: mem.rss, heapUsed: mem.heapUsed, external: mem.external },
      calls: this.calls.total,
    };
  }
}
