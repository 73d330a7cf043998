/**
 * Whether Deno's OpenTelemetry exporter is on. A leaf module: the logger
 * (src/log.ts, also loaded in the store worker) and the ops layer
 * (src/ops/otel.ts) both ask it, so the logger does not depend on ops.
 *
 * @module
 */

let enabled: boolean | undefined;

/**
 * True when Deno's OpenTelemetry exporter is initialized: `OTEL_DENO=true` for
 * `deno run`; for a `deno compile`d binary, when `OTEL_DENO=true` was set at
 * build time (Deno stores the switch in the binary). Probed once by starting a
 * span that is never ended (so never exported): Deno throws "otel not
 * initialized" when the exporter is off.
 */
export function otelEnabled(): boolean {
  if (enabled === undefined) {
    try {
      const provider = (Deno as unknown as { telemetry?: { tracerProvider?: unknown } }).telemetry
        ?.tracerProvider;
      // deno-lint-ignore no-explicit-any
      const probe = (provider as any)?.getTracer("flame-cache")?.startSpan("flame-cache.otel-probe");
      enabled = !!probe && probe.isRecording?.() !== false;
    } catch {
      enabled = false;
    }
  }
  return enabled;
}
