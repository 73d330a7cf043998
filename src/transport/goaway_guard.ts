/**
 * Guard against Deno's node:http2 abort on client GOAWAY (denoland/deno#36788):
 * nghttp2 asserts inside `find_stream_on_goaway_func` and kills the process when a
 * client that used the connection sends GOAWAY. No JavaScript handler can catch it,
 * so we never let the frame reach nghttp2: each accepted socket is wrapped in a
 * Duplex that forwards every byte unchanged except inbound GOAWAY frames (type 7).
 * The client closes its socket right after a GOAWAY anyway; the session then ends
 * on EOF as it would have.
 *
 * Payload bytes are forwarded as views of the received chunks (no copies).
 *
 * @module
 */
import { Duplex } from "node:stream";
import type { Socket } from "node:net";

const PREFACE_LENGTH = 24; // "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
const FRAME_HEADER_LENGTH = 9;
const GOAWAY = 7;

/** Strips GOAWAY frames from an inbound HTTP/2 byte stream, chunk by chunk. */
export class GoawayFilter {
  private prefaceLeft = PREFACE_LENGTH;
  private header = new Uint8Array(FRAME_HEADER_LENGTH);
  private headerFill = 0;
  private payloadLeft = 0;
  private dropping = false;
  /** GOAWAY frames removed so far (for tests and metrics). */
  dropped = 0;

  /** Returns the pieces of `chunk` to forward, in order. */
  filter(chunk: Uint8Array): Uint8Array[] {
    const out: Uint8Array[] = [];
    let pos = 0;
    const n = chunk.length;
    if (this.prefaceLeft > 0) {
      const take = Math.min(this.prefaceLeft, n);
      out.push(chunk.subarray(0, take));
      this.prefaceLeft -= take;
      pos = take;
    }
    while (pos < n) {
      if (this.payloadLeft > 0) {
        const take = Math.min(this.payloadLeft, n - pos);
        if (!this.dropping) out.push(chunk.subarray(pos, pos + take));
        this.payloadLeft -= take;
        pos += take;
        continue;
      }
      // Collect a 9-byte frame header, possibly split across chunks.
      if (this.headerFill === 0 && n - pos >= FRAME_HEADER_LENGTH) {
        this.startFrame(chunk.subarray(pos, pos + FRAME_HEADER_LENGTH), out);
        pos += FRAME_HEADER_LENGTH;
        continue;
      }
      const take = Math.min(FRAME_HEADER_LENGTH - this.headerFill, n - pos);
      this.header.set(chunk.subarray(pos, pos + take), this.headerFill);
      this.headerFill += take;
      pos += take;
      if (this.headerFill === FRAME_HEADER_LENGTH) {
        this.headerFill = 0;
        this.startFrame(this.header.slice(), out);
      }
    }
    return out;
  }

  private startFrame(header: Uint8Array, out: Uint8Array[]): void {
    const length = (header[0] << 16) | (header[1] << 8) | header[2];
    this.dropping = header[3] === GOAWAY;
    if (this.dropping) this.dropped++;
    else out.push(header);
    this.payloadLeft = length;
  }
}

/**
 * Wrap a socket so the HTTP/2 server reads it through a {@link GoawayFilter}.
 * Hand the result to `http2Server.emit("connection", duplex)`.
 */
export function guardSocket(socket: Socket | Duplex): Duplex {
  const filter = new GoawayFilter();
  const duplex: Duplex = new Duplex({
    read() {
      socket.resume();
    },
    write(chunk, _encoding, callback) {
      socket.write(chunk, callback);
    },
    writev(chunks, callback) {
      // Preserve write batching: cork, write all, uncork.
      if ("cork" in socket) socket.cork();
      for (let i = 0; i < chunks.length; i++) {
        socket.write(chunks[i].chunk, i === chunks.length - 1 ? callback : undefined);
      }
      if ("uncork" in socket) socket.uncork();
    },
    final(callback) {
      socket.end(callback);
    },
    destroy(err, callback) {
      socket.destroy(err ?? undefined);
      callback(err);
    },
  });
  socket.on("data", (chunk: Uint8Array) => {
    let more = true;
    for (const piece of filter.filter(chunk)) more = duplex.push(piece) && more;
    if (!more) socket.pause();
  });
  socket.on("end", () => duplex.push(null));
  socket.on("error", (err) => duplex.destroy(err));
  socket.on("close", () => duplex.destroy());
  // http2 reads socket-like properties from the connection object.
  const s = socket as Socket;
  Object.defineProperties(duplex, {
    remoteAddress: { get: () => s.remoteAddress },
    remotePort: { get: () => s.remotePort },
    remoteFamily: { get: () => s.remoteFamily },
    localAddress: { get: () => s.localAddress },
    localPort: { get: () => s.localPort },
    encrypted: { get: () => (s as unknown as { encrypted?: boolean }).encrypted },
    alpnProtocol: { get: () => (s as unknown as { alpnProtocol?: string }).alpnProtocol },
  });
  (duplex as unknown as { setNoDelay: (v?: boolean) => void }).setNoDelay = (v = true) => s.setNoDelay?.(v);
  (duplex as unknown as { setTimeout: (ms: number, cb?: () => void) => void }).setTimeout = (ms, cb) =>
    s.setTimeout?.(ms, cb);
  return duplex;
}
