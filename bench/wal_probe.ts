/**
 * Probe behind the fs engine's write-ahead log (issue 15): what one crash-safe 1 KiB write costs on this
 * device in each candidate scheme, measured the way the engine would do it (Deno's sync file calls).
 *
 *   deno run -A bench/wal_probe.ts [DIR] [--n 300]
 *
 * - `file`: a temp file, write, fdatasync, rename, fsync of the folder (the engine before the log);
 * - `append`: append one record to a log file and fdatasync it (the file grows: size metadata too);
 * - `overwrite`: write one record into a preallocated, already-synced log and fdatasync it (data only);
 * - `group16`: 16 records appended with one fdatasync, against 16 `file` writes flushed concurrently;
 * - `checkpoint`: 1000 files written behind a log (temp + rename, no flush), then flushed concurrently
 *   with their folder: the deferred cost per put.
 *
 * Prints one JSON object (medians in ms).
 *
 * @module
 */
const args = Deno.args;
const dir = args.find((a) => !a.startsWith("--")) ?? Deno.makeTempDirSync({ prefix: "wal-probe-" });
const n = Number(args[args.indexOf("--n") + 1] || 300) || 300;
Deno.mkdirSync(dir, { recursive: true });
const payload = new Uint8Array(1200).map((_, i) => i & 0xff);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function syncDir(path: string): void {
  const d = Deno.openSync(path, { read: true });
  d.syncSync();
  d.close();
}

function fileWrites(sub: string): number[] {
  Deno.mkdirSync(sub, { recursive: true });
  const lat: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const tmp = `${sub}/.o${i}.tmp`;
    const f = Deno.openSync(tmp, { write: true, createNew: true });
    f.writeSync(payload);
    f.syncDataSync();
    f.close();
    Deno.renameSync(tmp, `${sub}/o${i}.arrow`);
    syncDir(sub);
    lat.push(performance.now() - t0);
  }
  return lat;
}

function appendWrites(path: string): number[] {
  const f = Deno.openSync(path, { write: true, create: true, append: true });
  const lat: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    f.writeSync(payload);
    f.syncDataSync();
    lat.push(performance.now() - t0);
  }
  f.close();
  return lat;
}

function overwriteWrites(path: string): number[] {
  const f = Deno.openSync(path, { write: true, read: true, create: true });
  f.writeSync(new Uint8Array(payload.length * (n + 1)));
  f.syncSync();
  f.seekSync(0, Deno.SeekMode.Start);
  const lat: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    f.writeSync(payload);
    f.syncDataSync();
    lat.push(performance.now() - t0);
  }
  f.close();
  return lat;
}

async function group16(sub: string): Promise<{ log_ms: number; files_ms: number }> {
  Deno.mkdirSync(sub, { recursive: true });
  const logT: number[] = [];
  const fileT: number[] = [];
  const log = Deno.openSync(`${sub}/log`, { write: true, create: true, append: true });
  const batch = new Uint8Array(payload.length * 16);
  for (let r = 0; r < 40; r++) {
    let t0 = performance.now();
    log.writeSync(batch);
    log.syncDataSync();
    logT.push(performance.now() - t0);
    t0 = performance.now();
    const files = [];
    for (let i = 0; i < 16; i++) {
      const tmp = `${sub}/.g${r}-${i}.tmp`;
      const f = Deno.openSync(tmp, { write: true, createNew: true });
      f.writeSync(payload);
      files.push({ f, tmp, name: `${sub}/g${r}-${i}.arrow` });
    }
    await Promise.all(files.map((x) => x.f.syncData()));
    for (const x of files) {
      x.f.close();
      Deno.renameSync(x.tmp, x.name);
    }
    syncDir(sub);
    fileT.push(performance.now() - t0);
  }
  log.close();
  return { log_ms: median(logT), files_ms: median(fileT) };
}

async function checkpoint(sub: string, count: number): Promise<{ write_ms: number; flush_ms: number }> {
  Deno.mkdirSync(sub, { recursive: true });
  let t0 = performance.now();
  const names: string[] = [];
  for (let i = 0; i < count; i++) {
    const tmp = `${sub}/.c${i}.tmp`;
    const f = Deno.openSync(tmp, { write: true, createNew: true });
    f.writeSync(payload);
    f.close();
    Deno.renameSync(tmp, `${sub}/c${i}.arrow`);
    names.push(`${sub}/c${i}.arrow`);
  }
  const write = performance.now() - t0;
  t0 = performance.now();
  await Promise.all(names.map(async (p) => {
    const f = await Deno.open(p, { read: true, write: true });
    await f.syncData();
    f.close();
  }));
  syncDir(sub);
  return { write_ms: write, flush_ms: performance.now() - t0 };
}

const out = {
  dir,
  n,
  file_p50_ms: median(fileWrites(`${dir}/file`)),
  append_p50_ms: median(appendWrites(`${dir}/append.log`)),
  overwrite_p50_ms: median(overwriteWrites(`${dir}/overwrite.log`)),
  group16: await group16(`${dir}/group`),
  checkpoint_1000: await checkpoint(`${dir}/ckpt`, 1000),
};
console.log(JSON.stringify(out));
Deno.removeSync(dir, { recursive: true });
