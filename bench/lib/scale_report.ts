/**
 * Targets and Markdown of the benchmark's `scale` section (bench/scale.ts, issue 14).
 *
 * @module
 */

// deno-lint-ignore no-explicit-any
type Json = any;

const MiB = 1024 * 1024;

interface Target {
  target: string;
  measured: string;
  status: "PASS" | "FAIL" | "n/a";
}

const f0 = (x?: number) => (x === undefined || !Number.isFinite(x) ? "-" : x.toFixed(0));
const f1 = (x?: number) => (x === undefined || !Number.isFinite(x) ? "-" : x.toFixed(1));
const f2 = (x?: number) => (x === undefined || !Number.isFinite(x) ? "-" : x.toFixed(2));
const s2 = (ms?: number) => (ms === undefined ? "-" : `${(ms / 1000).toFixed(2)} s`);
const status = (
  ok: boolean | undefined,
): Target["status"] => (ok === undefined ? "n/a" : ok ? "PASS" : "FAIL");

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function rows(results: Json): Json[] {
  return (results.cases?.scale?.rows ?? []).filter((r: Json) => !r.error);
}

function row(results: Json, n: number, start: string): Json | undefined {
  return rows(results).find((r) => r.objects === n && r.start === start);
}

/** The section's targets (evaluated at the largest size measured). */
export function scaleTargets(results: Json): Target[] {
  const all = rows(results);
  if (!all.length) return [];
  const sizes = [...new Set(all.map((r) => r.objects as number))].sort((a, b) => a - b);
  const big = sizes[sizes.length - 1];
  const small = sizes[0];
  const label = `${big / 1000}k`;
  const out: Target[] = [];
  const serving = all.filter((r) => r.start !== "before kill");
  const worst = serving.reduce((a, r) => (r.serving_ms > a.serving_ms ? r : a), serving[0]);
  const at = (n: number) => serving.filter((r) => r.objects === n).map((r) => s2(r.serving_ms)).join("/");
  const med = serving.length ? median(serving.map((r) => r.serving_ms)) : undefined;
  out.push({
    target: "gets served within 1 s of process start, whatever the object count (median of every start)",
    measured: `median ${s2(med)}; ${
      sizes.map((n) => `${n / 1000}k: ${at(n)}`).join("; ")
    } (first/clean/killed); ` +
      `worst ${s2(worst?.serving_ms)} with others keeping ${
        f0((worst?.others_busy_before ?? NaN) * 100)
      }% of the ` +
      `cores busy (spawn to a successful get: Deno's boot included)`,
    status: status(med === undefined ? undefined : med < 1000),
  });
  const clean = row(results, big, "clean");
  const first = row(results, big, "first");
  const killed = row(results, big, "killed");
  out.push({
    target: `full index ready < 5 s at ${label} objects (after a clean shutdown)`,
    measured: `${s2(clean?.index_ms)} (first start without snapshot ${s2(first?.index_ms)}, after SIGKILL ${
      s2(killed?.index_ms)
    })`,
    status: status(clean ? clean.index_ms < 5000 : undefined),
  });
  const low = row(results, small, "clean");
  const perObject = clean && low && big > small
    ? (clean.rss_after_index - low.rss_after_index) / (big - small)
    : undefined;
  out.push({
    target: `index memory <= 200 bytes per object (RSS slope between ${small / 1000}k and ${label})`,
    measured: `${f0(perObject)} bytes per object`,
    status: status(perObject === undefined ? undefined : perObject <= 200),
  });
  out.push({
    target: `RSS after start-up < 300 MB at ${label} objects`,
    measured: `${f0((clean?.rss_after_index ?? NaN) / MiB)} MiB (first start ${
      f0((first?.rss_after_index ?? NaN) / MiB)
    } MiB)`,
    status: status(clean ? clean.rss_after_index < 300e6 : undefined),
  });
  out.push({
    target: `ListFlights of one session (1,000 hits) < 20 ms at ${label}`,
    measured: `${f1(clean?.list_session_ms)} ms with pyarrow (${clean?.list_session_hits} hits; server CPU ${
      f1(clean?.list_session_server_cpu_ms)
    } ms, client ${f1(clean?.list_session_client_cpu_ms)} ms per listing; at ${small / 1000}k ${
      f1(low?.list_session_ms)
    } ms)`,
    status: status(clean ? clean.list_session_ms < 20 : undefined),
  });
  const lowAll = row(results, sizes.length > 1 ? sizes[sizes.length - 2] : small, "clean");
  out.push({
    target: "listing everything streams: the server's RSS does not grow with the number of results",
    measured: `peak +${
      f0((clean?.list_all_rss_growth ?? NaN) / MiB)
    } MiB for ${clean?.list_all_count} results (+${
      f0((lowAll?.list_all_rss_growth ?? NaN) / MiB)
    } MiB for ${lowAll?.list_all_count}); ${s2(clean?.list_all_ms)}`,
    status: status(
      clean && lowAll ? clean.list_all_rss_growth <= lowAll.list_all_rss_growth + 32 * MiB : undefined,
    ),
  });
  out.push({
    target: `first get after a restart within 2x of a warm get (${label}, clean start)`,
    measured: `first call of the process ${f1(clean?.first_get_ms)} ms; further objects during the load ${
      f1(clean?.get_during_load_ms)
    } ms; warm (page cache) ${f2(clean?.warm_get_ms)} ms: ${f1(clean?.first_get_vs_warm)}x`,
    status: status(clean ? clean.first_get_vs_warm <= 2 : undefined),
  });
  const lost = all.filter((r) => r.start === "killed");
  out.push({
    target: "restart after SIGKILL is correct (every put acknowledged before the kill is read back)",
    measured: lost.map((r) =>
      `${r.objects / 1000}k: ${r.puts_missing_after_kill} of ${r.puts_before_kill} missing, ` +
      `listed ${r.list_all_count}/${r.list_all_expected}`
    ).join("; "),
    status: status(
      lost.length
        ? lost.every((r) => r.puts_missing_after_kill === 0 && r.list_all_count === r.list_all_expected)
        : undefined,
    ),
  });
  return out;
}

/** The section's Markdown: one table row per size and start. */
export function renderScale(results: Json): string[] {
  const sc = results.cases?.scale;
  if (!sc) return [];
  const L: string[] = ["## Scale (many objects)", ""];
  L.push(
    "1 KiB objects, 1,000 per session, written with pyarrow (`py/make_store.py`). Starts: `first` (no snapshot: " +
      "every footer read), `clean` (after SIGTERM: from the index snapshot), `killed` (SIGKILL after 100 puts " +
      "into 10 sessions: those folders are scanned again). Times from spawn.",
  );
  L.push("");
  L.push(
    "| objects | start | get served | started line | index complete | first get ms | gets during load ms | warm get ms | RSS MiB | list session ms | list all s | list all RSS peak +MiB | stop ms |",
  );
  L.push("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
  for (const r of sc.rows ?? []) {
    if (r.error) {
      L.push(`| ${r.objects} | ${r.start ?? ""} | error: ${String(r.error).slice(0, 200)} |||||||||||`);
      continue;
    }
    L.push(
      `| ${r.objects} | ${r.start} | ${s2(r.serving_ms)} | ${s2(r.started_line_ms)} | ${s2(r.index_ms)} | ${
        f1(r.first_get_ms)
      } | ${f1(r.get_during_load_ms)} | ${f2(r.warm_get_ms)} | ${f0(r.rss_after_index / MiB)} | ${
        f1(r.list_session_ms)
      } | ${f2(r.list_all_ms / 1000)} | ${f0(r.list_all_rss_growth / MiB)} | ${f0(r.stop_ms)} |`,
    );
  }
  L.push("");
  return L;
}
