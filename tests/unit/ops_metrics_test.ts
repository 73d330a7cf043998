/**
 * Metrics: call histograms, label handling and the text format; samples and
 * rates; index aggregation; status page rendering.
 */
import assert from "node:assert/strict";
import {
  CallMetrics,
  escapeLabel,
  formatValue,
  LATENCY_BUCKETS,
  methodLabels,
  renderMetrics,
} from "../../src/ops/metrics.ts";
import { rates, type Sample, SampleRing } from "../../src/ops/samples.ts";
import { aggregate, groupsOf, type OpsSnapshot } from "../../src/ops/snapshot.ts";
import {
  escapeHtml,
  formatBytes,
  lineChart,
  niceBytes,
  niceCeil,
  renderStatusPage,
} from "../../src/ops/status_page.ts";
import type { ObjectStat } from "../../src/store/types.ts";

function snapshot(over: Partial<OpsSnapshot> = {}): OpsSnapshot {
  return {
    time: 1_700_000_100_000,
    version: "0.1.0",
    startTime: 1_700_000_000_000,
    storage: "fs",
    storageRoot: "/var/lib/flame/cache",
    endpoint: "grpc://10.0.0.1:9090",
    listen: "0.0.0.0:9090",
    health: "SERVING",
    phase: "",
    serving: true,
    transport: {
      bytesIn: 100,
      bytesOut: 2000,
      connectionsAccepted: 3,
      connectionsRefused: 1,
      connections: 2,
      inflight: 1,
    },
    usage: {
      residentBytes: 1234,
      residentObjects: 2,
      objects: 3,
      counters: { hits: 5, misses: 1, loads: 2, evictions: 1, puts: 3, patches: 1, deletes: 0 },
    },
    stored: aggregate([stat("a/s1/o1", 100), stat("a/s1/o2", 50), stat("b/s2/o3", 7)]),
    limits: { policy: "lru", maxMemory: 1 << 30, maxObjects: Infinity, capacity: 10 << 30 },
    process: { rss: 1 << 20, heapUsed: 1 << 19, external: 1 << 18 },
    calls: 4,
    ...over,
  };
}

function stat(key: string, size: number): ObjectStat {
  return { key, size, version: 1, baseVersion: 1, deltaCount: 0, kind: "opaque", rows: 1, modified: 0 };
}

Deno.test("methodLabels: known services keep their method; anything else is 'other'", () => {
  assert.deepEqual(methodLabels("/arrow.flight.protocol.FlightService/DoGet"), {
    service: "arrow.flight.protocol.FlightService",
    method: "DoGet",
  });
  assert.deepEqual(methodLabels("/grpc.health.v1.Health/Watch"), {
    service: "grpc.health.v1.Health",
    method: "Watch",
  });
  for (const p of ["/evil.Service/X", '/arrow.flight.protocol.FlightService/Do"Get', "", "nonsense"]) {
    assert.deepEqual(methodLabels(p), { service: "other", method: "other" });
  }
});

Deno.test("CallMetrics: counts and cumulative buckets by method and code", () => {
  const m = new CallMetrics();
  m.record("/arrow.flight.protocol.FlightService/DoGet", 0, 0.2);
  m.record("/arrow.flight.protocol.FlightService/DoGet", 0, 3);
  m.record("/arrow.flight.protocol.FlightService/DoGet", 5, 1);
  m.record("/arrow.flight.protocol.FlightService/DoPut", 0, 120_000); // beyond the last bucket
  assert.equal(m.total, 4);
  assert.equal(m.count("DoGet"), 3);
  assert.equal(m.count("DoGet", "NOT_FOUND"), 1);
  const text = renderMetrics(snapshot(), m);
  const line = (s: string) => text.split("\n").find((l) => l.startsWith(s));
  assert.equal(
    line(
      'flame_cache_rpc_requests_total{service="arrow.flight.protocol.FlightService",method="DoGet",code="OK"}',
    ),
    'flame_cache_rpc_requests_total{service="arrow.flight.protocol.FlightService",method="DoGet",code="OK"} 2',
  );
  const ok = 'service="arrow.flight.protocol.FlightService",method="DoGet",code="OK"';
  assert.match(line(`flame_cache_rpc_duration_seconds_bucket{${ok},le="0.0005"}`)!, / 1$/);
  assert.match(line(`flame_cache_rpc_duration_seconds_bucket{${ok},le="0.0025"}`)!, / 1$/);
  assert.match(line(`flame_cache_rpc_duration_seconds_bucket{${ok},le="0.005"}`)!, / 2$/);
  assert.match(line(`flame_cache_rpc_duration_seconds_bucket{${ok},le="+Inf"}`)!, / 2$/);
  assert.match(line(`flame_cache_rpc_duration_seconds_sum{${ok}}`)!, / 0\.0032$/);
  const put = 'service="arrow.flight.protocol.FlightService",method="DoPut",code="OK"';
  assert.match(line(`flame_cache_rpc_duration_seconds_bucket{${put},le="60"}`)!, / 0$/);
  assert.match(line(`flame_cache_rpc_duration_seconds_bucket{${put},le="+Inf"}`)!, / 1$/);
  assert.equal(text.split("\n").filter((l) => l.includes(`{${put},le=`)).length, LATENCY_BUCKETS.length + 1);
});

Deno.test("renderMetrics: families, HELP/TYPE before samples, store gauges, labelled stored bytes", () => {
  const text = renderMetrics(snapshot(), new CallMetrics());
  assert.ok(text.endsWith("\n"));
  const typed = new Map<string, string>();
  for (const l of text.trimEnd().split("\n")) {
    if (l.startsWith("# TYPE ")) {
      const [, , name, type] = l.split(" ");
      assert.ok(!typed.has(name), `duplicate TYPE for ${name}`);
      typed.set(name, type);
      continue;
    }
    if (l.startsWith("# HELP ")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(l);
    assert.ok(m, `bad sample line: ${l}`);
    const family = typed.has(m[1]) ? m[1] : m[1].replace(/_(bucket|sum|count)$/, "");
    assert.ok(typed.has(family), `sample ${m[1]} without TYPE`);
    assert.ok(!Number.isNaN(Number(m[3].replace("+Inf", "Infinity"))), l);
  }
  for (
    const name of [
      "flame_cache_hits_total",
      "flame_cache_misses_total",
      "flame_cache_evictions_total",
      "flame_cache_resident_objects",
      "flame_cache_resident_bytes",
      "flame_cache_received_bytes_total",
      "flame_cache_sent_bytes_total",
      "flame_cache_connections",
      "flame_cache_capacity_bytes",
    ]
  ) assert.ok(typed.has(name), name);
  assert.equal(typed.get("flame_cache_rpc_duration_seconds"), "histogram");
  assert.match(text, /^flame_cache_stored_bytes\{source="index",storage="fs"\} 157$/m);
  assert.match(text, /^flame_cache_store_operations_total\{op="delete"\} 0$/m);
  assert.match(text, /^flame_cache_up 1$/m);
  assert.ok(!text.includes("flame_cache_max_objects"), "unlimited max_objects is left out");
  // While the store is not open, store families are absent and up is 0.
  const starting = renderMetrics(snapshot({ usage: null, stored: null, serving: false }), new CallMetrics());
  assert.ok(!starting.includes("flame_cache_hits_total"));
  assert.match(starting, /^flame_cache_up 0$/m);
});

Deno.test("label escaping and value formatting", () => {
  assert.equal(escapeLabel('a\\b"c\nd'), 'a\\\\b\\"c\\nd');
  assert.equal(formatValue(Infinity), "+Inf");
  assert.equal(formatValue(NaN), "NaN");
  assert.equal(formatValue(3), "3");
  assert.equal(formatValue(0.1 + 0.2), "0.3");
});

Deno.test("SampleRing keeps the newest samples; rates per interval, hit rate null without reads", () => {
  const ring = new SampleRing(3);
  const s = (t: number, bytesOut: number, hits: number, misses: number): Sample => ({
    t: t * 1000,
    bytesIn: 0,
    bytesOut,
    hits,
    loads: 0,
    misses,
    calls: 0,
  });
  for (let i = 0; i < 5; i++) ring.push(s(i * 5, i * 5000, i * 3, i));
  assert.equal(ring.size, 3);
  assert.deepEqual(ring.all().map((x) => x.t), [10_000, 15_000, 20_000]);
  const r = rates(ring.all());
  assert.equal(r.length, 2);
  assert.equal(r[0].outBps, 1000);
  assert.equal(r[0].hitRate, 0.75);
  assert.deepEqual(rates([s(0, 0, 1, 1), s(5, 0, 1, 1)])[0].hitRate, null);
  // Counter reset (restart) never gives negative rates.
  assert.equal(rates([s(0, 100, 0, 0), s(5, 0, 0, 0)])[0].outBps, 0);
});

Deno.test("aggregate: totals per application and session, largest first; seed keys", () => {
  const t = aggregate([stat("a/s1/o1", 100), stat("a/s2/o2", 300), stat("b/s1/o1", 7), stat("seed/o", 5)]);
  assert.equal(t.bytes, 412);
  assert.equal(t.objects, 4);
  assert.deepEqual(t.apps.map((g) => [g.name, g.bytes, g.objects]), [["a", 400, 2], ["b", 7, 1], [
    "(no app)",
    5,
    1,
  ]]);
  assert.deepEqual(t.sessions.map((g) => g.name), ["a/s2", "a/s1", "b/s1", "seed"]);
  assert.deepEqual(groupsOf("x"), { app: "(no app)", session: "(no session)" });
});

Deno.test("status page: totals, charts and tables; user text is escaped", () => {
  const snap = snapshot({ stored: aggregate([stat("<script>/s/o", 10)]) });
  const points = [
    { t: 1_700_000_090_000, inBps: 10, outBps: 2048, readsPerSec: 1, hitRate: 0.5, callsPerSec: 1 },
    { t: 1_700_000_095_000, inBps: 10, outBps: 4096, readsPerSec: 0, hitRate: null, callsPerSec: 1 },
    { t: 1_700_000_100_000, inBps: 10, outBps: 1024, readsPerSec: 2, hitRate: 1, callsPerSec: 1 },
  ];
  const html = renderStatusPage(snap, points);
  assert.ok(html.startsWith("<!doctype html>"));
  for (const id of ["totals", "throughput-chart", "hitrate-chart", "apps", "sessions", "health"]) {
    assert.ok(html.includes(`id="${id}"`), id);
  }
  assert.ok(!html.includes("<script"), "no script, and user text escaped");
  assert.ok(html.includes("&#60;script&#62;"));
  assert.ok(!/(src|href)="https?:/.test(html), "no external asset");
  assert.ok(html.includes("1 KiB/s"), "last throughput shown");
  assert.ok(html.includes("62.5 %"), "hit rate since start: 5 / (5 + 2 + 1)");
  // Null hit rate splits the line: two single points, drawn as dots.
  const chart = lineChart({
    id: "c",
    title: "t",
    series: [{ name: "s", color: "#000", points: points.map((p) => [p.t, p.hitRate]) }],
    yMax: 1,
    yFormat: String,
  });
  assert.equal((chart.match(/<circle /g) ?? []).length, 2);
  assert.ok(lineChart({ id: "e", title: "t", series: [], yFormat: String }).includes("collecting samples"));
});

Deno.test("formatting helpers", () => {
  assert.equal(formatBytes(0), "0 B");
  assert.equal(formatBytes(1536), "1.50 KiB");
  assert.equal(formatBytes(5 * 2 ** 30), "5 GiB");
  assert.equal(niceBytes(87 * 1024), 100 * 1024);
  assert.equal(niceBytes(3.2 * 2 ** 20), 4 * 2 ** 20);
  assert.equal(formatBytes(Infinity), "unlimited");
  assert.equal(niceCeil(0), 1);
  assert.equal(niceCeil(3), 4);
  assert.equal(niceCeil(4.5), 5);
  assert.equal(niceCeil(1100), 2000);
  assert.equal(escapeHtml(`<a href="x">&'`), "&#60;a href=&#34;x&#34;&#62;&#38;&#39;");
});
