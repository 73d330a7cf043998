/**
 * An in-memory HTTP/2 harness: a {@link ByteChannel} the test feeds by hand
 * (and whose writes it parses back into frames), and a pair of channels wired
 * to each other for a client and a server connection in one process.
 *
 * @module
 */
import type { ByteChannel } from "../../src/h2/channel.ts";

/** A channel fed by the test; what the connection writes is parsed back into frames. */
export class MemoryChannel implements ByteChannel {
  readonly remote = "memory:1";
  readonly written: Uint8Array[] = [];
  private readonly input: Uint8Array[] = [];
  private ended = false;
  private waiter: (() => void) | null = null;
  closed = false;
  writeClosed = false;

  feed(...chunks: Uint8Array[]): void {
    this.input.push(...chunks);
    this.waiter?.();
  }

  end(): void {
    this.ended = true;
    this.waiter?.();
  }

  async read(buffer: Uint8Array): Promise<number | null> {
    while (this.input.length === 0) {
      if (this.ended || this.closed) return null;
      await new Promise<void>((r) => (this.waiter = r));
      this.waiter = null;
    }
    const c = this.input[0];
    const n = Math.min(c.length, buffer.length);
    buffer.set(c.subarray(0, n));
    if (n === c.length) this.input.shift();
    else this.input[0] = c.subarray(n);
    return n;
  }

  write(bytes: Uint8Array): Promise<void> {
    if (this.closed) return Promise.reject(new Error("closed"));
    this.written.push(bytes.slice());
    return Promise.resolve();
  }

  closeWrite(): Promise<void> {
    this.writeClosed = true;
    return Promise.resolve();
  }

  close(): void {
    this.closed = true;
    this.waiter?.();
  }

  /** Frames written so far. */
  frames(): { type: number; flags: number; stream: number; payload: Uint8Array }[] {
    const all = new Uint8Array(this.written.reduce((n, w) => n + w.length, 0));
    let o = 0;
    for (const w of this.written) {
      all.set(w, o);
      o += w.length;
    }
    const out = [];
    for (let p = 0; p + 9 <= all.length;) {
      const len = (all[p] << 16) | (all[p + 1] << 8) | all[p + 2];
      out.push({
        type: all[p + 3],
        flags: all[p + 4],
        stream: new DataView(all.buffer, p + 5, 4).getUint32(0) & 0x7fffffff,
        payload: all.subarray(p + 9, p + 9 + len),
      });
      p += 9 + len;
    }
    return out;
  }
}

/** Two channels wired to each other: what one writes, the other reads. */
export function channelPair(): [MemoryChannel, MemoryChannel] {
  const a = new MemoryChannel();
  const b = new MemoryChannel();
  a.write = (bytes) => {
    if (a.closed) return Promise.reject(new Error("closed"));
    b.feed(bytes.slice());
    return Promise.resolve();
  };
  b.write = (bytes) => {
    if (b.closed) return Promise.reject(new Error("closed"));
    a.feed(bytes.slice());
    return Promise.resolve();
  };
  const closeA = a.close.bind(a);
  const closeB = b.close.bind(b);
  a.close = () => {
    closeA();
    b.end();
  };
  b.close = () => {
    closeB();
    a.end();
  };
  return [a, b];
}
