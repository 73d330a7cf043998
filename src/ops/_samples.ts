/**
 * A small in-memory ring of periodic samples (every 5 s by default, one hour
 * kept) of the cumulative counters, from which the status page draws hit rate
 * and throughput over time.
 *
 * @module
 */

/** Cumulative counters at one instant. */
export interface Sample {
  /** ms since the epoch. */
  t: number;
  bytesIn: number;
  bytesOut: number;
  /** Reads served from memory. */
  hits: number;
  /** Reads loaded from storage. */
  loads: number;
  /** Reads of missing keys. */
  misses: number;
  /** gRPC calls finished. */
  calls: number;
}

/** Rates over the interval that ends at `t`. */
export interface RatePoint {
  t: number;
  /** Bytes per second received and sent. */
  inBps: number;
  outBps: number;
  /** Reads per second. */
  readsPerSec: number;
  /** hits / (hits + loads + misses) in the interval; null without reads. */
  hitRate: number | null;
  callsPerSec: number;
}

/** Fixed-capacity ring of samples, oldest dropped first. */
export class SampleRing {
  private readonly buf: Sample[] = [];
  private start = 0;

  constructor(readonly capacity = 720) {}

  /** Add a sample (drops the oldest when full). */
  push(s: Sample): void {
    if (this.buf.length < this.capacity) {
      this.buf.push(s);
    } else {
      this.buf[this.start] = s;
      this.start = (this.start + 1) % this.capacity;
    }
  }

  /** Samples, oldest first. */
  all(): Sample[] {
    return [...this.buf.slice(this.start), ...this.buf.slice(0, this.start)];
  }

  get size(): number {
    return this.buf.length;
  }
}

/** Rates between consecutive samples (counters that went backwards count as 0). */
export function rates(samples: readonly Sample[]): RatePoint[] {
  const out: RatePoint[] = [];
  for (let i = 1; i < samples.length; i++) {
    const a = samples[i - 1];
    const b = samples[i];
    const dt = (b.t - a.t) / 1000;
    if (dt <= 0) continue;
    const d = (k: keyof Sample) => Math.max(0, b[k] - a[k]);
    const reads = d("hits") + d("loads") + d("misses");
    out.push({
      t: b.t,
      inBps: d("bytesIn") / dt,
      outBps: d("bytesOut") / dt,
      readsPerSec: reads / dt,
      hitRate: reads > 0 ? d("hits") / reads : null,
      callsPerSec: d("calls") / dt,
    });
  }
  return out;
}
