/**
 * OpenTelemetry through Deno's built-in exporter (no npm package): with
 * `OTEL_DENO=true` Deno exports, over OTLP, the spans and metrics made with
 * `Deno.telemetry`'s providers, its own `Deno.serve`/`fetch` spans and
 * runtime metrics, and `console` output as log records.
 *
 * The Flight port runs on our own HTTP/2 (src/h2), which Deno does not instrument, so
 * each finished gRPC call is recorded here as a SERVER span named after its
 * method plus an `rpc.server.duration` histogram point (OpenTelemetry RPC
 * semantic conventions). With OTel off nothing is created.
 *
 * @module
 */
import { statusName } from "../errors.ts";
import { methodLabels } from "./_metrics.ts";

// The probe lives in src/otel_probe.ts, below both this module and src/log.ts (which needs it too).
import { otelEnabled } from "../otel_probe.ts";
export { otelEnabled };

// The providers are typed `any` by Deno; these are the few members used.
interface Span {
  setStatus(s: { code: number; message?: string }): void;
  end(endTime?: number): void;
}
interface Tracer {
  startSpan(name: string, options: Record<string, unknown>): Span;
}
interface Histogram {
  record(value: number, attributes: Record<string, string | number>): void;
}

/** gRPC codes that mark a server span as an error (OpenTelemetry RPC conventions). */
const SERVER_ERRORS = new Set([2, 4, 12, 13, 14, 15]);
const SPAN_KIND_SERVER = 1;
const SPAN_STATUS_ERROR = 2;

/** Records finished calls as spans and histogram points when OTel is on. */
export class CallTelemetry {
  private readonly tracer?: Tracer;
  private readonly duration?: Histogram;

  constructor(on = otelEnabled()) {
    const t = (Deno as unknown as { telemetry?: { tracerProvider?: unknown; meterProvider?: unknown } })
      .telemetry;
    if (!on || !t?.tracerProvider || !t.meterProvider) return;
    // deno-lint-ignore no-explicit-any
    this.tracer = (t.tracerProvider as any).getTracer("flame-cache");
    // deno-lint-ignore no-explicit-any
    this.duration = (t.meterProvider as any).getMeter("flame-cache").createHistogram("rpc.server.duration", {
      unit: "ms",
      description: "Duration of gRPC calls on the Flight port",
    });
  }

  /** True when spans are being recorded. */
  get active(): boolean {
    return this.tracer !== undefined;
  }

  /** Record one finished call. */
  record(path: string, code: number, ms: number): void {
    if (!this.tracer) return;
    const { service, method } = methodLabels(path);
    const end = Date.now();
    const attributes = {
      "rpc.system": "grpc",
      "rpc.service": service,
      "rpc.method": method,
      "rpc.grpc.status_code": code,
    };
    try {
      const span = this.tracer.startSpan(`${service}/${method}`, {
        kind: SPAN_KIND_SERVER,
        startTime: end - ms,
        attributes,
      });
      if (SERVER_ERRORS.has(code)) span.setStatus({ code: SPAN_STATUS_ERROR, message: statusName(code) });
      span.end(end);
      this.duration?.record(ms, attributes);
    } catch {
      // Telemetry must never break a call.
    }
  }
}
