/**
 * The status page served at `/` on the HTTP side port: totals, sizes per
 * application and session, and hit rate and throughput over time as inline
 * SVG charts drawn on the server. One self-contained HTML document: no
 * script, no external asset; it reloads itself every 5 s.
 *
 * @module
 */
import type { GroupSize, OpsSnapshot } from "./_snapshot.ts";
import type { RatePoint } from "./_samples.ts";

/** Rows shown per table; the rest is summed into one line. */
export const MAX_ROWS = 50;

/** Escape text for HTML element content and attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** `1536` -> `1.5 KiB`. */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return "unlimited";
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let i = 0;
  let v = n;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  if (i === 0) return `${Number(v.toFixed(1))} B`;
  return `${Number.isInteger(v) ? v : v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)} ${units[i]}`;
}

function formatCount(n: number): string {
  return Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "unlimited";
}

function formatDuration(ms: number): string {
  let s = Math.max(0, Math.floor(ms / 1000));
  const d = Math.floor(s / 86400);
  s -= d * 86400;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  if (d > 0) return `${d}d ${h}h ${m}m`;
  if (h > 0) return `${h}h ${m}m ${s}s`;
  if (m > 0) return `${m}m ${s}s`;
  return `${s}s`;
}

function percent(r: number | null): string {
  return r === null ? "–" : `${(r * 100).toFixed(1)} %`;
}

/** One line of a chart. */
export interface Series {
  name: string;
  color: string;
  /** `[t (ms), value or null]`; null breaks the line. */
  points: [number, number | null][];
}

/** Options of {@link lineChart}. */
export interface ChartOptions {
  id: string;
  title: string;
  series: Series[];
  /** Fixed top of the y axis (e.g. 1 for a ratio); else `yNice` of the largest value. */
  yMax?: number;
  /** Rounds the largest value up to the top of the axis (default {@link niceCeil}). */
  yNice?: (v: number) => number;
  yFormat: (v: number) => string;
  width?: number;
  height?: number;
}

/** A "nice" upper bound: 1, 2 or 5 times a power of ten, at least `v`. */
export function niceCeil(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 4, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

/** A nice upper bound for bytes: {@link niceCeil} in the largest binary unit below `v`. */
export function niceBytes(v: number): number {
  if (!(v > 0)) return 1024;
  const unit = 1024 ** Math.max(0, Math.min(5, Math.floor(Math.log(v) / Math.log(1024))));
  return niceCeil(v / unit) * unit;
}

function clock(t: number): string {
  return new Date(t).toISOString().slice(11, 19);
}

/** An SVG line chart with axes, grid, legend and a message when there is no data yet. */
export function lineChart(o: ChartOptions): string {
  const W = o.width ?? 600;
  const H = o.height ?? 220;
  const L = 72, R = 16, T = 28, B = 30;
  const pw = W - L - R, ph = H - T - B;
  const all = o.series.flatMap((s) => s.points);
  const ts = all.map((p) => p[0]);
  const values = all.map((p) => p[1]).filter((v): v is number => v !== null);
  const t0 = ts.length ? Math.min(...ts) : 0;
  let t1 = ts.length ? Math.max(...ts) : 1;
  if (t1 - t0 < 60_000) t1 = t0 + 60_000; // at least one minute wide
  const yMax = o.yMax ?? (o.yNice ?? niceCeil)(values.length ? Math.max(...values) : 0);
  const x = (t: number) => L + ((t - t0) / (t1 - t0)) * pw;
  const y = (v: number) => T + ph - (Math.min(v, yMax) / yMax) * ph;
  const parts: string[] = [];
  parts.push(
    `<svg id="${
      escapeHtml(o.id)
    }" class="chart" xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${
      escapeHtml(o.title)
    }">`,
  );
  parts.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="#ffffff"/>`);
  parts.push(`<text x="${L}" y="18" class="ct">${escapeHtml(o.title)}</text>`);
  for (let i = 0; i <= 4; i++) {
    const v = (yMax * i) / 4;
    const yy = y(v).toFixed(1);
    parts.push(`<line x1="${L}" y1="${yy}" x2="${L + pw}" y2="${yy}" stroke="#e3e6ea" stroke-width="1"/>`);
    parts.push(
      `<text x="${L - 6}" y="${yy}" class="yl" text-anchor="end" dominant-baseline="middle">${
        escapeHtml(o.yFormat(v))
      }</text>`,
    );
  }
  parts.push(
    `<line x1="${L}" y1="${T + ph}" x2="${L + pw}" y2="${T + ph}" stroke="#9aa3ad" stroke-width="1"/>`,
  );
  if (ts.length) {
    for (const [t, anchor] of [[t0, "start"], [(t0 + t1) / 2, "middle"], [t1, "end"]] as const) {
      parts.push(
        `<text x="${x(t).toFixed(1)}" y="${H - 10}" class="xl" text-anchor="${anchor}">${clock(t)}</text>`,
      );
    }
  }
  if (values.length === 0) {
    parts.push(
      `<text x="${L + pw / 2}" y="${
        T + ph / 2
      }" class="empty" text-anchor="middle">collecting samples (every 5 s)…</text>`,
    );
  }
  for (const s of o.series) parts.push(...seriesMarks(s, x, y));
  parts.push(...legend(o.series, L + pw));
  parts.push(`</svg>`);
  return parts.join("");
}

/** One series as polylines, split where a value is null; a lone point is drawn as a dot. */
function seriesMarks(
  s: Series,
  x: (t: number) => number,
  y: (v: number) => number,
): string[] {
  const marks: string[] = [];
  let seg: string[] = [];
  const flush = () => {
    if (seg.length === 1) {
      const [cx, cy] = seg[0].split(",");
      marks.push(`<circle cx="${cx}" cy="${cy}" r="2.5" fill="${s.color}"/>`);
    } else if (seg.length > 1) {
      marks.push(
        `<polyline fill="none" stroke="${s.color}" stroke-width="2" stroke-linejoin="round" points="${
          seg.join(" ")
        }"/>`,
      );
    }
    seg = [];
  };
  for (const [t, v] of s.points) {
    if (v === null) flush();
    else seg.push(`${x(t).toFixed(1)},${y(v).toFixed(1)}`);
  }
  flush();
  return marks;
}

/** The legend, right-aligned at `right`. */
function legend(series: Series[], right: number): string[] {
  const marks: string[] = [];
  let lx = right;
  for (const s of [...series].reverse()) {
    const w = 18 + s.name.length * 7;
    lx -= w;
    marks.push(`<rect x="${lx}" y="9" width="10" height="10" fill="${s.color}"/>`);
    marks.push(`<text x="${lx + 14}" y="18" class="lg">${escapeHtml(s.name)}</text>`);
    lx -= 8;
  }
  return marks;
}

function groupTable(id: string, title: string, groups: GroupSize[], totalBytes: number): string {
  const rows = groups.slice(0, MAX_ROWS).map((g) => {
    const share = totalBytes > 0 ? (g.bytes / totalBytes) * 100 : 0;
    return `<tr><td class="name">${escapeHtml(g.name)}</td><td class="num">${formatCount(g.objects)}</td>` +
      `<td class="num">${formatBytes(g.bytes)}</td><td class="bar"><span style="width:${
        share.toFixed(1)
      }%"></span></td></tr>`;
  });
  const rest = groups.slice(MAX_ROWS);
  if (rest.length) {
    const bytes = rest.reduce((n, g) => n + g.bytes, 0);
    const objects = rest.reduce((n, g) => n + g.objects, 0);
    rows.push(
      `<tr class="rest"><td class="name">${rest.length} more</td><td class="num">${
        formatCount(objects)
      }</td>` +
        `<td class="num">${formatBytes(bytes)}</td><td></td></tr>`,
    );
  }
  if (rows.length === 0) rows.push(`<tr><td colspan="4" class="none">no objects</td></tr>`);
  return `<section class="panel"><h2>${escapeHtml(title)} <small>(${groups.length})</small></h2>` +
    `<table id="${id}"><thead><tr><th>name</th><th class="num">objects</th><th class="num">size</th><th></th></tr></thead>` +
    `<tbody>${rows.join("")}</tbody></table></section>`;
}

function card(id: string, label: string, value: string, sub = ""): string {
  return `<div class="card" id="${id}"><div class="label">${escapeHtml(label)}</div><div class="value">${
    escapeHtml(value)
  }</div><div class="sub">${escapeHtml(sub)}</div></div>`;
}

const STYLE = `
*{box-sizing:border-box}
body{margin:0;font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:#1d2733;background:#f3f5f7}
header{display:flex;align-items:center;gap:14px;padding:14px 24px;background:#1d2733;color:#fff}
header h1{margin:0;font-size:20px;font-weight:600}
header .meta{color:#b8c2cc;font-size:13px}
.badge{padding:3px 10px;border-radius:10px;font-weight:600;font-size:12px;letter-spacing:.04em}
.badge.ok{background:#2e9d5b;color:#fff}.badge.bad{background:#c8553d;color:#fff}
main{padding:18px 24px}
#totals{display:grid;grid-template-columns:repeat(5,1fr);gap:12px;margin-bottom:16px}
.card{background:#fff;border-radius:8px;padding:10px 14px;box-shadow:0 1px 2px rgba(0,0,0,.08)}
.card .label{color:#5b6775;font-size:12px;text-transform:uppercase;letter-spacing:.05em}
.card .value{font-size:22px;font-weight:600;margin-top:2px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.card .sub{color:#5b6775;font-size:12px;min-height:16px}
#charts{display:grid;grid-template-columns:1fr 1fr;gap:12px;margin-bottom:16px}
.chart{width:100%;height:auto;background:#fff;border-radius:8px;box-shadow:0 1px 2px rgba(0,0,0,.08)}
.chart text{font-size:11px;fill:#5b6775}.chart .ct{font-size:13px;font-weight:600;fill:#1d2733}
.chart .lg{font-size:11px;fill:#1d2733}.chart .empty{font-size:13px;fill:#8a96a3}
.tables{display:grid;grid-template-columns:1fr 1fr;gap:12px}
.panel{background:#fff;border-radius:8px;padding:10px 14px;box-shadow:0 1px 2px rgba(0,0,0,.08)}
.panel h2{font-size:15px;margin:2px 0 8px}.panel h2 small{color:#5b6775;font-weight:400}
table{width:100%;border-collapse:collapse}
th{text-align:left;color:#5b6775;font-weight:500;font-size:12px;border-bottom:1px solid #e3e6ea;padding:4px 6px}
td{padding:4px 6px;border-bottom:1px solid #f0f2f4}
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.name{font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:12px;word-break:break-all}
td.bar{width:30%}td.bar span{display:block;height:8px;border-radius:4px;background:#3b7dd8;min-width:1px}
td.none{color:#8a96a3;text-align:center}
footer{padding:4px 24px 18px;color:#5b6775;font-size:12px}
footer a{color:#3b7dd8}
`;

/** Render the whole page. `points` are the rate points, oldest first. */
export function renderStatusPage(s: OpsSnapshot, points: readonly RatePoint[]): string {
  const badge = s.serving
    ? `<span class="badge ok" id="health">SERVING</span>`
    : `<span class="badge bad" id="health">NOT_SERVING${s.phase ? ` (${escapeHtml(s.phase)})` : ""}</span>`;
  const stored = s.stored;
  const storage = s.storage === "fs" ? `fs ${s.storageRoot ?? ""}` : "memory only";
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="5">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>flame-cache status</title><style>${STYLE}</style></head>
<body>
<header><h1>flame-cache</h1>${badge}<span class="meta">v${escapeHtml(s.version)} · ${
    escapeHtml(s.endpoint)
  } · listen ${escapeHtml(s.listen)} · storage ${escapeHtml(storage)}</span></header>
<main>
<section id="totals">${totalCards(s, points)}</section>
<section id="charts">${rateCharts(points)}</section>
<div class="tables">${groupTable("apps", "Applications", stored?.apps ?? [], stored?.bytes ?? 0)}${
    groupTable("sessions", "Sessions", stored?.sessions ?? [], stored?.bytes ?? 0)
  }</div>
</main>
<footer>Updated ${
    escapeHtml(new Date(s.time).toISOString())
  } · samples every 5 s, last hour kept · hit rate = hits ÷ (hits + loads + misses) ·
<a href="/metrics">/metrics</a> · <a href="/healthz">/healthz</a> · <a href="/status.json">/status.json</a></footer>
</body></html>
`;
}

/** The cards with the totals: objects, bytes, hit rate, throughput, calls, connections, uptime. */
function totalCards(s: OpsSnapshot, points: readonly RatePoint[]): string {
  const u = s.usage;
  const c = u?.counters ?? {};
  const reads = (c.hits ?? 0) + (c.loads ?? 0) + (c.misses ?? 0);
  const hitRate = reads > 0 ? (c.hits ?? 0) / reads : null;
  const last = points.length ? points[points.length - 1] : undefined;
  const stored = s.stored;
  return [
    card(
      "total-objects",
      "Objects",
      u ? formatCount(u.objects) : "–",
      s.storage === "fs" ? "indexed (memory + disk)" : "in memory",
    ),
    card(
      "total-stored",
      "Stored (index)",
      stored ? formatBytes(stored.bytes) : "–",
      s.limits.capacity !== undefined
        ? `disk budget ${formatBytes(s.limits.capacity)}`
        : "sum of payload sizes",
    ),
    card(
      "total-resident",
      "Resident memory",
      u ? formatBytes(u.residentBytes) : "–",
      `${u ? formatCount(u.residentObjects) : "–"} objects, limit ${formatBytes(s.limits.maxMemory)}`,
    ),
    card("total-hitrate", "Hit rate", percent(hitRate), `${formatCount(reads)} reads since start`),
    card(
      "total-throughput",
      "Throughput",
      last ? `${formatBytes(last.outBps)}/s` : "–",
      last ? `out; in ${formatBytes(last.inBps)}/s` : "collecting samples",
    ),
    card("total-calls", "gRPC calls", formatCount(s.calls), `${formatCount(s.transport.inflight)} in flight`),
    card(
      "total-bytes",
      "Bytes sent",
      formatBytes(s.transport.bytesOut),
      `${formatBytes(s.transport.bytesIn)} received, since start`,
    ),
    card(
      "total-connections",
      "Connections",
      formatCount(s.transport.connections),
      `${formatCount(s.transport.connectionsAccepted)} accepted, ${
        formatCount(s.transport.connectionsRefused)
      } refused`,
    ),
    card(
      "total-evictions",
      "Evictions",
      formatCount(c.evictions ?? 0),
      `${formatCount(c.loads ?? 0)} loads from disk`,
    ),
    card("total-uptime", "Uptime", formatDuration(s.time - s.startTime), `policy ${s.limits.policy}`),
  ].join("");
}

/** The throughput and hit rate charts. */
function rateCharts(points: readonly RatePoint[]): string {
  const throughput = lineChart({
    id: "throughput-chart",
    title: "Throughput (bytes/s)",
    series: [
      { name: "out", color: "#3b7dd8", points: points.map((p) => [p.t, p.outBps]) },
      { name: "in", color: "#e08a2e", points: points.map((p) => [p.t, p.inBps]) },
    ],
    yNice: niceBytes,
    yFormat: (v) => `${formatBytes(v)}/s`,
  });
  const hitChart = lineChart({
    id: "hitrate-chart",
    title: "Hit rate (reads served from memory)",
    series: [{ name: "hit rate", color: "#2e9d5b", points: points.map((p) => [p.t, p.hitRate]) }],
    yMax: 1,
    yFormat: (v) => `${Math.round(v * 100)} %`,
  });
  return throughput + hitChart;
}
