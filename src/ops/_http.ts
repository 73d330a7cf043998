/**
 * The HTTP side port (`--http HOST:PORT`, `cache.http`; off by default):
 *
 * - `GET /metrics`: Prometheus text format.
 * - `GET /healthz`: 200 `ok` when SERVING, else 503 (`starting`, `shutting down`).
 * - `GET /`: the status page. `GET /status.json`: the same data as JSON.
 *
 * HTTP/1.1 via `Deno.serve`. It shows key names (applications and sessions)
 * and the storage path but never payloads or credentials; with
 * `cache.http_auth: token` everything but /healthz needs a bearer token
 * (_http_auth.ts).
 *
 * @module
 */
import { PROMETHEUS_CONTENT_TYPE, renderMetrics } from "./_metrics.ts";
import { renderStatusPage } from "./_status_page.ts";
import type { HealthService } from "./_health.ts";
import type { CallMetrics } from "./_metrics.ts";
import type { OpsSnapshot } from "./_snapshot.ts";
import type { RatePoint } from "./_samples.ts";
import type { SidePortGuard } from "./_http_auth.ts";

/** What the side port reads from the server's operations state (`Ops` in mod.ts provides it). */
export interface OpsView {
  readonly guard?: SidePortGuard;
  readonly health: HealthService;
  readonly phase: string;
  readonly calls: CallMetrics;
  snapshot(): Promise<OpsSnapshot>;
  ratePoints(): RatePoint[];
  onError(where: string, err: unknown): void;
}

function text(body: string, status = 200, type = "text/plain; charset=utf-8"): Response {
  return new Response(body, { status, headers: { "content-type": type, "cache-control": "no-store" } });
}

/** Answer one request on the side port (`peer`: the client's `host:port`, for the token check). */
export async function handleOpsRequest(ops: OpsView, req: Request, peer = "unknown"): Promise<Response> {
  const path = new URL(req.url).pathname;
  if (req.method !== "GET" && req.method !== "HEAD") {
    return new Response("method not allowed\n", { status: 405, headers: { allow: "GET, HEAD" } });
  }
  const refused = ops.guard?.(req, peer); // _http_auth.ts: bearer token unless the port is open
  if (refused) return refused;
  switch (path) {
    case "/healthz":
    case "/health":
      return ops.health.serving ? text("ok\n") : text(`${ops.phase || "not serving"}\n`, 503);
    case "/metrics":
      return text(renderMetrics(await ops.snapshot(), ops.calls), 200, PROMETHEUS_CONTENT_TYPE);
    case "/":
    case "/status":
      return text(renderStatusPage(await ops.snapshot(), ops.ratePoints()), 200, "text/html; charset=utf-8");
    case "/status.json": {
      const snapshot = await ops.snapshot();
      return text(JSON.stringify({ ...snapshot, rates: ops.ratePoints() }, null, 1), 200, "application/json");
    }
    default:
      return text("not found\n", 404);
  }
}

/** A listening side port. */
export interface OpsHttpServer {
  /** Bound `host:port` (IPv6 hosts bracketed). */
  address: string;
  port: number;
  close(): Promise<void>;
}

/** Listen on `host:port` (port 0 = ephemeral). */
export function startOpsHttp(ops: OpsView, host: string, port: number): Promise<OpsHttpServer> {
  return new Promise((resolve, reject) => {
    try {
      const server = Deno.serve({
        hostname: host,
        port,
        onListen: (addr) => {
          const a = addr as Deno.NetAddr;
          const h = a.hostname.includes(":") ? `[${a.hostname}]` : a.hostname;
          resolve({
            address: `${h}:${a.port}`,
            port: a.port,
            close: async () => {
              await server.shutdown().catch(() => {});
            },
          });
        },
        onError: (err) => {
          ops.onError("http", err);
          return text("internal error\n", 500);
        },
      }, (req, info) => {
        const a = info.remoteAddr as Deno.NetAddr;
        return handleOpsRequest(ops, req, `${a.hostname}:${a.port}`);
      });
      server.finished.catch(() => {});
    } catch (err) {
      reject(err);
    }
  });
}
