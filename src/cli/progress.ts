/**
 * A transfer progress bar for the admin commands: bytes, percentage, rate and
 * ETA on one stderr line, redrawn at most 10 times a second. It appears only
 * when the transfer has taken more than a second and stderr is a terminal, so
 * scripts and short transfers see nothing.
 *
 * @module
 */
import { formatBytes } from "../config/mod.ts";

/** What one frame of the bar shows. */
export interface ProgressState {
  label: string;
  bytes: number;
  total?: number;
  elapsedMs: number;
  /** Terminal width. */
  columns: number;
}

function clock(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "--:--";
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const mm = String(m).padStart(2, "0");
  const ss = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

/** Render one line of the bar (no control characters). */
export function renderProgress(p: ProgressState): string {
  const secs = p.elapsedMs / 1000;
  const rate = secs > 0 ? p.bytes / secs : 0;
  const known = p.total !== undefined && p.total > 0;
  const fraction = known ? Math.min(1, p.bytes / p.total!) : 0;
  // Fixed-width fields, so the bar keeps its length while the numbers change.
  const amount = known
    ? `${formatBytes(p.bytes).padStart(9)} / ${formatBytes(p.total!)}`
    : formatBytes(p.bytes);
  const eta = known && rate > 0 ? clock((p.total! - p.bytes) / rate) : "--:--";
  const speed = `${formatBytes(rate)}/s`;
  const right = known
    ? `${(fraction * 100).toFixed(0).padStart(3)}% ${amount} ${speed.padStart(11)} ETA ${eta}`
    : `${amount} ${speed}`;
  const room = p.columns - p.label.length - right.length - 4;
  if (!known || room < 10) return `${p.label} ${right}`.slice(0, Math.max(0, p.columns - 1));
  const width = Math.min(room, 40);
  const full = Math.round(fraction * width);
  return `${p.label} [${"#".repeat(full)}${"-".repeat(width - full)}] ${right}`;
}

/** Options of {@link ProgressBar}. */
export interface ProgressBarOptions {
  /** Draw at all (default: stderr is a terminal). */
  enabled?: boolean;
  /** Show only once the transfer has lasted this long (default 1000 ms). */
  delayMs?: number;
  /** Where to draw (default stderr). */
  write?: (text: string) => void;
  /** Terminal width (default: the console's, else 80). */
  columns?: number;
}

const enc = new TextEncoder();

/** A progress bar on stderr; call {@link ProgressBar.update} often, {@link ProgressBar.done} at the end. */
export class ProgressBar {
  private readonly started = performance.now();
  private lastDraw = 0;
  private drawn = false;
  private readonly enabled: boolean;
  private readonly delayMs: number;
  private readonly write: (text: string) => void;
  private readonly columns: number;

  constructor(private readonly label: string, options: ProgressBarOptions = {}) {
    this.enabled = options.enabled ?? Deno.stderr.isTerminal();
    this.delayMs = options.delayMs ?? 1000;
    this.write = options.write ?? ((t) => Deno.stderr.writeSync(enc.encode(t)));
    let columns = options.columns ?? 80;
    if (options.columns === undefined && this.enabled) {
      try {
        const c = Deno.consoleSize().columns;
        if (c >= 20) columns = c; // some pseudo-terminals report 0
      } catch { /* not a console */ }
    }
    this.columns = columns;
  }

  /** Report progress; redraws at most every 100 ms, and only after the delay. */
  update(bytes: number, total?: number): void {
    if (!this.enabled) return;
    const now = performance.now();
    const elapsed = now - this.started;
    if (elapsed < this.delayMs || now - this.lastDraw < 100) return;
    this.lastDraw = now;
    this.drawn = true;
    const line = renderProgress({
      label: this.label,
      bytes,
      total,
      elapsedMs: elapsed,
      columns: this.columns,
    });
    this.write(`\r${line}\x1b[K`);
  }

  /** Finish: draw the final state (if the bar was shown) and end the line. */
  done(bytes?: number, total?: number): void {
    if (!this.drawn) return;
    if (bytes !== undefined) {
      const line = renderProgress({
        label: this.label,
        bytes,
        total,
        elapsedMs: performance.now() - this.started,
        columns: this.columns,
      });
      this.write(`\r${line}\x1b[K`);
    }
    this.write("\n");
    this.drawn = false;
  }
}
