/**
 * Status page rendering (src/ops/_status_page.ts): totals, charts, tables, escaping, formatting.
 */
import assert from "node:assert/strict";
import { aggregate } from "../../src/ops/_snapshot.ts";
import {
  escapeHtml,
  formatBytes,
  lineChart,
  niceBytes,
  niceCeil,
  renderStatusPage,
} from "../../src/ops/_status_page.ts";
import { opsSnapshot as snapshot, stat } from "../helpers/ops_snapshot.ts";

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
