"""Chart of a benchmark run: python plot.py latest.json latest.png"""
import json
import statistics
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402,F401

MiB = 1024 * 1024



def short_server(label: str) -> str:
    """'flame-cache (fs, durable)' -> 'flame-cache', 'flame-cache (storage none)' -> 'flame-cache none'."""
    name = label.split(" (")[0]
    return f"{name} none" if "storage none" in label else name

def size_name(n):
    return f"{n // (1024 * MiB)} GiB" if n >= 1024 * MiB else f"{n // MiB} MiB"


def main(src, dst):
    r = json.load(open(src))
    m = r.get("machine", {})
    tcp_runs = [x for k in ("tcp_start", "tcp_end") for x in (r["cases"].get(k) or {}).get("mib_s", [])]
    tcp = statistics.median(tcp_runs) if tcp_runs else None  # same as latest.md
    large = [x for x in r["cases"].get("large", []) if "error" not in x]
    small = r["cases"].get("small", [])
    fig, axes = plt.subplots(1, 3, figsize=(18, 6), gridspec_kw={"width_ratios": [2.2, 1.4, 1]})

    # 1: large-object throughput
    ax = axes[0]
    sizes = sorted({x["size"] for x in large})
    series = []
    for x in large:
        lab = f'{x["server_label"]} [{"pyarrow" if x["client"] == "pyarrow" else "TS"} client]'
        if lab not in series:
            series.append(lab)
    groups = [(s, op) for s in sizes for op in ("PUT", "GET")]
    width = 0.8 / max(1, len(series))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, lab in enumerate(series):
        ys = []
        for s, op in groups:
            row = next((x for x in large if x["size"] == s and
                        f'{x["server_label"]} [{"pyarrow" if x["client"] == "pyarrow" else "TS"} client]' == lab), None)
            ys.append(row[f"{op.lower()}_mib_s"] if row else 0)
        ax.bar([g + i * width - 0.4 + width / 2 for g in range(len(groups))], ys, width, label=lab,
               color=colors[i % len(colors)])
    if tcp:
        ax.axhline(tcp, color="black", linestyle="--", linewidth=1, label=f"TCP loopback limit {tcp:.0f} MiB/s")
        ax.axhline(0.6 * tcp, color="grey", linestyle=":", linewidth=1, label="0.6 x limit (GET target)")
        ax.axhline(0.5 * tcp, color="silver", linestyle=":", linewidth=1, label="0.5 x limit (PUT target)")
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels([f"{op}\n{size_name(s)}" for s, op in groups])
    ax.set_ylabel("MiB/s (median)")
    ax.set_title("Large objects")
    ax.legend(fontsize=7, loc="upper left")

    # 2: small-object ops/s
    ax = axes[1]
    phases = ["c=1 put", "c=1 get", "c=32 put", "c=32 get", "c=32 mixed"]
    ok = [x for x in small if "error" not in x]
    width = 0.8 / max(1, len(ok))
    for i, x in enumerate(ok):
        by = {p["phase"]: p for p in x.get("phases", []) if "error" not in p}
        ys = [by[p]["ops_s"] if p in by else 0 for p in phases]
        ax.bar([j + i * width - 0.4 + width / 2 for j in range(len(phases))], ys, width,
               label=f'{x["server_label"]} [{"pyarrow" if x["client"] == "pyarrow" else "TS"}]',
               color=colors[i % len(colors)])
    ax.axhline(10000, color="black", linestyle="--", linewidth=1, label="10,000 ops/s (c=32 mixed target)")
    ax.set_xticks(range(len(phases)))
    ax.set_xticklabels(phases, fontsize=8)
    ax.set_ylabel("ops/s")
    ax.set_title("1 KiB objects")
    ax.legend(fontsize=7)

    # 3: c=1 latency
    ax = axes[2]
    labels, p50, p99 = [], [], []
    for x in ok:
        for p in x.get("phases", []):
            if p.get("phase") in ("c=1 get", "c=1 put") and "error" not in p:
                op = p["phase"].split()[1]
                labels.append(f'{short_server(x["server_label"])} {"py" if x["client"] == "pyarrow" else "TS"} {op}')
                p50.append(p[op]["p50_ms"])
                p99.append(p[op]["p99_ms"])
    ax.barh(range(len(labels)), p99, color="#f4b183", label="p99")
    ax.barh(range(len(labels)), p50, color="#2f5597", label="p50")
    ax.axvline(0.3, color="black", linestyle="--", linewidth=1, label="0.3 ms (c=1 GET p50 target)")
    ax.set_yticks(range(len(labels)))
    ax.set_yticklabels(labels, fontsize=8)
    ax.set_xscale("log")
    ticks = [0.1, 0.3, 1, 3, 10, 30, 100, 300]
    ax.xaxis.set_major_locator(matplotlib.ticker.FixedLocator(ticks))
    ax.xaxis.set_major_formatter(matplotlib.ticker.FixedFormatter([str(t) for t in ticks]))
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.set_xlim(0.1, max(p99 + [1]) * 1.5)
    ax.set_xlabel("latency ms (log)")
    ax.set_title("1 KiB latency at c=1")
    ax.legend(fontsize=7)

    fig.suptitle(f'flame-cache benchmark ({r.get("mode")}) - {m.get("date", "")[:16]} - {m.get("cpu", "")}, '
                 f'{m.get("cores")} cores, Deno {m.get("deno")}, pyarrow {m.get("pyarrow")}', fontsize=10)
    fig.tight_layout()
    fig.savefig(dst, dpi=110)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
