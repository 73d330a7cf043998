/**
 * Targets and Markdown of the benchmark's cluster section (`results.cases.cluster`, written by
 * bench/cluster.ts): 3 replicas through HAProxy against one node, in one run.
 *
 * @module
 */

// deno-lint-ignore no-explicit-any
type Json = any;

const MiB = 1024 * 1024;

/** A target of the cluster section (same shape as report.ts's). */
export interface ClusterTarget {
  target: string;
  measured: string;
  status: "PASS" | "FAIL" | "n/a";
}

const f0 = (x?: number) => (x === undefined || !Number.isFinite(x) ? "-" : x.toFixed(0));
const f2 = (x?: number) => (x === undefined || !Number.isFinite(x) ? "-" : x.toFixed(2));
const fx = (x?: number) => (x === undefined || !Number.isFinite(x) ? "-" : `${x.toFixed(2)}x`);
const signed = (
  x?: number,
) => (x === undefined || !Number.isFinite(x) ? "-" : `${x >= 0 ? "+" : ""}${x.toFixed(2)}`);
const pct = (x?: number) => (x === undefined || !Number.isFinite(x) ? "-" : `${(x * 100).toFixed(0)}%`);
const mib = (x?: number) => (x === undefined ? "-" : f0(x / MiB));
const sizeName = (n: number) => (n >= 1024 * MiB ? `${n / 1024 / MiB} GiB` : `${n / MiB} MiB`);

/** The 1 KiB c=1 row of a path and mode. */
export function smallRow(cluster: Json, path: string, mode: "get" | "put" | "update"): Json | undefined {
  return (cluster?.small ?? []).find((r: Json) => r.path === path && r.mode === mode && !r.error && r[mode]);
}

/** The 64 MiB row of a path. */
export function largeRow(cluster: Json, path: string): Json | undefined {
  return (cluster?.large ?? []).find((r: Json) => r.path === path && !r.error);
}

/** CPU µs per op of one role (replicas / server, s3, etcd, haproxy) in a 1 KiB row. */
export function cpuPerOp(row: Json | undefined, role: string): number | undefined {
  const s = row?.cpu_s_by_role?.[role];
  return row && s !== undefined && row.ops ? (s / row.ops) * 1e6 : undefined;
}

/** The server-side CPU of a row: the replicas of a cluster path, the server of a single node. */
function serverCpu(row: Json | undefined): number | undefined {
  return cpuPerOp(row, "replicas") ?? cpuPerOp(row, "server");
}

/** The cluster section's targets (none when the run has no cluster section). */
export function clusterTargets(results: Json): ClusterTarget[] {
  const c = results.cases?.cluster;
  if (!c) return [];
  const out: ClusterTarget[] = [];
  const bal = largeRow(c, "balancer"), one = largeRow(c, "single-fs");
  const put = bal && one ? bal.put_mib_s / one.put_mib_s : undefined;
  const get = bal && one ? bal.get_mib_s / one.get_mib_s : undefined;
  out.push({
    target: "cluster: 64 MiB PUT and GET through the balancer >= 0.8x one node (fs)",
    measured: put !== undefined && get !== undefined
      ? `PUT ${fx(put)} (${f0(bal.put_mib_s)} vs ${f0(one.put_mib_s)} MiB/s), GET ${fx(get)} (${
        f0(bal.get_mib_s)
      } vs ${f0(one.get_mib_s)} MiB/s)`
      : c.error
      ? `error: ${String(c.error).slice(0, 200)}`
      : "no data",
    status: put === undefined || get === undefined ? "n/a" : put >= 0.8 && get >= 0.8 ? "PASS" : "FAIL",
  });
  const steps = (c.memory?.steps ?? []).filter((s: Json) => s.who?.startsWith("replica") && !s.error);
  const worst = steps.length ? steps.reduce((a: Json, b: Json) => (b.added > a.added ? b : a)) : undefined;
  out.push({
    target: `cluster: a replica's peak RSS < 64 MiB above idle while a ${
      sizeName(c.memory?.size ?? 1024 * MiB)
    } object is put and got`,
    measured: worst
      ? `${mib(worst.added)} MiB (${worst.step}; all: ${
        steps.map((s: Json) => `${s.step.split(" (")[0]} +${mib(s.added)}`).join(", ")
      })${c.memory.size < 1024 * MiB ? "; short run: not the 1 GiB case" : ""}`
      : "no data",
    status: worst ? (worst.added < 64 * MiB && c.memory.size >= 1024 * MiB ? "PASS" : "FAIL") : "n/a",
  });
  return out;
}

/** Markdown lines of the cluster section. */
export function renderCluster(results: Json): string[] {
  const c = results.cases?.cluster;
  if (!c) return [];
  const cores = results.machine?.cores ?? 2;
  const L: string[] = [];
  L.push("## Cluster: 3 replicas through HAProxy against one node");
  L.push("");
  if (c.error) L.push(`The section stopped early: ${String(c.error).slice(0, 600)}`, "");
  const label = (id: string) => (c.paths ?? []).find((p: Json) => p.id === id)?.label ?? id;
  const ids = ["single-fs", "single-none", "replica", "balancer"];
  L.push(...summary(c));

  // 1 KiB latency and CPU
  L.push(
    `1 KiB at c=1 (pyarrow, one client, ${c.config?.seconds} s per row, every key read once before the window):`,
  );
  L.push("");
  L.push(
    "| path | GET p50 / p99 ms | GET extra vs one node (fs) p50 / p99 ms | PUT p50 / p99 ms | PUT extra vs one node (fs) p50 / p99 ms | server CPU µs/op GET / PUT | S3 CPU µs/op GET / PUT | HAProxy µs/op GET / PUT | etcd µs/op GET / PUT | errors | others busy before GET / PUT |",
  );
  L.push("|---|---|---|---|---|---|---|---|---|---|---|");
  const g0 = smallRow(c, "single-fs", "get"), p0 = smallRow(c, "single-fs", "put");
  for (const id of ids) {
    const g = smallRow(c, id, "get"), p = smallRow(c, id, "put");
    if (!g && !p) continue;
    const both = (f: (r: Json) => number | undefined, fmt = f0) => `${fmt(f(g))} / ${fmt(f(p))}`;
    L.push(
      `| ${label(id)} | ${g ? `${f2(g.get.p50_ms)} / ${f2(g.get.p99_ms)}` : "-"} | ${
        id === "single-fs" || !g || !g0
          ? "-"
          : `${signed(g.get.p50_ms - g0.get.p50_ms)} / ${signed(g.get.p99_ms - g0.get.p99_ms)}`
      } | ${p ? `${f2(p.put.p50_ms)} / ${f2(p.put.p99_ms)}` : "-"} | ${
        id === "single-fs" || !p || !p0
          ? "-"
          : `${signed(p.put.p50_ms - p0.put.p50_ms)} / ${signed(p.put.p99_ms - p0.put.p99_ms)}`
      } | ${both(serverCpu)} | ${both((r) => cpuPerOp(r, "s3"))} | ${both((r) => cpuPerOp(r, "haproxy"))} | ${
        both((r) => cpuPerOp(r, "etcd"))
      } | ${(g?.errors ?? 0) + (p?.errors ?? 0)} | ${pct(g?.others_busy_before)} / ${
        pct(p?.others_busy_before)
      } |`,
    );
  }
  L.push("");
  L.push(
    "Server CPU = the single node's process, or the sum over the 3 replicas (only the one holding the " +
      "client's connection works); S3 = the SeaweedFS process (master, volume, filer and S3 gateway in one); " +
      "every process's idle rate (lease renewals, heartbeats), measured before the rows, is subtracted. " +
      "/proc CPU ticks are 10 ms: a few hundred ops per row resolve to about 10-30 µs/op.",
  );
  L.push("");

  // per-hop costs
  const hop = (a?: Json, b?: Json, mode: "get" | "put" = "get") =>
    a && b ? a[mode].p50_ms - b[mode].p50_ms : undefined;
  const rg = smallRow(c, "replica", "get"), rp = smallRow(c, "replica", "put");
  const bg = smallRow(c, "balancer", "get"), bp = smallRow(c, "balancer", "put");
  if (rg || rp) {
    L.push("Per-hop costs (p50 differences) and the inputs of the scaling estimate:");
    L.push("");
    L.push(
      "| op | balancer hop ms (HAProxy vs replica directly) | tier ms (replica vs one node fs) | its S3 requests' p50 sum ms (S3 directly) | replica CPU µs/op | S3 CPU µs/op (requests/op) | HAProxy CPU µs/op | ops/s per replica core | ops/s per S3 core | replica cores one S3 core keeps busy |",
    );
    L.push("|---|---|---|---|---|---|---|---|---|---|");
    const t = c.tier && !c.tier.error ? c.tier : undefined;
    const s3Sum = (mode: "get" | "put") =>
      t ? (mode === "get" ? t.get_1k.p50_ms : t.put_1k.p50_ms + t.cas_put_1k.p50_ms) : undefined;
    for (const [mode, r, b, one, reqs] of [["get", rg, bg, g0, 1], ["put", rp, bp, p0, 2]] as const) {
      if (!r) continue;
      const rep = cpuPerOp(r, "replicas"), s3 = cpuPerOp(r, "s3"), hap = cpuPerOp(b, "haproxy");
      L.push(
        `| 1 KiB ${mode.toUpperCase()} | ${signed(hop(b, r, mode))} | ${signed(hop(r, one, mode))} | ${
          f2(s3Sum(mode))
        } | ${f0(rep)} | ${f0(s3)} (${reqs}) | ${f0(hap)} | ${f0(rep ? 1e6 / rep : undefined)} | ${
          f0(s3 ? 1e6 / s3 : undefined)
        } | ${f2(rep && s3 ? rep / s3 : undefined)} |`,
      );
    }
    L.push("");
    const hashing = c.hashing_us_per_call
      ? ` Choosing a session's owner by rendezvous hashing costs ${
        Object.entries(c.hashing_us_per_call).map(([n, us]) => `${f2(us as number)} µs with ${n} members`)
          .join(
            ", ",
          )
      } (measured in the benchmark's process); a replica computes it for every small write to an existing key, ` +
        "which it relays to the owner (src/cluster/forward.ts)."
      : "";
    L.push(
      "S3 requests per op from the tier protocol: a GET reads the version record (its blob is local after the " +
        "first read); a PUT of a new id uploads a blob and creates the record with `If-None-Match: *` (no read); an " +
        "update does the same with `If-Match` on the owner's remembered ETag. etcd is not on the data " +
        `path (its CPU per op above is the idle rate's noise).${hashing}`,
    );
    L.push("");
  }

  // the tier by itself
  const t = c.tier;
  if (t && !t.error) {
    L.push(
      "The tier by itself: the S3 service (SeaweedFS) driven directly with the replicas' client (src/tier/s3.ts), " +
        "one request at a time:",
    );
    L.push("");
    L.push(
      `| request | p50 / p99 ms, or MiB/s | S3 CPU per request or MiB | client CPU per request | S3-bound ceiling on ${cores} cores |`,
    );
    L.push("|---|---|---|---|---|");
    for (
      const [name, r] of [
        ["1 KiB GET (a get's record read)", t.get_1k],
        ["1 KiB PUT (a put's blob)", t.put_1k],
        ["1 KiB PUT If-Match (a put's record CAS)", t.cas_put_1k],
      ] as const
    ) {
      L.push(
        `| ${name} | ${f2(r.p50_ms)} / ${f2(r.p99_ms)} ms | ${f0(r.s3_cpu_us_per_request)} µs | ${
          f0(r.client_cpu_us_per_request)
        } µs | ${f0(cores / (r.s3_cpu_us_per_request / 1e6))} requests/s |`,
      );
    }
    const lg = t.large;
    L.push(
      `| ${sizeName(lg.size)} PUT (multipart, 8 MiB parts, 2 in flight) | ${f0(lg.put_mib_s)} MiB/s | ${
        f2(lg.s3_cpu_ms_per_mib_put)
      } ms/MiB | - | ${f0(cores / (lg.s3_cpu_ms_per_mib_put / 1000))} MiB/s |`,
    );
    L.push(
      `| ${sizeName(lg.size)} GET (streamed) | ${f0(lg.get_mib_s)} MiB/s | ${
        f2(lg.s3_cpu_ms_per_mib_get)
      } ms/MiB | - | ${f0(cores / (lg.s3_cpu_ms_per_mib_get / 1000))} MiB/s |`,
    );
    L.push("");
  } else if (t?.error) {
    L.push(`The tier probe failed: ${String(t.error).slice(0, 300)}`, "");
  }

  // 64 MiB
  if ((c.large ?? []).length) {
    const one = largeRow(c, "single-fs");
    L.push("64 MiB (pyarrow, one connection: through the balancer one replica serves the put and the get):");
    L.push("");
    L.push(
      "| path | PUT MiB/s | PUT vs one node (fs) | GET MiB/s | GET vs one node (fs) | server CPU ms/MiB PUT / GET | S3 CPU ms/MiB PUT / GET | others busy before |",
    );
    L.push("|---|---|---|---|---|---|---|---|");
    for (const r of c.large) {
      if (r.error) {
        L.push(`| ${label(r.path)} | error: ${String(r.error).slice(0, 200).replaceAll("|", "/")} ||||||`);
        continue;
      }
      const moved = (r.size / MiB) * r.reps;
      const cpu = (op: string, role: string) => {
        const by = r.cpu_s_by_role?.[op];
        const s = by?.[role] ?? (role === "replicas" ? by?.server : undefined);
        return s === undefined ? undefined : (s * 1000) / moved;
      };
      L.push(
        `| ${label(r.path)} | ${f0(r.put_mib_s)} | ${fx(one ? r.put_mib_s / one.put_mib_s : undefined)} | ${
          f0(r.get_mib_s)
        } | ${fx(one ? r.get_mib_s / one.get_mib_s : undefined)} | ${f2(cpu("put", "replicas"))} / ${
          f2(cpu("get", "replicas"))
        } | ${f2(cpu("put", "s3"))} / ${f2(cpu("get", "s3"))} | ${pct(r.others_busy_before)} |`,
      );
    }
    L.push("");
    L.push(
      `Medians of ${c.config?.largeReps} reps after 1 warm-up. A put through the tier streams the staged upload ` +
        "to S3 (multipart, 8 MiB parts) and is acknowledged after the record CAS; a get after the put is served " +
        "from the replica's local file (the record read is its only S3 request).",
    );
    L.push("");
  }

  // memory
  const steps = c.memory?.steps ?? [];
  if (steps.length) {
    L.push(`Memory: one ${sizeName(c.memory.size)} object (pyarrow):`);
    L.push("");
    L.push(
      "| step | MiB/s | idle RSS MiB (before any traffic) | RSS before the step MiB | peak RSS MiB (VmHWM / sampled every 50 ms) | added over idle MiB | added in the step MiB | RSS after MiB |",
    );
    L.push("|---|---|---|---|---|---|---|---|");
    for (const s of steps) {
      if (s.error) {
        L.push(`| ${s.step} | error: ${String(s.error).slice(0, 200).replaceAll("|", "/")} |||||||`);
        continue;
      }
      L.push(
        `| ${s.step} | ${f0(s.mib_s)} | ${mib(s.idle_rss)} | ${mib(s.rss_before)} | ${mib(s.vm_hwm)} / ${
          mib(s.sampled_max_rss)
        } | ${mib(s.added)} | ${mib(s.added_in_step)} | ${mib(s.rss_after)} |`,
      );
    }
    L.push("");
  }
  L.push(...scaling(c, cores));
  return L;
}

/** The section's headline figures, each against the single node with durable fs storage. */
function summary(c: Json): string[] {
  const L: string[] = [];
  const lat = (path: string, mode: "get" | "put" | "update") => smallRow(c, path, mode)?.[mode];
  const extra = (path: string, mode: "get" | "put" | "update") => {
    const a = lat(path, mode), b = lat("single-fs", mode);
    return a && b
      ? `${signed(a.p50_ms - b.p50_ms)} ms p50, ${signed(a.p99_ms - b.p99_ms)} ms p99 (${f2(a.p50_ms)} vs ${
        f2(b.p50_ms)
      } ms p50)`
      : "no data";
  };
  const big = (path: string, op: "put" | "get") => {
    const a = largeRow(c, path), b = largeRow(c, "single-fs");
    return a && b
      ? `${f0(a[`${op}_mib_s`])} vs ${f0(b[`${op}_mib_s`])} MiB/s = ${
        fx(a[`${op}_mib_s`] / b[`${op}_mib_s`])
      }`
      : "no data";
  };
  const cpu = (path: string, mode: "get" | "put", role: string) =>
    f0(cpuPerOp(smallRow(c, path, mode), role));
  L.push("Against one node with durable fs storage, same machine, same run:");
  L.push("");
  L.push(`- 1 KiB GET at c=1 through the balancer: ${extra("balancer", "get")}.`);
  L.push(`- 1 KiB PUT at c=1 through the balancer: ${extra("balancer", "put")}.`);
  L.push(
    `- 1 KiB UPDATE (a put naming an existing object; relayed to the session's owner by a replica that does not ` +
      `own it) at c=1 through the balancer: ${extra("balancer", "update")}; one replica directly: ${
        extra("replica", "update")
      }.`,
  );
  L.push(
    `- 64 MiB through the balancer: PUT ${big("balancer", "put")}, GET ${
      big("balancer", "get")
    } (target >= 0.80x).`,
  );
  L.push(
    `- What the tier costs a put (one replica directly vs a local durable put): 1 KiB ${
      extra("replica", "put")
    }; 64 MiB ${big("replica", "put")}.`,
  );
  const steps = (c.memory?.steps ?? []).filter((s: Json) => !s.error);
  if (steps.length) {
    L.push(
      `- Peak RSS added over idle, ${sizeName(c.memory.size)} object: ${
        steps.map((s: Json) => `${s.step} +${mib(s.added)} MiB`).join("; ")
      } (target for a replica < 64 MiB).`,
    );
  }
  L.push(
    `- CPU per 1 KiB op, µs: GET replica ${cpu("replica", "get", "replicas")} + S3 ${
      cpu("replica", "get", "s3")
    } (one node ${cpu("single-fs", "get", "server")}); PUT replica ${
      cpu("replica", "put", "replicas")
    } + S3 ${cpu("replica", "put", "s3")} (one node durable ${
      cpu("single-fs", "put", "server")
    }, storage none ${cpu("single-none", "put", "server")}); HAProxy ${cpu("balancer", "get", "haproxy")} / ${
      cpu("balancer", "put", "haproxy")
    } per GET / PUT.`,
  );
  L.push("");
  return L;
}

/**
 * The on-paper estimate: throughput of N replicas (each with this machine's cores) in front of one S3
 * service (with as many cores), from the CPU per op measured on one replica directly: each resource's
 * ceiling is its cores / its CPU per op, and the cluster gets the smallest. The network and the
 * balancer (a kernel Service in Kubernetes) are left out.
 */
function scaling(c: Json, cores: number): string[] {
  const rg = smallRow(c, "replica", "get"), rp = smallRow(c, "replica", "put"), lg = largeRow(c, "replica");
  if (!rg || !rp || !lg) return [];
  const us = (row: Json, role: string) => cpuPerOp(row, role)! / 1e6; // seconds per op
  const moved = (lg.size / MiB) * lg.reps;
  const perMiB = (op: string, role: string) => (lg.cpu_s_by_role?.[op]?.[role] ?? NaN) / moved;
  const objectMiB = lg.size / MiB;
  const kinds: { name: string; unit: string; replica: number; s3: number }[] = [
    { name: "1 KiB GET", unit: "ops/s", replica: us(rg, "replicas"), s3: us(rg, "s3") },
    { name: "1 KiB PUT", unit: "ops/s", replica: us(rp, "replicas"), s3: us(rp, "s3") },
    {
      name: `${objectMiB} MiB PUT`,
      unit: "MiB/s",
      replica: perMiB("put", "replicas"),
      s3: perMiB("put", "s3"),
    },
    {
      name: `${objectMiB} MiB GET (hot: local copies)`,
      unit: "MiB/s",
      replica: perMiB("get", "replicas"),
      // one record read per object, whatever its size
      s3: us(rg, "s3") / objectMiB,
    },
  ];
  const ns = [1, 2, 3, 6, 12, 24];
  const L: string[] = [];
  L.push(
    `On paper, N replicas of ${cores} cores each in front of one S3 service of ${cores} cores (ceiling = cores / ` +
      "CPU per op, from the replica-direct rows; the smaller of replicas and S3 wins; network and balancer left out):",
  );
  L.push("");
  L.push(
    `| workload | per replica | S3 service | ${
      ns.map((n) => `N=${n}`).join(" | ")
    } | S3 is the bottleneck from |`,
  );
  L.push(`|---|---|---|${ns.map(() => "---").join("|")}|---|`);
  for (const k of kinds) {
    const perReplica = cores / k.replica, s3 = cores / k.s3;
    const from = Math.ceil(s3 / perReplica - 1e-9);
    L.push(
      `| ${k.name} (${k.unit}) | ${f0(perReplica)} | ${f0(s3)} | ${
        ns.map((n) => f0(Math.min(n * perReplica, s3))).join(" | ")
      } | ${Number.isFinite(from) ? (from <= 1 ? "S3 at N=1" : `S3 at N=${from}`) : "-"} |`,
    );
  }
  L.push("");
  return L;
}
