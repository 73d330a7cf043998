/**
 * Linux /proc probes of another process: resident memory (VmRSS, VmHWM and its reset through
 * `clear_refs`) and CPU time (utime + stime).
 *
 * @module
 */

/** Clock ticks per second of /proc/PID/stat (USER_HZ, 100 on Linux). */
const CLK_TCK = 100;

/** VmRSS and VmHWM of `pid` in bytes (undefined when the process is gone). */
export function memStatus(pid: number): { rss?: number; hwm?: number } {
  try {
    const text = Deno.readTextFileSync(`/proc/${pid}/status`);
    const get = (name: string) => {
      const m = new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(text);
      return m ? Number(m[1]) * 1024 : undefined;
    };
    return { rss: get("VmRSS"), hwm: get("VmHWM") };
  } catch {
    return {};
  }
}

/** Reset the peak RSS (VmHWM) of `pid` to its current RSS. False when not permitted. */
export function resetPeak(pid: number): boolean {
  try {
    Deno.writeTextFileSync(`/proc/${pid}/clear_refs`, "5");
    return true;
  } catch {
    return false;
  }
}

/** User + system CPU seconds consumed by `pid` so far (0 when gone). */
export function cpuSeconds(pid: number): number {
  try {
    const text = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  } catch {
    return 0;
  }
}

/** Samples VmRSS of a process every `everyMs` and keeps the maximum (a cross-check of VmHWM). */
export class RssSampler {
  max = 0;
  samples = 0;
  /** [ms since start, VmRSS bytes] of every sample, when asked for (`keepTimeline`). */
  readonly timeline: [number, number][] = [];
  #timer: ReturnType<typeof setInterval>;
  readonly #t0 = performance.now();
  constructor(readonly pid: number, everyMs = 50, readonly keepTimeline = false) {
    this.#timer = setInterval(() => this.sample(), everyMs);
    this.sample();
  }
  sample(): void {
    const { rss } = memStatus(this.pid);
    if (rss !== undefined) {
      this.samples++;
      if (rss > this.max) this.max = rss;
      if (this.keepTimeline) this.timeline.push([Math.round(performance.now() - this.#t0), rss]);
    }
  }
  stop(): number {
    clearInterval(this.#timer);
    this.sample();
    return this.max;
  }
}

/** Direct children of `pid` (e.g. HAProxy's workers under its master), from /proc/PID/task/TID/children. */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  try {
    for (const task of Deno.readDirSync(`/proc/${pid}/task`)) {
      const text = Deno.readTextFileSync(`/proc/${pid}/task/${task.name}/children`).trim();
      if (text) out.push(...text.split(/\s+/).map(Number));
    }
  } catch { /* gone */ }
  return out;
}

/**
 * Read a child's output as text: `onText` sees every decoded piece (e.g. to keep a tail for error
 * messages), `onLine` every complete line. Resolves when the stream ends.
 */
export async function forEachLine(
  stream: ReadableStream<Uint8Array>,
  onLine: (line: string) => void,
  onText: (text: string) => void = () => {},
): Promise<void> {
  const dec = new TextDecoder();
  let pending = "";
  for await (const chunk of stream) {
    const s = dec.decode(chunk, { stream: true });
    onText(s);
    pending += s;
    let nl;
    while ((nl = pending.indexOf("\n")) >= 0) {
      onLine(pending.slice(0, nl));
      pending = pending.slice(nl + 1);
    }
  }
}
