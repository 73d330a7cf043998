// OTLP JSON is walked as untyped data.
// deno-lint-ignore-file no-explicit-any
/**
 * OpenTelemetry through Deno's built-in exporter: a server process with
 * `OTEL_DENO=true` sends spans for gRPC calls, the `rpc.server.duration`
 * histogram and its JSON log lines (with their severity) over OTLP/HTTP to a
 * stand-in collector run by the test (OTLP JSON encoding, on 127.0.0.1).
 */
import assert from "node:assert/strict";
import { collect, connect, doGet, statusOf } from "../helpers/flight_client.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

interface KeyValue {
  key: string;
  value: Record<string, unknown>;
}

function attrs(list: KeyValue[] = []): Record<string, unknown> {
  return Object.fromEntries(list.map((a) => [a.key, Object.values(a.value)[0]]));
}

Deno.test({
  name: "otel: spans per gRPC call, rpc.server.duration and log records reach an OTLP collector",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const received: Record<string, unknown[]> = { "/v1/traces": [], "/v1/metrics": [], "/v1/logs": [] };
    const collector = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
      const path = new URL(req.url).pathname;
      const body = await req.text();
      try {
        (received[path] ??= []).push(JSON.parse(body));
      } catch {
        (received[path] ??= []).push({ unparsed: body.length });
      }
      return Response.json({});
    });
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        `${ROOT}main.ts`,
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--storage",
        "none",
        "--http",
        "127.0.0.1:0",
      ],
      cwd: ROOT,
      env: {
        OTEL_DENO: "true",
        OTEL_SERVICE_NAME: "flame-cache-test",
        OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${collector.addr.port}`,
        OTEL_METRIC_EXPORT_INTERVAL: "500",
        OTEL_BSP_SCHEDULE_DELAY: "200",
        OTEL_BLRP_SCHEDULE_DELAY: "200",
        FLAME_LOG: "info",
      },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    let out = "";
    const pump = (stream: ReadableStream<Uint8Array>) =>
      (async () => {
        for await (const chunk of stream.pipeThrough(new TextDecoderStream())) out += chunk;
      })();
    const pumps = [pump(child.stdout), pump(child.stderr)];
    try {
      const deadline = Date.now() + 30_000;
      while (!out.includes('"flame-cache started"')) {
        assert.ok(Date.now() < deadline, `server did not start:\n${out}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      const info = JSON.parse(out.split("\n").find((l) => l.includes('"flame-cache started"'))!);
      const port = String(info.listen).split(":").pop();
      const client = connect(`127.0.0.1:${port}`);
      try {
        await collect(client.ListActions({}));
        assert.equal((await statusOf(doGet(client, "app/s/missing"))).code, 5);
      } finally {
        client.close();
      }
      await (await fetch(`http://${info.http}/healthz`)).text();
      // Spans go out in batches; metrics every 500 ms here.
      const spanNames = () =>
        received["/v1/traces"].flatMap((t) =>
          (t as any).resourceSpans.flatMap((r: any) => r.scopeSpans.flatMap((s: any) => s.spans))
        );
      const metricNames = () =>
        received["/v1/metrics"].flatMap((m) =>
          (m as any).resourceMetrics.flatMap((r: any) =>
            r.scopeMetrics.flatMap((s: any) => s.metrics.map((x: any) => x.name))
          )
        );
      const until = Date.now() + 15_000;
      while (
        Date.now() < until &&
        !(spanNames().some((s) => s.name.endsWith("/DoGet")) && metricNames().includes("rpc.server.duration"))
      ) {
        await new Promise((r) => setTimeout(r, 100));
      }
      child.kill("SIGTERM");
      assert.equal((await child.status).code, 0, out);
      await Promise.all(pumps);

      const spans = spanNames();
      const list = spans.find((s) => s.name === "arrow.flight.protocol.FlightService/ListActions");
      assert.ok(list, `ListActions span in ${JSON.stringify(spans.map((s) => s.name))}`);
      assert.equal(list.kind, 2, "SPAN_KIND_SERVER");
      assert.deepEqual(
        {
          ...attrs(list.attributes),
          "rpc.grpc.status_code": Number(attrs(list.attributes)["rpc.grpc.status_code"]),
        },
        {
          "rpc.system": "grpc",
          "rpc.service": "arrow.flight.protocol.FlightService",
          "rpc.method": "ListActions",
          "rpc.grpc.status_code": 0,
        },
      );
      const get = spans.find((s) => s.name === "arrow.flight.protocol.FlightService/DoGet");
      assert.ok(get);
      assert.equal(Number(attrs(get.attributes)["rpc.grpc.status_code"]), 5);
      assert.notEqual(get.status?.code, 2, "NOT_FOUND is not a server error");
      assert.ok(BigInt(get.endTimeUnixNano) >= BigInt(get.startTimeUnixNano));
      assert.ok(metricNames().includes("rpc.server.duration"), JSON.stringify(metricNames()));
      const service = received["/v1/traces"].flatMap((t) =>
        (t as any).resourceSpans.map((r: any) => attrs(r.resource.attributes)["service.name"])
      );
      assert.ok(service.includes("flame-cache-test"));

      // Logs: the JSON lines, exported with their severity.
      const records = received["/v1/logs"].flatMap((l) =>
        (l as any).resourceLogs.flatMap((r: any) => r.scopeLogs.flatMap((s: any) => s.logRecords))
      );
      const started = records.find((r) => String(r.body?.stringValue).includes('"flame-cache started"'));
      assert.ok(started, `start-up line exported; got ${records.length} records`);
      assert.equal(started.severityText, "INFO");
      const line = JSON.parse(String(started.body.stringValue));
      assert.equal(line.level, "info");
    } finally {
      try {
        child.kill("SIGKILL");
      } catch { /* exited */ }
      await child.status;
      await collector.shutdown();
    }
  },
});
