/**
 * The byte pipe an HTTP/2 connection runs over. Plain TCP uses Deno's own
 * sockets (reads land in our buffer, writes leave from our views: no stream
 * machinery in between); TLS goes through `node:tls`, which can verify client
 * certificates (mutual TLS), behind the same interface.
 *
 * @module
 */
import type { Socket } from "node:net";

/** A bidirectional byte stream. */
export interface ByteChannel {
  /** Read into `buffer`; resolves with the byte count, or null at end of stream. */
  read(buffer: Uint8Array): Promise<number | null>;
  /** Write all of `bytes`; resolves when the transport has taken them. */
  write(bytes: Uint8Array): Promise<void>;
  /** Half-close: send FIN after what was written, keep reading. */
  closeWrite(): Promise<void>;
  /** Close both directions now. */
  close(): void;
  /** Peer address, for logs. */
  readonly remote: string;
  /** Whether an idle channel keeps the process alive (clients unref idle connections). */
  setRef?(on: boolean): void;
}

/** A channel over a Deno TCP connection. */
export class DenoChannel implements ByteChannel {
  readonly remote: string;
  private closed = false;

  constructor(private readonly conn: Deno.Conn) {
    const addr = conn.remoteAddr as Deno.NetAddr;
    this.remote = `${addr.hostname}:${addr.port}`;
  }

  async read(buffer: Uint8Array): Promise<number | null> {
    if (this.closed) return null;
    try {
      return await this.conn.read(buffer);
    } catch {
      return null;
    }
  }

  async write(bytes: Uint8Array): Promise<void> {
    let off = 0;
    while (off < bytes.length) {
      off += await this.conn.write(off === 0 ? bytes : bytes.subarray(off));
    }
  }

  setRef(on: boolean): void {
    try {
      if (on) this.conn.ref();
      else this.conn.unref();
    } catch { /* closed */ }
  }

  async closeWrite(): Promise<void> {
    try {
      await this.conn.closeWrite();
    } catch { /* already closed */ }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.conn.close();
    } catch { /* already closed */ }
  }
}

/**
 * A channel over a `node:net`/`node:tls` socket. Incoming chunks are queued
 * (the socket is paused while more than {@link NodeChannel.HIGH_WATER} bytes
 * wait) and copied into the reader's buffer.
 */
export class NodeChannel implements ByteChannel {
  static readonly HIGH_WATER = 4 * 1024 * 1024;
  readonly remote: string;
  private readonly chunks: Uint8Array[] = [];
  private queued = 0;
  private ended = false;
  private waiter: (() => void) | null = null;

  constructor(private readonly socket: Socket) {
    this.remote = `${socket.remoteAddress ?? "?"}:${socket.remotePort ?? "?"}`;
    socket.on("data", (chunk: Uint8Array) => {
      this.chunks.push(chunk);
      this.queued += chunk.length;
      if (this.queued > NodeChannel.HIGH_WATER) socket.pause();
      this.wake();
    });
    const end = () => {
      this.ended = true;
      this.wake();
    };
    socket.on("end", end);
    socket.on("close", end);
    socket.on("error", end);
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }

  async read(buffer: Uint8Array): Promise<number | null> {
    while (this.chunks.length === 0) {
      if (this.ended) return null;
      await new Promise<void>((r) => (this.waiter = r));
    }
    let n = 0;
    while (this.chunks.length > 0 && n < buffer.length) {
      const c = this.chunks[0];
      const take = Math.min(c.length, buffer.length - n);
      buffer.set(take === c.length ? c : c.subarray(0, take), n);
      n += take;
      if (take === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(take);
    }
    this.queued -= n;
    if (this.queued <= NodeChannel.HIGH_WATER / 2 && this.socket.isPaused()) this.socket.resume();
    return n;
  }

  write(bytes: Uint8Array): Promise<void> {
    if (this.socket.destroyed) return Promise.reject(new Error("socket closed"));
    return new Promise((resolve, reject) => {
      // The callback fires once the bytes are handed to the OS: the caller may then reuse `bytes`.
      this.socket.write(bytes, (err) => (err ? reject(err) : resolve()));
    });
  }

  setRef(on: boolean): void {
    if (on) this.socket.ref();
    else this.socket.unref();
  }

  closeWrite(): Promise<void> {
    return new Promise((resolve) => {
      if (this.socket.destroyed || this.socket.writableEnded) return resolve();
      this.socket.end(() => resolve());
    });
  }

  close(): void {
    this.ended = true;
    this.socket.destroy();
    this.wake();
  }
}
