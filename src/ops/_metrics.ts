/**
 * Prometheus metrics: per-method call counters and latency histograms
 * (recorded from the transport's `onCallEnd`), and the text exposition format
 * (version 0.0.4) of everything the `/metrics` endpoint shows.
 *
 * @module
 */
import { statusName } from "../errors.ts";
import type { OpsSnapshot } from "./_snapshot.ts";

/** Latency histogram bucket bounds, in seconds. */
export const LATENCY_BUCKETS: readonly number[] = [
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
  60,
];

/** Services whose method names become labels; any other path is counted as `other`. */
const KNOWN_SERVICES = new Set(["arrow.flight.protocol.FlightService", "grpc.health.v1.Health"]);
const METHOD_NAME = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;

/** Split a method path into `service` and `method` labels (bounded cardinality). */
export function methodLabels(path: string): { service: string; method: string } {
  const slash = path.lastIndexOf("/");
  const service = path.slice(1, slash);
  const method = path.slice(slash + 1);
  if (path[0] === "/" && KNOWN_SERVICES.has(service) && METHOD_NAME.test(method)) return { service, method };
  return { service: "other", method: "other" };
}

interface CallSeries {
  service: string;
  method: string;
  code: string;
  count: number;
  sum: number;
  /** Non-cumulative counts per bucket; the last slot is +Inf. */
  buckets: number[];
}

/** Counts and latency histograms of finished calls, by method and status code. */
export class CallMetrics {
  private readonly series = new Map<string, CallSeries>();
  /** Calls finished since start (all methods and codes). */
  total = 0;

  /** Record one finished call. */
  record(path: string, code: number, ms: number): void {
    const { service, method } = methodLabels(path);
    const codeName = statusName(code);
    const id = `${service}/${method}/${codeName}`;
    let s = this.series.get(id);
    if (!s) {
      s = {
        service,
        method,
        code: codeName,
        count: 0,
        sum: 0,
        buckets: new Array(LATENCY_BUCKETS.length + 1).fill(0),
      };
      this.series.set(id, s);
    }
    const seconds = Math.max(0, ms) / 1000;
    s.count++;
    s.sum += seconds;
    let i = 0;
    while (i < LATENCY_BUCKETS.length && seconds > LATENCY_BUCKETS[i]) i++;
    s.buckets[i]++;
    this.total++;
  }

  /** Calls recorded for a method name (any service and code); for tests and the status page. */
  count(method?: string, code?: string): number {
    let n = 0;
    for (const s of this.series.values()) {
      if ((method === undefined || s.method === method) && (code === undefined || s.code === code)) {
        n += s.count;
      }
    }
    return n;
  }

  /** Series sorted by service, method, code. */
  list(): readonly CallSeries[] {
    return [...this.series.values()].sort((a, b) =>
      a.service.localeCompare(b.service) || a.method.localeCompare(b.method) || a.code.localeCompare(b.code)
    );
  }
}

/** Escape a label value (backslash, double quote, newline). */
export function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** Format a sample value: integers as integers, +Inf/-Inf/NaN as Prometheus spells them. */
export function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(15)));
}

/** Builds the text exposition format family by family. */
class Exposition {
  private readonly lines: string[] = [];

  family(name: string, type: "counter" | "gauge" | "histogram", help: string): this {
    this.lines.push(`# HELP ${name} ${help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")}`);
    this.lines.push(`# TYPE ${name} ${type}`);
    return this;
  }

  sample(name: string, labels: Record<string, string>, value: number): this {
    const entries = Object.entries(labels);
    const l = entries.length === 0
      ? ""
      : `{${entries.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(",")}}`;
    this.lines.push(`${name}${l} ${formatValue(value)}`);
    return this;
  }

  /** A family with one unlabelled sample. */
  single(name: string, type: "counter" | "gauge", help: string, value: number, labels = {}): this {
    return this.family(name, type, help).sample(name, labels, value);
  }

  text(): string {
    return this.lines.join("\n") + "\n";
  }
}

/** Content type of the text exposition format. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** Prefix of the server's own metric families. */
const P = "flame_cache_";

/**
 * Render every metric. Store-derived families are left out while the store is
 * not open yet (`snapshot.usage` null). fsync latency is not exported: the
 * store does not measure it.
 */
export function renderMetrics(snapshot: OpsSnapshot, calls: CallMetrics): string {
  const e = new Exposition();
  renderServer(e, snapshot);
  renderCalls(e, calls, snapshot.transport.inflight);
  renderTransport(e, snapshot.transport);
  if (snapshot.usage) renderStore(e, snapshot.usage);
  renderStorage(e, snapshot);
  renderProcess(e, snapshot.process);
  return e.text();
}

/** Build, start time and health. */
function renderServer(e: Exposition, snapshot: OpsSnapshot): void {
  e.family(`${P}build_info`, "gauge", "Build information; the value is always 1.")
    .sample(`${P}build_info`, { version: snapshot.version, storage: snapshot.storage }, 1);
  e.single(
    `${P}start_time_seconds`,
    "gauge",
    "Start time of the server, seconds since the epoch.",
    snapshot.startTime / 1000,
  );
  e.single(
    `${P}up`,
    "gauge",
    "1 when the health status is SERVING (index loaded, not shutting down), else 0.",
    snapshot.serving ? 1 : 0,
  );
}

/** gRPC call counts, the latency histogram and calls in flight. */
function renderCalls(e: Exposition, calls: CallMetrics, inflight: number): void {
  e.family(`${P}rpc_requests_total`, "counter", "gRPC calls finished, by service, method and status code.");
  for (const s of calls.list()) {
    e.sample(`${P}rpc_requests_total`, { service: s.service, method: s.method, code: s.code }, s.count);
  }
  e.family(
    `${P}rpc_duration_seconds`,
    "histogram",
    "gRPC call latency (headers received to status sent), by service, method and status code.",
  );
  for (const s of calls.list()) {
    const labels = { service: s.service, method: s.method, code: s.code };
    let cumulative = 0;
    for (let i = 0; i < LATENCY_BUCKETS.length; i++) {
      cumulative += s.buckets[i];
      e.sample(
        `${P}rpc_duration_seconds_bucket`,
        { ...labels, le: formatValue(LATENCY_BUCKETS[i]) },
        cumulative,
      );
    }
    e.sample(`${P}rpc_duration_seconds_bucket`, { ...labels, le: "+Inf" }, s.count);
    e.sample(`${P}rpc_duration_seconds_sum`, labels, s.sum);
    e.sample(`${P}rpc_duration_seconds_count`, labels, s.count);
  }
  e.single(
    `${P}rpc_in_flight`,
    "gauge",
    "gRPC calls in progress (open health Watch streams included).",
    inflight,
  );
}

/** Bytes and connections on the Flight port. */
function renderTransport(e: Exposition, t: OpsSnapshot["transport"]): void {
  e.single(
    `${P}received_bytes_total`,
    "counter",
    "gRPC request bytes received on the Flight port.",
    t.bytesIn,
  );
  e.single(
    `${P}sent_bytes_total`,
    "counter",
    "gRPC response message bytes sent on the Flight port.",
    t.bytesOut,
  );
  e.single(`${P}connections`, "gauge", "Open connections on the Flight port.", t.connections);
  e.single(
    `${P}connections_accepted_total`,
    "counter",
    "Connections accepted on the Flight port.",
    t.connectionsAccepted,
  );
  e.single(
    `${P}connections_refused_total`,
    "counter",
    "Connections refused on the Flight port (connection limit or draining).",
    t.connectionsRefused,
  );
}

/** Cache counters and resident totals (present once the index is loaded). */
function renderStore(e: Exposition, u: NonNullable<OpsSnapshot["usage"]>): void {
  const c = u.counters;
  e.single(`${P}hits_total`, "counter", "Reads served from memory.", c.hits ?? 0);
  e.single(`${P}misses_total`, "counter", "Reads of keys that do not exist (NOT_FOUND).", c.misses ?? 0);
  e.single(
    `${P}loads_total`,
    "counter",
    "Reads that loaded the object from storage into memory.",
    c.loads ?? 0,
  );
  e.single(
    `${P}evictions_total`,
    "counter",
    "Objects dropped from memory by the eviction policy.",
    c.evictions ?? 0,
  );
  e.family(`${P}store_operations_total`, "counter", "Writes applied by the store, by operation.");
  for (const [op, counter] of [["put", "puts"], ["patch", "patches"], ["delete", "deletes"]]) {
    e.sample(`${P}store_operations_total`, { op }, c[counter] ?? 0);
  }
  if (c.tierFetchedBytes !== undefined) {
    // Cluster mode (the shared tier is the store): hits_total / misses_total count reads of blobs served
    // from this replica's local copy / fetched from the tier; this is how many bytes those fetches moved.
    e.single(
      `${P}tier_fetched_bytes_total`,
      "counter",
      "Cluster mode: bytes of blobs fetched from the shared tier into this replica's local copies.",
      c.tierFetchedBytes,
    );
  }
  e.single(`${P}resident_objects`, "gauge", "Objects whose payload is held in memory.", u.residentObjects);
  e.single(`${P}resident_bytes`, "gauge", "Payload bytes held in memory.", u.residentBytes);
  // While the index loads, the count would be partial: left out, like stored_bytes.
  if (u.indexComplete !== false) {
    e.single(`${P}objects`, "gauge", "Objects in the index (in memory or on disk).", u.objects);
  }
  e.single(
    `${P}index_complete`,
    "gauge",
    "1 once every stored object is indexed, 0 while the index loads.",
    u.indexComplete === false ? 0 : 1,
  );
}

/** Stored bytes from the index and the configured limits. */
function renderStorage(e: Exposition, snapshot: OpsSnapshot): void {
  if (snapshot.stored) {
    e.single(
      `${P}stored_bytes`,
      "gauge",
      'Sum of the payload sizes of all indexed objects, from the index (source="index"): an estimate of disk usage that leaves out file headers and folders.',
      snapshot.stored.bytes,
      { source: "index", storage: snapshot.storage },
    );
  }
  const lim = snapshot.limits;
  e.single(`${P}max_memory_bytes`, "gauge", "Configured memory limit for resident payloads.", lim.maxMemory);
  if (Number.isFinite(lim.maxObjects)) {
    e.single(`${P}max_objects`, "gauge", "Configured limit on resident objects.", lim.maxObjects);
  }
  if (lim.capacity !== undefined) {
    e.single(`${P}capacity_bytes`, "gauge", "Configured disk budget.", lim.capacity);
  }
}

/** Process memory. */
function renderProcess(e: Exposition, m: OpsSnapshot["process"]): void {
  e.single("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", m.rss);
  e.single("process_heap_used_bytes", "gauge", "V8 heap in use, in bytes (network thread).", m.heapUsed);
  e.single(
    "process_external_memory_bytes",
    "gauge",
    "Memory of ArrayBuffers outside the V8 heap, in bytes.",
    m.external,
  );
}
