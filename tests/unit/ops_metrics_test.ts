/**
 * Metrics (src/ops/_metrics.ts): call histograms, label handling and the Prometheus text format.
 */
import assert from "node:assert/strict";
import {
  CallMetrics,
  escapeLabel,
  formatValue,
  LATENCY_BUCKETS,
  methodLabels,
  renderMetrics,
} from "../../src/ops/_metrics.ts";
import { opsSnapshot as snapshot } from "../helpers/ops_snapshot.ts";

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
  assert.ok(!text.includes("flame_cache_tier_fetched_bytes_total"), "tier bytes only in cluster mode");
  const tiered = snapshot();
  tiered.usage!.counters = { hits: 3, misses: 1, tierFetchedBytes: 32 << 20 };
  const tieredText = renderMetrics(tiered, new CallMetrics());
  assert.match(tieredText, /^# TYPE flame_cache_tier_fetched_bytes_total counter$/m);
  assert.match(tieredText, /^flame_cache_tier_fetched_bytes_total 33554432$/m);
  assert.match(tieredText, /^flame_cache_misses_total 1$/m);
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
