/**
 * Start-up benchmark of the fs engine: builds a cache folder with many objects quickly (files written
 * directly, no fsync), then opens it in a fresh process and reports the time and memory of `open()`.
 *
 * ```
 * deno run -A bench/fs_startup.ts [objects=10000] [--root DIR] [--payload BYTES]
 *     [--patched-every K] [--keep]
 * ```
 * Every K-th object gets two patches (default 10; 0 for none). Prints one JSON line per measurement:
 * wall time, CPU time (user + system; less sensitive to other load on the machine) and RSS.
 *
 * @module
 */
import process from "node:process";
import { parseArgs } from "node:util";
import { crc32 } from "node:zlib";
import { opaqueFileParts } from "../src/arrow/mod.ts";
import { FsEngine } from "../src/store/fs/mod.ts";
import { writeParts } from "../src/store/fs/_io.ts";

function writeFile(path: string, parts: Uint8Array[]): void {
  const f = Deno.openSync(path, { write: true, create: true, truncate: true });
  try {
    writeParts(f, parts);
  } finally {
    f.close();
  }
}

/** Write `n` objects as `bench/s{i/1000}/o{i}` with `payload`-byte payloads. */
export function buildFolder(root: string, n: number, payload: number, patchedEvery: number): void {
  const data = new Uint8Array(payload);
  for (let i = 0; i < payload; i++) data[i] = i & 0xff;
  const base = opaqueFileParts(1, [data], payload, crc32(data));
  const p1 = opaqueFileParts(2, [data.subarray(0, 16)], 16, crc32(data.subarray(0, 16)));
  const p2 = opaqueFileParts(3, [data.subarray(0, 16)], 16, crc32(data.subarray(0, 16)));
  let dir = "";
  for (let i = 0; i < n; i++) {
    const d = `${root}/bench/s${Math.floor(i / 1000)}`;
    if (d !== dir) {
      Deno.mkdirSync(d, { recursive: true });
      dir = d;
    }
    if (patchedEvery > 0 && i % patchedEvery === 0) {
      writeFile(`${d}/o${i}.arrow`, base);
      Deno.mkdirSync(`${d}/o${i}.deltas`);
      writeFile(`${d}/o${i}.deltas/0.arrow`, p1);
      writeFile(`${d}/o${i}.deltas/1.arrow`, p2);
    } else {
      writeFile(`${d}/o${i}.arrow`, base);
    }
  }
}

/** Open the folder and report. */
function measureOpen(root: string): void {
  const rss0 = Deno.memoryUsage().rss;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const engine = new FsEngine(root);
  const { entries, summary } = engine.open();
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const rss = Deno.memoryUsage().rss;
  console.log(JSON.stringify({
    objects: entries.length,
    ms: Math.round(ms),
    cpuMs: Math.round((cpu.user + cpu.system) / 1000),
    rssMiB: Math.round(rss / 2 ** 20),
    rssGrowthMiB: Math.round((rss - rss0) / 2 ** 20),
    summary,
  }));
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    allowPositionals: true,
    options: {
      root: { type: "string" },
      payload: { type: "string", default: "100" },
      "patched-every": { type: "string", default: "10" },
      keep: { type: "boolean", default: false },
      "open-only": { type: "boolean", default: false },
    },
  });
  if (values["open-only"]) {
    measureOpen(values.root!);
  } else {
    const n = Number(positionals[0] ?? 10000);
    const root = values.root ?? Deno.makeTempDirSync({ prefix: "fs_bench_" });
    const t0 = performance.now();
    buildFolder(root, n, Number(values.payload), Number(values["patched-every"]));
    console.log(JSON.stringify({ built: n, root, ms: Math.round(performance.now() - t0) }));
    try {
      for (let run = 0; run < 2; run++) {
        const out = new Deno.Command(Deno.execPath(), {
          args: ["run", "-A", new URL(import.meta.url).pathname, "--open-only", "--root", root],
          stdout: "inherit",
          stderr: "inherit",
        }).outputSync();
        if (!out.success) Deno.exit(1);
      }
    } finally {
      if (!values.keep) Deno.removeSync(root, { recursive: true });
    }
  }
}
