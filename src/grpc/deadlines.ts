/**
 * Call deadlines on one shared timer. Nearly every call carries a deadline (`grpc-timeout`; pyarrow
 * and grpc-js send one with each call) and ends long before it; arming and clearing a timer per
 * call cost ~4 µs and a timer object each, a visible share of a 1 KiB call. Here a call's deadline is
 * one entry in a set, and the one timer is armed for the earliest entry only when that is earlier than
 * what it is armed for. With equal timeouts that is once per timeout period, not once per call.
 *
 * @module
 */

/** A deadline registered with {@link DeadlineTimer.add}. */
export interface Deadline {
  /** `performance.now()` at which it fires. */
  readonly at: number;
  readonly fire: () => void;
}

/** Fires each deadline's callback once its time has come, unless it was removed first. */
export class DeadlineTimer {
  private readonly entries = new Set<Deadline>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private armedAt = Infinity;

  /** Number of deadlines waiting. */
  get size(): number {
    return this.entries.size;
  }

  /** Call `fire` in `ms` milliseconds, unless {@link remove}d before. */
  add(ms: number, fire: () => void): Deadline {
    const entry: Deadline = { at: performance.now() + Math.max(0, ms), fire };
    this.entries.add(entry);
    if (entry.at < this.armedAt) this.arm(entry.at);
    return entry;
  }

  /** Forget a deadline (its call ended). The timer stays armed: it finds nothing due and re-arms. */
  remove(entry: Deadline): void {
    this.entries.delete(entry);
  }

  /** Drop every deadline and the timer (the server closed). */
  stop(): void {
    this.entries.clear();
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.armedAt = Infinity;
  }

  private arm(at: number): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.armedAt = at;
    const timer = setTimeout(() => this.expire(), Math.max(0, at - performance.now()));
    // Deadlines never keep the process alive by themselves: their calls' sockets do.
    Deno.unrefTimer(timer);
    this.timer = timer;
  }

  private expire(): void {
    this.timer = undefined;
    this.armedAt = Infinity;
    // Timers may fire a fraction of a millisecond before performance.now() says they are due.
    const now = performance.now() + 1;
    let next = Infinity;
    const due: Deadline[] = [];
    for (const e of this.entries) {
      if (e.at <= now) due.push(e);
      else if (e.at < next) next = e.at;
    }
    for (const e of due) this.entries.delete(e);
    if (next < Infinity) this.arm(next);
    for (const e of due) e.fire();
  }
}
