/**
 * Targets (PASS/FAIL) and the Markdown report of a benchmark run (bench/results/latest.json).
 *
 * @module
 */

import { clusterTargets, renderCluster } from "./cluster_report.ts";
import { renderScale, scaleTargets } from "./scale_report.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** One target of the issue, evaluated. */
export interface Target {
  target: string;
  measured: string;
  status: "PASS" | "FAIL" | "n/a";
  note?: string;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0
    ? NaN
    : s.length % 2
    ? s[(s.length - 1) / 2]
    : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** The TCP limit: median of every run at the start and the end of the benchmark. */
export function tcpLimit(results: Json): number | undefined {
  const runs = [results.cases.tcp_start, results.cases.tcp_end].filter((r) => r && !r.error).flatMap((r) =>
    r.mib_s
  );
  return runs.length ? median(runs) : undefined;
}

function large(results: Json, server: string, client: string, size: number): Json | undefined {
  return (results.cases.large ?? []).find((r: Json) =>
    r.server === server && r.client === client && r.size === size && !r.error
  );
}

function smallPhase(results: Json, server: string, client: string, phase: string): Json | undefined {
  const row = (results.cases.small ?? []).find((r: Json) =>
    r.server === server && r.client === client && !r.error
  );
  return row?.phases?.find((p: Json) => p.phase === phase && !p.error);
}

const f0 = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? "-" : x.toFixed(0));
const f2 = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? "-" : x.toFixed(2));
const ratio = (a?: number, b?: number) => (a === undefined || b === undefined || !b ? undefined : a / b);
const fx = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? "-" : `${x.toFixed(2)}x`);
const sizeName = (
  n: number,
) => (n >= GiB ? `${n / GiB} GiB` : n >= MiB ? `${n / MiB} MiB` : `${n / 1024} KiB`);
const status = (
  ok: boolean | undefined,
): Target["status"] => (ok === undefined ? "n/a" : ok ? "PASS" : "FAIL");

/** Peak RSS growth of the server over the first PUT then GET of a row (bytes), and that beyond the payload. */
export function rssGrowth(row: Json): { growth?: number; beyondPayload?: number } {
  const base = row?.rss_baseline;
  const peaks = [row?.first?.put?.vm_hwm, row?.first?.get?.vm_hwm].filter((x) => typeof x === "number");
  if (!base || peaks.length === 0) return {};
  const growth = Math.max(...peaks) - base;
  return { growth, beyondPayload: growth - row.size };
}

/** Evaluate every target of the issue against a run. */
export function evaluate(results: Json): Target[] {
  const out: Target[] = [];
  const tcp = tcpLimit(results);
  const short = results.mode === "short";
  for (const size of [64 * MiB, GiB]) {
    const r = large(results, "flame", "pyarrow", size);
    const skipped = short && size === GiB ? "not run in short mode" : undefined;
    const g = ratio(r?.get_mib_s, tcp), p = ratio(r?.put_mib_s, tcp);
    out.push({
      target: `GET >= 0.6 x TCP limit, ${sizeName(size)} (pyarrow client)`,
      measured: r ? `${f0(r.get_mib_s)} MiB/s = ${fx(g)}` : skipped ?? "no data",
      status: status(g === undefined ? undefined : g >= 0.6),
    });
    out.push({
      target: `PUT >= 0.5 x TCP limit, ${sizeName(size)} (pyarrow client)`,
      measured: r ? `${f0(r.put_mib_s)} MiB/s = ${fx(p)}` : skipped ?? "no data",
      status: status(p === undefined ? undefined : p >= 0.5),
    });
  }
  for (const size of [64 * MiB, GiB]) {
    const r = large(results, "flame", "pyarrow", size), peer = large(results, "peer", "pyarrow", size);
    const g = ratio(r?.get_mib_s, peer?.get_mib_s), p = ratio(r?.put_mib_s, peer?.put_mib_s);
    out.push({
      target: `PUT and GET >= pyarrow peer, ${sizeName(size)}`,
      measured: r && peer
        ? `PUT ${fx(p)}, GET ${fx(g)} of the peer`
        : short && size === GiB
        ? "not run in short mode"
        : "no data",
      status: status(g === undefined || p === undefined ? undefined : g >= 1 && p >= 1),
    });
  }
  for (
    const [server, what] of [["flame", "durable fs"], ["flameNone", "storage none, like the in-memory peer"]]
  ) {
    const ratios: [string, number][] = [];
    for (const phase of ["c=1 put", "c=1 get", "c=32 put", "c=32 get", "c=32 mixed"]) {
      const a = smallPhase(results, server, "pyarrow", phase),
        b = smallPhase(results, "peer", "pyarrow", phase);
      const x = ratio(a?.ops_s, b?.ops_s);
      if (x !== undefined) ratios.push([phase, x]);
    }
    if (server === "flameNone" && ratios.length === 0) continue; // older runs have no such block
    const worst = ratios.sort((a, b) => a[1] - b[1])[0];
    out.push({
      target: `>= 80% of the peer's small-object (1 KiB) ops/s (${what})`,
      measured: worst
        ? `worst phase ${worst[0]}: ${fx(worst[1])} (all: ${
          ratios.map(([p, x]) => `${p} ${fx(x)}`).join(", ")
        })`
        : "no data",
      status: status(worst ? worst[1] >= 0.8 : undefined),
    });
  }
  {
    const g = smallPhase(results, "flame", "pyarrow", "c=1 get");
    const peer = smallPhase(results, "peer", "pyarrow", "c=1 get");
    out.push({
      target: "1 KiB GET p50 <= 0.3 ms at c=1 (pyarrow client)",
      measured: g?.get ? `${f2(g.get.p50_ms)} ms (peer ${f2(peer?.get?.p50_ms)} ms)` : "no data",
      status: status(g?.get ? g.get.p50_ms <= 0.3 : undefined),
    });
    const m = smallPhase(results, "flame", "pyarrow", "c=32 mixed");
    const mp = smallPhase(results, "peer", "pyarrow", "c=32 mixed");
    out.push({
      target: ">= 10,000 mixed (50% put / 50% get) 1 KiB ops/s at c=32 (pyarrow client)",
      measured: m ? `${f0(m.ops_s)} ops/s (peer ${f0(mp?.ops_s)})` : "no data",
      status: status(m ? m.ops_s >= 10_000 : undefined),
    });
  }
  {
    const r = large(results, "flame", "pyarrow", GiB);
    const { growth } = rssGrowth(r);
    const resident = r?.rss_end !== undefined && r?.rss_baseline !== undefined
      ? r.rss_end - r.rss_baseline
      : undefined;
    out.push({
      target: "server peak RSS growth < 256 MiB while a 1 GiB object is put and then got",
      measured: growth !== undefined
        ? `${f0(growth / MiB)} MiB (first PUT ${f0((r.first.put.vm_hwm - r.rss_baseline) / MiB)}, first GET ${
          f0((r.first.get.vm_hwm - r.rss_baseline) / MiB)
        }; RSS after the run ${f0((resident ?? NaN) / MiB)} MiB above start)`
        : short
        ? "not run in short mode"
        : "no data",
      status: status(growth === undefined ? undefined : growth < 256 * MiB),
    });
  }
  {
    const pair = results.cases.durability;
    const mode = results.fsync_off?.mode;
    const ok = pair && !pair.error && !pair.skipped;
    out.push({
      target: "durable writes cost <= 20% vs fsync off (64 MiB PUT)",
      measured: ok
        ? `${(pair.cost * 100).toFixed(0)}% (durable ${f0(pair.durable_mib_s)} vs fsync off ${
          f0(pair.nosync_mib_s)
        } MiB/s, medians of ${pair.reps} PUTs alternating between the two servers${
          mode === "ld-preload-shim" ? "; fsync off emulated by LD_PRELOAD" : ""
        })`
        : "skipped: " + (pair?.skipped ?? pair?.error ?? results.fsync_off?.note ?? "no data"),
      status: status(ok ? pair.cost <= 0.2 : undefined),
    });
  }
  {
    const runs = (results.cases.startup?.runs ?? []).filter((r: Json) =>
      r.name !== "empty store" && !r.error
    );
    const ms = runs.length ? median(runs.map((r: Json) => r.ready_ms)) : undefined;
    const empty = (results.cases.startup?.runs ?? []).find((r: Json) => r.name === "empty store" && !r.error);
    out.push({
      target: "start-up with 100,000 objects < 3 s (process start until the started line)",
      measured: ms !== undefined
        ? `${(ms / 1000).toFixed(2)} s (server's own startupMs ${
          runs.map((r: Json) => r.startup_ms_logged).join("/")
        }; empty store ${f0(empty?.ready_ms)} ms)`
        : "no data",
      status: status(ms === undefined ? undefined : ms < 3000),
    });
  }
  out.push(...rustPeerTargets(results));
  out.push(...clusterTargets(results));
  out.push(...scaleTargets(results));
  return out;
}

/** The small-object phases compared against the Rust peer (issue 15), in the order they run. */
const RUST_PEER_PHASES = ["c=1 put", "c=1 get", "c=32 put", "c=32 get", "c=32 mixed", "c=16 mixed"];

/** Issue 15's targets: ratios to the compiled (Rust) peer, and GET CPU against the Arrow C++ peer. */
export function rustPeerTargets(results: Json): Target[] {
  const out: Target[] = [];
  const missing = results.rust_peer?.missing;
  const ran = (results.cases.small ?? []).some((r: Json) => r.server === "rustPeer");
  if (!ran && !missing && !results.cases.get_cpu) return out; // a run from before issue 15
  const why = missing ? `Rust peer unavailable: ${missing}` : "no data";
  const peerMix = smallPhase(results, "rustPeer", "pyarrow", "c=16 mixed");
  for (
    const [server, what, goal] of [["flame", "durable fs", 1.0], ["flameNone", "storage none", 1.5]] as const
  ) {
    const m = smallPhase(results, server, "pyarrow", "c=16 mixed");
    const x = ratio(m?.ops_s, peerMix?.ops_s);
    out.push({
      target: `1 KiB mixed 50/50 c=16 ops/s >= ${goal.toFixed(1)}x the Rust peer (${what})`,
      measured: x !== undefined ? `${f0(m.ops_s)} vs ${f0(peerMix.ops_s)} ops/s = ${fx(x)}` : why,
      status: status(x === undefined ? undefined : x >= goal),
    });
  }
  const peerGet = smallPhase(results, "rustPeer", "pyarrow", "c=1 get");
  for (const [server, what] of [["flame", "durable fs"], ["flameNone", "storage none"]] as const) {
    const g = smallPhase(results, server, "pyarrow", "c=1 get");
    const a = g?.get?.p50_ms, b = peerGet?.get?.p50_ms;
    out.push({
      target: `1 KiB GET p50 at c=1 no slower than the Rust peer (${what})`,
      measured: a !== undefined && b !== undefined ? `${f2(a)} vs ${f2(b)} ms = ${fx(a / b)}` : why,
      status: status(a === undefined || b === undefined ? undefined : a <= b),
    });
  }
  const rows = results.cases.get_cpu ?? [];
  const ours = rows.find((r: Json) => r.server === "flame" && !r.error);
  const cpp = rows.find((r: Json) => r.server === "peer" && !r.error);
  const rust = rows.find((r: Json) => r.server === "rustPeer" && !r.error);
  const x = ratio(ours?.get_cpu_ms_per_mib, cpp?.get_cpu_ms_per_mib);
  out.push({
    target: "server CPU per MiB, 256 MiB GET from the durable store <= 1.5x the Arrow C++ (pyarrow) peer's",
    measured: x !== undefined
      ? `${f2(ours.get_cpu_ms_per_mib)} vs ${f2(cpp.get_cpu_ms_per_mib)} ms/MiB = ${fx(x)} (Rust peer ${
        f2(rust?.get_cpu_ms_per_mib)
      } ms/MiB)`
      : rows.length
      ? "no data"
      : "not run",
    status: status(x === undefined ? undefined : x <= 1.5),
  });
  return out;
}

/** Every small-object phase against the Rust peer: ops/s and p50 ratios (issue 15). */
function renderRustPeer(results: Json): string[] {
  const L: string[] = [];
  const srows = (results.cases.small ?? []).filter((r: Json) => !r.error);
  if (!srows.some((r: Json) => r.server === "rustPeer")) return L;
  L.push("## Small objects (1 KiB) against the Rust peer");
  L.push("");
  L.push(
    "Each server's ops/s and p50 as a ratio to the Rust peer (arrow-flight + tonic, in memory) in the same phase " +
      "of this run; ops/s ratio > 1 and p50 ratio < 1 are better than the peer. pyarrow client throughout.",
  );
  L.push("");
  L.push(
    "| phase | Rust peer ops/s | Rust peer p50 PUT / GET ms | server | ops/s | ops/s ratio | p50 ratio PUT / GET | server CPU µs/op (peer) |",
  );
  L.push("|---|---|---|---|---|---|---|---|");
  const p50 = (p: Json, op: "put" | "get") => p?.[op]?.p50_ms;
  for (const phase of RUST_PEER_PHASES) {
    const peer = smallPhase(results, "rustPeer", "pyarrow", phase);
    if (!peer) continue;
    const peerCpu = (peer.server_cpu_s / peer.ops) * 1e6;
    for (const r of srows) {
      if (r.server === "rustPeer" || r.client !== "pyarrow") continue;
      const p = r.phases?.find((x: Json) => x.phase === phase && !x.error);
      if (!p) continue;
      L.push(
        `| ${phase} | ${f0(peer.ops_s)} | ${f2(p50(peer, "put"))} / ${
          f2(p50(peer, "get"))
        } | ${r.server_label} | ${f0(p.ops_s)} | ${fx(ratio(p.ops_s, peer.ops_s))} | ${
          fx(ratio(p50(p, "put"), p50(peer, "put")))
        } / ${fx(ratio(p50(p, "get"), p50(peer, "get")))} | ${f0((p.server_cpu_s / p.ops) * 1e6)} (${
          f0(peerCpu)
        }) |`,
      );
    }
  }
  L.push("");
  const g = results.cases.get_cpu ?? [];
  if (g.length) {
    L.push(
      "256 MiB GET (one PUT, then 1 + N GETs of the same object; server CPU from /proc over the timed GETs):",
    );
    L.push("");
    L.push("| server | GET MiB/s | server CPU ms/MiB |");
    L.push("|---|---|---|");
    for (const r of g) {
      L.push(
        r.error
          ? `| ${r.server_label} | error: ${String(r.error).slice(0, 200).replaceAll("|", "/")} | |`
          : `| ${r.server_label} | ${f0(r.get_mib_s)} | ${f2(r.get_cpu_ms_per_mib)} |`,
      );
    }
    L.push("");
  }
  return L;
}

/** The Markdown report. */
export function renderMarkdown(results: Json): string {
  const m = results.machine ?? {};
  const tcp = tcpLimit(results);
  const cores = m.cores ?? 2;
  const L: string[] = [];
  L.push(`# flame-cache benchmark (${results.mode} run)`);
  L.push("");
  L.push(
    `${m.date} - ${m.cpu}, ${m.cores} cores, ${m.memory_gib} GiB, Linux ${m.kernel} (${m.os ?? "?"}), ` +
      `Deno ${m.deno} (V8 ${m.v8}), Python ${m.python}, pyarrow ${m.pyarrow}, commit ${m.git_commit}` +
      `${
        m.git_dirty_files ? ` + ${m.git_dirty_files} uncommitted files` : ""
      }, storage on ${m.storage_fs}. ` +
      `Load average at start ${(m.loadavg_start ?? []).join(" ")}, at end ${
        (m.loadavg_end ?? []).join(" ")
      }; ` +
      `client and server share the same ${m.cores} cores. Total ${Math.round(results.total_s ?? 0)} s.`,
  );
  L.push("");
  L.push(`TS client: ${results.ts_client}. fsync off: ${results.fsync_off?.note ?? "-"}.`);
  L.push("");

  // targets
  const targets = results.targets ?? evaluate(results);
  L.push("## Targets");
  L.push("");
  L.push("| target | measured | result |");
  L.push("|---|---|---|");
  for (const t of targets) L.push(`| ${t.target} | ${t.measured} | **${t.status}** |`);
  L.push("");

  // limit
  L.push("## The limit: raw TCP loopback");
  L.push("");
  const tcpRow = (name: string, r: Json) =>
    r && !r.error
      ? `| ${name} | ${r.mib_s.map((x: number) => x.toFixed(0)).join(", ")} | ${f0(r.median_mib_s)} | ${
        f2(r.sender_cpu_s)
      } / ${f2(r.receiver_cpu_s)} | ${f0((r.others_busy_before ?? NaN) * 100)}% |`
      : `| ${name} | ${r?.error ?? "not run"} | | | |`;
  L.push("| when | MiB/s per 1 GiB run | median | sender / receiver CPU s | others busy before |");
  L.push("|---|---|---|---|---|");
  L.push(tcpRow("start of run", results.cases.tcp_start));
  L.push(tcpRow("end of run", results.cases.tcp_end));
  L.push("");
  L.push(
    `Limit used for ratios: **${f0(tcp)} MiB/s** (median of all runs). ${
      results.cases.tcp_start?.method ?? ""
    }.`,
  );
  L.push("");
  const disk = results.cases.disk;
  if (disk && !disk.error) {
    L.push("Storage device (same folder as the stores; py/disk_limit.py):");
    L.push("");
    L.push("| what | result |");
    L.push("|---|---|");
    L.push(
      `| ${sizeName(disk.large.bytes)} written in 4 MiB pieces + fdatasync | ${
        f0(disk.large.median_mib_s)
      } MiB/s ` +
        `(write alone ${f0(disk.large.median_write_only_mib_s)} MiB/s; sync s ${
          disk.large.runs.map((r: Json) => r.sync_s.toFixed(2)).join(", ")
        }) |`,
    );
    L.push(
      `| 1 KiB crash-safe write (temp, write, fdatasync, rename, fsync folder) | p50 ${
        f2(disk.small.p50_ms)
      } ms, ` +
        `p99 ${f2(disk.small.p99_ms)} ms, ${f0(disk.small.ops_s_c1)} ops/s one at a time |`,
    );
    L.push("");
  }

  // large
  const rows = results.cases.large ?? [];
  if (rows.length) {
    L.push("## Large objects (median of the timed reps; fresh server per row)");
    L.push("");
    L.push(
      "| server | client | size | PUT MiB/s | PUT/TCP | PUT/peer | GET MiB/s | GET/TCP | GET/peer | server CPU ms/MiB PUT / GET | server-bound ceiling MiB/s PUT / GET | client CPU ms/MiB PUT / GET | server RSS start MiB | peak RSS growth MiB (1st PUT / 1st GET) | others busy before / all busy during |",
    );
    L.push("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for (const r of rows) {
      const client = r.client === "pyarrow" ? "pyarrow" : "TS";
      if (r.error) {
        L.push(
          `| ${r.server_label} | ${client} | ${sizeName(r.size)} | error: ${
            String(r.error).slice(0, 200).replaceAll("|", "/")
          } |||||||||`,
        );
        continue;
      }
      const peer = large(results, "peer", "pyarrow", r.size);
      const isPeer = r.server === "peer";
      const mib = (r.size / MiB) * r.reps;
      const base = r.rss_baseline;
      const g1 = r.first?.put?.vm_hwm && base ? (r.first.put.vm_hwm - base) / MiB : undefined;
      const g2 = r.first?.get?.vm_hwm && base ? (r.first.get.vm_hwm - base) / MiB : undefined;
      L.push(
        `| ${r.server_label}${
          r.storage_used?.startsWith("none (") ? " **(fs failed: none)**" : ""
        } | ${client} | ${sizeName(r.size)} | ${f0(r.put_mib_s)} | ${fx(ratio(r.put_mib_s, tcp))} | ${
          isPeer ? "1.00x" : fx(ratio(r.put_mib_s, peer?.put_mib_s))
        } | ${f0(r.get_mib_s)} | ${fx(ratio(r.get_mib_s, tcp))} | ${
          isPeer ? "1.00x" : fx(ratio(r.get_mib_s, peer?.get_mib_s))
        } | ${f2((r.server_cpu_s.put * 1000) / mib)} / ${f2((r.server_cpu_s.get * 1000) / mib)} | ${
          f0(cores / (r.server_cpu_s.put / mib))
        } / ${f0(cores / (r.server_cpu_s.get / mib))} | ${f2((r.client_cpu_s.put * 1000) / mib)} / ${
          f2((r.client_cpu_s.get * 1000) / mib)
        } | ${f0((base ?? NaN) / MiB)} | ${f0(g1)} / ${f0(g2)} | ${
          f0((r.others_busy_before ?? NaN) * 100)
        }% / ${f0((r.machine_busy_frac ?? NaN) * 100)}% |`,
      );
    }
    L.push("");
    L.push(
      "PUT = do_put of one opaque row until the PutResult is read; GET = do_get `<key>:0` until the whole table is read " +
        "(and its size checked). Peer ratios always use the pyarrow client's peer row. Server CPU from /proc/PID/stat " +
        "(10 ms ticks); server-bound ceiling = cores / server CPU per MiB, the most this server could move with a " +
        "client that cost nothing; client CPU per MiB bounds what any server can show with that client. Peak RSS growth = VmHWM (reset through /proc/PID/clear_refs before the op) minus VmRSS after " +
        "start-up; it includes the object the cache keeps. Others busy before = share of both cores other processes " +
        "kept busy in the half second before the row started (the machine is shared); all busy during = share of both " +
        "cores busy during the row, ours included.",
    );
    L.push("");
  }

  // small
  const srows = results.cases.small ?? [];
  if (srows.length) {
    L.push("## Small objects (1 KiB, closed loop; one server per block, RSS after each phase)");
    L.push("");
    L.push(
      "| server | client | phase | ops/s | vs peer | PUT p50 / p99 ms | GET p50 / p99 ms | server CPU µs/op | server-bound ceiling ops/s | client CPU µs/op | errors | server RSS MiB | others busy before |",
    );
    L.push("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for (const r of srows) {
      const client = r.client === "pyarrow" ? "pyarrow" : "TS";
      if (r.error) {
        L.push(`| ${r.server_label} | ${client} | error: ${String(r.error).slice(0, 200)} |||||||||`);
        continue;
      }
      for (const p of r.phases) {
        if (p.error) {
          L.push(
            `| ${r.server_label} | ${client} | ${p.phase} | error: ${
              String(p.error).slice(0, 200).replaceAll("|", "/")
            } ||||||||`,
          );
          continue;
        }
        const peer = smallPhase(results, "peer", "pyarrow", p.phase);
        L.push(
          `| ${r.server_label} | ${client}${p.procs > 1 ? ` (${p.procs} procs)` : ""} | ${p.phase} | ${
            f0(p.ops_s)
          } | ${r.server === "peer" ? "1.00x" : fx(ratio(p.ops_s, peer?.ops_s))} | ${
            p.put ? `${f2(p.put.p50_ms)} / ${f2(p.put.p99_ms)}` : "-"
          } | ${p.get ? `${f2(p.get.p50_ms)} / ${f2(p.get.p99_ms)}` : "-"} | ${
            f0((p.server_cpu_s / p.ops) * 1e6)
          } | ${f0(cores / (p.server_cpu_s / p.ops))} | ${
            f0((p.client_cpu_s / p.ops) * 1e6)
          } | ${p.errors} | ${f0(p.server_rss_after / MiB)} | ${f0((p.others_busy_before ?? NaN) * 100)}% |`,
        );
      }
    }
    L.push("");
    L.push(
      "c=32 with pyarrow = 2 client processes x 16 threads, one FlightClient per thread; PUT uses the prefix " +
        "`bench/s` (server-assigned ids, durable write per put with fs storage); GET picks one of 200 keys at random. " +
        "Client CPU µs/op shows how much of the cores the client itself takes. Server-bound ceiling = cores / server " +
        "CPU per op: the most this server could do on this machine with a client that cost nothing.",
    );
    L.push("");
  }

  // startup
  const su = results.cases.startup;
  if (su) {
    L.push("## Start-up");
    L.push("");
    if (su.generate?.error) L.push(`store generation failed: ${su.generate.error}`);
    else if (su.generate) {
      L.push(
        `${su.objects} objects written with pyarrow in Flame's layout ({root}/bench/sNNNN/oNNNNNN.arrow, IPC file, 1 row, ` +
          `${su.generate.payload} B payload, ${su.generate.file_bytes} B per file, ${su.generate.sessions} sessions) in ${
            f2(su.generate.seconds)
          } s.`,
      );
    }
    L.push("");
    L.push(
      "| store | spawn -> started line ms | spawn -> port accepts ms | server startupMs (log) | RSS after start MiB | server CPU s | check GET | others busy before |",
    );
    L.push("|---|---|---|---|---|---|---|---|");
    for (const r of su.runs ?? []) {
      if (r.error) {
        L.push(`| ${r.name} | error: ${String(r.error).slice(0, 300)} ||||||`);
        continue;
      }
      L.push(
        `| ${r.name} | ${f0(r.ready_ms)} | ${f0(r.accept_ms ?? undefined)} | ${r.startup_ms_logged} | ${
          f0(r.rss_after_start / MiB)
        } | ${f2(r.server_cpu_s)} | ${
          r.check ? (r.check.ok ? "ok" : `FAILED ${JSON.stringify(r.check).slice(0, 120)}`) : ""
        } | ${f0((r.others_busy_before ?? NaN) * 100)}% |`,
      );
    }
    L.push("");
  }
  L.push(...renderRustPeer(results));
  L.push(...renderScale(results));
  L.push(...renderCluster(results));
  L.push(
    `Raw data: latest.json (every rep's time, per-phase RSS and CPU).${
      results.cases.large?.length || results.cases.small?.length ? " Chart: latest.png." : ""
    }`,
  );
  L.push("");
  return L.join("\n");
}
