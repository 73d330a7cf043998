/**
 * The server side of one HTTP/2 connection (RFC 9113), written for gRPC with
 * large payloads: request DATA reaches the handler as views of the bytes read
 * from the socket, response DATA leaves as views of the handler's buffers
 * (small frames are coalesced into one write), and flow control is ours to
 * tune. Replaces Deno's node:http2 server, which copied every payload piece,
 * spent most of a small call in stream machinery and aborted the process on a
 * client GOAWAY (denoland/deno#36788; see README, "Transport").
 *
 * @module
 */
import { setImmediate } from "node:timers";
import type { ByteChannel } from "./channel.ts";
import {
  CLIENT_PREFACE,
  ConnectionError,
  DEFAULT_MAX_FRAME,
  DEFAULT_WINDOW,
  Flag,
  FRAME_HEADER_BYTES,
  FrameType,
  goawayFrame,
  H2Error,
  headersFrames,
  MAX_FRAME_LIMIT,
  MAX_WINDOW,
  pingAckFrame,
  rstStreamFrame,
  Setting,
  SETTINGS_ACK,
  settingsFrame,
  windowUpdateFrame,
  writeFrameHeader,
} from "./frames.ts";
import { FrameReader, type FrameSink } from "./reader.ts";
import { join } from "../large_message.ts";
import { HpackDecoder, HpackEncoder, HpackError } from "./hpack.ts";
import { H2Stream, type StreamOwner } from "./stream.ts";

/** Tuning and limits of a connection. */
export interface H2ConnectionOptions {
  /** Our initial stream window (SETTINGS_INITIAL_WINDOW_SIZE). */
  streamWindow: number;
  /** Our connection window. */
  connectionWindow: number;
  /** Largest frame we accept (SETTINGS_MAX_FRAME_SIZE). */
  maxFrameSize: number;
  /** Concurrent streams per connection. */
  maxConcurrentStreams: number;
  /** Largest decoded request header list. */
  maxHeaderListSize: number;
  /** Server: a new request stream (set its callbacks synchronously). Clients open streams with {@link H2Connection.request}. */
  onStream?: (stream: H2Stream) => void;
  /** "server" (default) answers streams the peer opens; "client" opens them. */
  role?: "server" | "client";
  /** Something worth logging went wrong. */
  onError?: (where: string, err: unknown) => void;
}

/** Bytes read from the socket per read call. */
const READ_SIZE = 512 * 1024;
/** Small frames and headers are copied into one buffer of this size per write. */
const COALESCE_SIZE = 256 * 1024;
/** Payload views at least this large are written as they are instead of copied. */
const DIRECT_WRITE = 64 * 1024;
/** Bytes gathered before a batch goes to the socket. */
const BATCH_BYTES = 1024 * 1024;
/** Control frames (PING/SETTINGS acks, resets) a peer may leave unread before it is cut off. */
const MAX_CONTROL_BACKLOG = 1024 * 1024;
/** Header block bytes (HEADERS + CONTINUATION) accepted for one request. */
const MAX_HEADER_BLOCK = 256 * 1024;
/** At shutdown, how long an idle connection waits for the peer to close it first. */
const SHUTDOWN_LINGER_MS = 2_000;
/** Stream resets a peer may cause per second (rapid-reset attacks, CVE-2023-44487). */
const MAX_RESETS_PER_SECOND = 1_000;

/** One HTTP/2 connection, server side or client side. */
export class H2Connection implements FrameSink, StreamOwner {
  /** Open streams by id. */
  readonly streams = new Map<number, H2Stream>();
  /** Highest stream id the peer opened (server), or the highest we opened (client). */
  lastStreamId = 0;
  /** Client: the peer sent GOAWAY; open a new connection for new calls. */
  goawayReceived = false;
  /** Set once the connection is finished (socket closed). */
  closed = false;
  /** Resolves when the connection has closed. */
  readonly done: Promise<void>;

  private readonly reader: FrameReader;
  private readonly decoder: HpackDecoder;
  private readonly encoder = new HpackEncoder();
  private settingsReceived = false;
  private draining = false;

  // Flow control: what the peer lets us send, what we let the peer send.
  private connSendWindow = DEFAULT_WINDOW;
  private connRecvWindow: number;
  private connUnacked = 0;
  private peerInitialWindow = DEFAULT_WINDOW;
  private peerMaxFrame = DEFAULT_MAX_FRAME;

  // Header block being assembled from HEADERS + CONTINUATION.
  private headerStream = 0;
  private headerFlags = 0;
  private headerParts: Uint8Array[] = [];
  private headerBytes = 0;

  // The DATA frame being received.
  private dataTarget: H2Stream | null = null;
  private retained = false;

  // Writer state.
  private readonly control: Uint8Array[] = [];
  private controlBytes = 0;
  private readonly sendable = new Set<H2Stream>();
  private writing = false;
  private readonly coalesce = new Uint8Array(COALESCE_SIZE);
  /** Release callbacks of views in the batch being written. */
  private written: (() => void)[] = [];
  private idleWaiters: (() => void)[] = [];

  private resetWindowStart = 0;
  private resetCount = 0;
  private resolveDone!: () => void;
  private readonly client: boolean;

  constructor(readonly channel: ByteChannel, private readonly options: H2ConnectionOptions) {
    this.client = options.role === "client";
    this.reader = new FrameReader(this, options.maxFrameSize, !this.client);
    this.decoder = new HpackDecoder(4096, options.maxHeaderListSize);
    this.connRecvWindow = options.connectionWindow;
    this.done = new Promise((r) => (this.resolveDone = r));
  }

  /** True once the client preface and its SETTINGS have arrived. */
  get established(): boolean {
    return this.settingsReceived;
  }

  /** Read frames until the peer closes or the connection fails. */
  async run(): Promise<void> {
    if (this.client) this.queueControl(CLIENT_PREFACE);
    this.queueControl(settingsFrame([
      [Setting.MAX_CONCURRENT_STREAMS, this.options.maxConcurrentStreams],
      [Setting.INITIAL_WINDOW_SIZE, this.options.streamWindow],
      [Setting.MAX_FRAME_SIZE, this.options.maxFrameSize],
      [Setting.MAX_HEADER_LIST_SIZE, this.options.maxHeaderListSize],
      [Setting.ENABLE_PUSH, 0],
    ]));
    if (this.options.connectionWindow > DEFAULT_WINDOW) {
      this.queueControl(windowUpdateFrame(0, this.options.connectionWindow - DEFAULT_WINDOW));
    }
    this.connRecvWindow = this.options.connectionWindow;
    this.flush();
    let buffer = new Uint8Array(READ_SIZE);
    try {
      while (!this.closed) {
        const n = await this.channel.read(buffer);
        if (n === null) break;
        this.retained = false;
        this.reader.push(buffer.subarray(0, n));
        // A view of this buffer went to a handler: the next read needs a new one.
        if (this.retained) buffer = new Uint8Array(READ_SIZE);
        if (this.control.length > 0) this.flush();
      }
    } catch (err) {
      if (err instanceof ConnectionError) this.fail(err.code, err.message);
      else {
        this.options.onError?.("h2 connection", err);
        this.fail(H2Error.INTERNAL_ERROR, "internal error");
      }
      return this.done;
    }
    this.finish("connection closed by the peer");
    return this.done;
  }

  /**
   * Graceful shutdown: GOAWAY (no new streams), wait for the open streams to
   * finish and their bytes to be written, half-close, and give the peer until
   * `deadline` (epoch ms) to read everything and close its side.
   */
  async shutdown(deadline: number): Promise<void> {
    if (this.closed) return;
    if (!this.draining) {
      this.draining = true;
      this.queueControl(goawayFrame(this.lastStreamId, H2Error.NO_ERROR));
      this.flush();
    }
    const timeLeft = () => Math.max(0, deadline - Date.now());
    const idle = new Promise<void>((resolve) => {
      const check = () => {
        if (this.closed || (this.streams.size === 0 && !this.writing && this.control.length === 0)) resolve();
        else this.idleWaiters.push(check);
      };
      check();
    });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const sleep = (ms: number) => new Promise<void>((r) => (timer = setTimeout(r, Math.min(ms, timeLeft()))));
    await Promise.race([idle, sleep(Infinity)]);
    clearTimeout(timer);
    // Everything is written. Let the peer close first: it has seen GOAWAY and
    // closes once it has read its replies. Ending the connection from our side
    // while it still holds unread bytes can make it drop the tail of a reply.
    if (!this.closed) await Promise.race([this.done, sleep(SHUTDOWN_LINGER_MS)]);
    clearTimeout(timer);
    if (!this.closed) {
      await this.channel.closeWrite();
      await Promise.race([this.done, sleep(500)]);
    }
    clearTimeout(timer);
    this.finish("server shut down");
  }

  /** Stop taking new streams (GOAWAY) without waiting. */
  goaway(): void {
    if (this.draining || this.closed) return;
    this.draining = true;
    this.queueControl(goawayFrame(this.lastStreamId, H2Error.NO_ERROR));
    this.flush();
  }

  /** Close now: every open stream is aborted. */
  destroy(reason = "connection closed"): void {
    this.finish(reason);
  }

  // ---- FrameSink: incoming frames ----

  onFrame(type: number, flags: number, streamId: number, payload: Uint8Array): void {
    if (this.headerStream !== 0 && type !== FrameType.CONTINUATION) {
      throw new ConnectionError(H2Error.PROTOCOL_ERROR, "expected CONTINUATION");
    }
    if (!this.settingsReceived && type !== FrameType.SETTINGS) {
      throw new ConnectionError(H2Error.PROTOCOL_ERROR, "the first frame must be SETTINGS");
    }
    switch (type) {
      case FrameType.HEADERS:
        return this.onHeaders(flags, streamId, payload);
      case FrameType.CONTINUATION:
        return this.onContinuation(flags, streamId, payload);
      case FrameType.SETTINGS:
        return this.onSettings(flags, streamId, payload);
      case FrameType.PING:
        if (payload.length !== 8) throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, "PING must be 8 bytes");
        if (streamId !== 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, "PING on a stream");
        if (!(flags & Flag.ACK)) this.queueControl(pingAckFrame(payload));
        return;
      case FrameType.WINDOW_UPDATE:
        return this.onWindowUpdate(streamId, payload);
      case FrameType.RST_STREAM:
        return this.onRstStream(streamId, payload);
      case FrameType.GOAWAY:
        if (streamId !== 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, "GOAWAY on a stream");
        if (this.client) return this.onGoawayAsClient(payload);
        // The peer opens no more streams; the ones it has keep running.
        return;
      case FrameType.PRIORITY:
        if (streamId === 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, "PRIORITY on stream 0");
        if (payload.length !== 5) this.queueControl(rstStreamFrame(streamId, H2Error.FRAME_SIZE_ERROR));
        return;
      case FrameType.PUSH_PROMISE:
        throw new ConnectionError(H2Error.PROTOCOL_ERROR, "push is not enabled");
      default:
        return; // unknown frame types are ignored (RFC 9113 4.1)
    }
  }

  onDataStart(streamId: number, flags: number, length: number): void {
    if (this.headerStream !== 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, "expected CONTINUATION");
    if (!this.settingsReceived) {
      throw new ConnectionError(H2Error.PROTOCOL_ERROR, "the first frame must be SETTINGS");
    }
    if (streamId === 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, "DATA on stream 0");
    this.connRecvWindow -= length;
    if (this.connRecvWindow < 0) {
      throw new ConnectionError(H2Error.FLOW_CONTROL_ERROR, "peer exceeded the connection window");
    }
    const stream = this.streams.get(streamId);
    this.dataTarget = null;
    if (!stream || stream.remoteEnded) {
      if (streamId > this.lastStreamId) {
        throw new ConnectionError(H2Error.PROTOCOL_ERROR, `DATA on idle stream ${streamId}`);
      }
      // A stream we closed or reset: its bytes still count for the connection window.
      this.releaseConnection(length);
      if (stream) this.resetStream(stream, H2Error.STREAM_CLOSED);
      return;
    }
    stream.recvWindow -= length;
    if (stream.recvWindow < 0) {
      this.releaseConnection(length);
      this.resetStream(stream, H2Error.FLOW_CONTROL_ERROR);
      return;
    }
    stream.unacked += length;
    this.dataTarget = stream;
    if (flags & Flag.END_STREAM && length === 0) return;
  }

  onData(_streamId: number, piece: Uint8Array): void {
    const stream = this.dataTarget;
    if (!stream || stream.closed) return;
    if (stream.onData(piece)) this.retained = true;
  }

  onDataEnd(_streamId: number, flags: number): void {
    const stream = this.dataTarget;
    this.dataTarget = null;
    if (!stream || stream.closed) return;
    if (flags & Flag.END_STREAM) {
      this.endRemote(stream);
    } else if (!stream.paused && stream.unacked >= this.options.streamWindow / 4) {
      this.grantStream(stream);
    }
  }

  // ---- StreamOwner: what streams ask of the connection ----

  schedule(stream: H2Stream): void {
    this.sendable.add(stream);
    this.flush();
  }

  resumed(stream: H2Stream): void {
    if (stream.closed || stream.remoteEnded) return;
    if (stream.unacked > 0) {
      this.grantStream(stream);
      this.flush();
    }
  }

  sendHeaders(stream: H2Stream, headers: [string, string][], endStream: boolean): void {
    if (stream.closed) return;
    this.queueControl(headersFrames(stream.id, this.encoder.encode(headers), endStream, this.peerMaxFrame));
    if (endStream) this.endLocal(stream);
    this.flush();
  }

  resetStream(stream: H2Stream, code: number): void {
    if (stream.closed) return;
    this.queueControl(rstStreamFrame(stream.id, code));
    this.closeStream(stream, code === H2Error.NO_ERROR ? null : `stream reset (code ${code})`);
    this.flush();
  }

  // ---- client side ----

  /** Client: open a stream with request `headers` (END_STREAM when there is no body). */
  request(headers: [string, string][], endStream = false): H2Stream {
    if (!this.client) throw new Error("request() is for client connections");
    if (this.closed || this.goawayReceived) throw new Error("connection is closing");
    const id = this.lastStreamId === 0 ? 1 : this.lastStreamId + 2;
    if (id > MAX_WINDOW) throw new Error("stream ids exhausted");
    this.lastStreamId = id;
    const stream = new H2Stream(
      this,
      id,
      {},
      this.channel.remote,
      this.peerInitialWindow,
      this.options.streamWindow,
    );
    this.streams.set(id, stream);
    stream.headersSent = true;
    this.sendHeaders(stream, headers, endStream);
    return stream;
  }

  private onResponseHeaders(streamId: number, list: [string, string][], endStream: boolean): void {
    const stream = this.streams.get(streamId);
    if (!stream) {
      if (streamId > this.lastStreamId) {
        throw new ConnectionError(H2Error.PROTOCOL_ERROR, `HEADERS on idle stream ${streamId}`);
      }
      return; // a stream we reset
    }
    const headers: Record<string, string> = {};
    for (const [name, value] of list) {
      const prior = headers[name];
      headers[name] = prior === undefined ? value : `${prior}, ${value}`;
    }
    stream.onHeaders(headers, endStream);
    if (endStream) this.endRemote(stream);
  }

  private onGoawayAsClient(payload: Uint8Array): void {
    if (payload.length < 8) throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, "short GOAWAY");
    const view = new DataView(payload.buffer, payload.byteOffset, 8);
    const last = view.getUint32(0) & MAX_WINDOW;
    const code = view.getUint32(4);
    this.goawayReceived = true;
    // Streams above `last` were never processed: they may be retried elsewhere.
    for (const stream of [...this.streams.values()]) {
      if (stream.id > last) {
        stream.resetCode = H2Error.REFUSED_STREAM;
        this.closeStream(stream, `refused: the server is going away (GOAWAY ${code})`);
      }
    }
  }

  // ---- frame handlers ----

  private onSettings(flags: number, streamId: number, payload: Uint8Array): void {
    if (streamId !== 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, "SETTINGS on a stream");
    if (flags & Flag.ACK) {
      if (payload.length !== 0) {
        throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, "SETTINGS ack with payload");
      }
      return;
    }
    if (payload.length % 6 !== 0) throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, "bad SETTINGS length");
    const view = new DataView(payload.buffer, payload.byteOffset, payload.length);
    for (let off = 0; off < payload.length; off += 6) {
      const id = view.getUint16(off);
      const value = view.getUint32(off + 2);
      switch (id) {
        case Setting.ENABLE_PUSH:
          if (value > 1) throw new ConnectionError(H2Error.PROTOCOL_ERROR, "bad ENABLE_PUSH");
          break;
        case Setting.INITIAL_WINDOW_SIZE: {
          if (value > MAX_WINDOW) throw new ConnectionError(H2Error.FLOW_CONTROL_ERROR, "window too large");
          const delta = value - this.peerInitialWindow;
          this.peerInitialWindow = value;
          for (const s of this.streams.values()) {
            s.sendWindow += delta;
            if (s.sendWindow > MAX_WINDOW) {
              throw new ConnectionError(H2Error.FLOW_CONTROL_ERROR, "stream window overflow");
            }
          }
          if (delta > 0) { for (const s of this.streams.values()) if (s.outBytes > 0) this.sendable.add(s); }
          break;
        }
        case Setting.MAX_FRAME_SIZE:
          if (value < DEFAULT_MAX_FRAME || value > MAX_FRAME_LIMIT) {
            throw new ConnectionError(H2Error.PROTOCOL_ERROR, "bad MAX_FRAME_SIZE");
          }
          this.peerMaxFrame = value;
          break;
        default:
          break; // header table size: our encoder uses no dynamic table; others are advisory
      }
    }
    this.settingsReceived = true;
    this.queueControl(SETTINGS_ACK);
  }

  private onHeaders(flags: number, streamId: number, payload: Uint8Array): void {
    if (streamId === 0 || streamId % 2 === 0) {
      throw new ConnectionError(H2Error.PROTOCOL_ERROR, `HEADERS on invalid stream ${streamId}`);
    }
    let start = 0;
    let end = payload.length;
    if (flags & Flag.PADDED) {
      const pad = payload.length > 0 ? payload[0] : 0;
      start = 1;
      end -= pad;
    }
    if (flags & Flag.PRIORITY) start += 5;
    if (start > end) throw new ConnectionError(H2Error.PROTOCOL_ERROR, "HEADERS padding exceeds the frame");
    this.headerStream = streamId;
    this.headerFlags = flags;
    this.headerParts = [];
    this.headerBytes = 0;
    this.addHeaderFragment(payload.subarray(start, end), flags);
  }

  private onContinuation(flags: number, streamId: number, payload: Uint8Array): void {
    if (this.headerStream === 0 || streamId !== this.headerStream) {
      throw new ConnectionError(H2Error.PROTOCOL_ERROR, "unexpected CONTINUATION");
    }
    this.addHeaderFragment(payload, flags);
  }

  private addHeaderFragment(fragment: Uint8Array, flags: number): void {
    this.headerBytes += fragment.length;
    if (this.headerBytes > MAX_HEADER_BLOCK) {
      throw new ConnectionError(H2Error.ENHANCE_YOUR_CALM, "header block too large");
    }
    // The fragment may be a view of the read buffer: keep a copy only when more follow.
    const last = (flags & Flag.END_HEADERS) !== 0;
    this.headerParts.push(last && this.headerParts.length === 0 ? fragment : fragment.slice());
    if (!last) return;
    const parts = this.headerParts;
    const block = join(parts, this.headerBytes);
    const streamId = this.headerStream;
    const endStream = (this.headerFlags & Flag.END_STREAM) !== 0;
    this.headerStream = 0;
    this.headerParts = [];
    let list: [string, string][];
    try {
      list = this.decoder.decode(block);
    } catch (err) {
      if (err instanceof HpackError) {
        throw new ConnectionError(H2Error.COMPRESSION_ERROR, `bad header block: ${err.message}`);
      }
      throw err;
    }
    this.onRequestHeaders(streamId, list, endStream);
  }

  private onRequestHeaders(streamId: number, list: [string, string][], endStream: boolean): void {
    if (this.client) return this.onResponseHeaders(streamId, list, endStream);
    const existing = this.streams.get(streamId);
    if (existing) {
      // Trailers from the client end its side.
      if (!endStream || existing.remoteEnded) {
        this.resetStream(existing, H2Error.PROTOCOL_ERROR);
        return;
      }
      this.endRemote(existing);
      return;
    }
    if (streamId <= this.lastStreamId) {
      this.queueControl(rstStreamFrame(streamId, H2Error.STREAM_CLOSED));
      return;
    }
    this.lastStreamId = streamId;
    if (this.draining || this.streams.size >= this.options.maxConcurrentStreams) {
      this.queueControl(rstStreamFrame(streamId, H2Error.REFUSED_STREAM));
      return;
    }
    const headers: Record<string, string> = {};
    for (const [name, value] of list) {
      const prior = headers[name];
      headers[name] = prior === undefined ? value : `${prior}, ${value}`;
    }
    if (headers[":method"] === undefined || headers[":path"] === undefined) {
      this.queueControl(rstStreamFrame(streamId, H2Error.PROTOCOL_ERROR));
      return;
    }
    const stream = new H2Stream(
      this,
      streamId,
      headers,
      this.channel.remote,
      this.peerInitialWindow,
      this.options.streamWindow,
    );
    this.streams.set(streamId, stream);
    try {
      this.options.onStream?.(stream);
    } catch (err) {
      this.options.onError?.("h2 onStream", err);
      this.resetStream(stream, H2Error.INTERNAL_ERROR);
      return;
    }
    if (endStream) this.endRemote(stream);
  }

  private onWindowUpdate(streamId: number, payload: Uint8Array): void {
    if (payload.length !== 4) throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, "bad WINDOW_UPDATE length");
    const increment = new DataView(payload.buffer, payload.byteOffset, 4).getUint32(0) & MAX_WINDOW;
    if (streamId === 0) {
      if (increment === 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, "zero WINDOW_UPDATE");
      this.connSendWindow += increment;
      if (this.connSendWindow > MAX_WINDOW) {
        throw new ConnectionError(H2Error.FLOW_CONTROL_ERROR, "connection window overflow");
      }
      if (this.sendable.size > 0) this.flush();
      return;
    }
    const stream = this.streams.get(streamId);
    if (!stream) {
      if (streamId > this.lastStreamId) {
        throw new ConnectionError(H2Error.PROTOCOL_ERROR, `WINDOW_UPDATE on idle stream ${streamId}`);
      }
      return;
    }
    if (increment === 0) return this.resetStream(stream, H2Error.PROTOCOL_ERROR);
    stream.sendWindow += increment;
    if (stream.sendWindow > MAX_WINDOW) return this.resetStream(stream, H2Error.FLOW_CONTROL_ERROR);
    if (stream.outBytes > 0 || stream.trailers) this.schedule(stream);
  }

  private onRstStream(streamId: number, payload: Uint8Array): void {
    if (payload.length !== 4) throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, "bad RST_STREAM length");
    if (streamId === 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, "RST_STREAM on stream 0");
    if (streamId > this.lastStreamId) {
      throw new ConnectionError(H2Error.PROTOCOL_ERROR, `RST_STREAM on idle stream ${streamId}`);
    }
    const now = Date.now();
    if (now - this.resetWindowStart > 1_000) {
      this.resetWindowStart = now;
      this.resetCount = 0;
    }
    if (++this.resetCount > MAX_RESETS_PER_SECOND) {
      throw new ConnectionError(H2Error.ENHANCE_YOUR_CALM, "too many stream resets");
    }
    const stream = this.streams.get(streamId);
    if (!stream) return;
    const code = new DataView(payload.buffer, payload.byteOffset, 4).getUint32(0);
    stream.resetCode = code;
    this.closeStream(stream, `stream reset by the peer (code ${code})`);
  }

  // ---- stream state ----

  private endRemote(stream: H2Stream): void {
    stream.remoteEnded = true;
    // Nothing more will arrive: the stream's unacknowledged bytes go back to the connection.
    this.releaseConnection(stream.unacked);
    stream.unacked = 0;
    stream.onEnd();
    if (stream.localEnded) this.closeStream(stream, null);
  }

  private endLocal(stream: H2Stream): void {
    stream.localEnded = true;
    if (stream.remoteEnded) {
      this.closeStream(stream, null);
    } else if (this.client) {
      // The request is complete; the reply is still coming.
      return;
    } else {
      // The response is complete while the client is still sending: tell it to
      // stop (RST_STREAM NO_ERROR, as RFC 9113 8.1 allows).
      this.queueControl(rstStreamFrame(stream.id, H2Error.NO_ERROR));
      this.closeStream(stream, null);
    }
  }

  private closeStream(stream: H2Stream, abortReason: string | null): void {
    if (stream.closed) return;
    this.streams.delete(stream.id);
    this.sendable.delete(stream);
    if (stream.unacked > 0) {
      this.releaseConnection(stream.unacked);
      stream.unacked = 0;
    }
    if (this.dataTarget === stream) this.dataTarget = null;
    stream.markClosed(abortReason);
    this.wakeIdle();
  }

  private grantStream(stream: H2Stream): void {
    const n = stream.unacked;
    if (n <= 0) return;
    stream.unacked = 0;
    stream.recvWindow += n;
    this.queueControl(windowUpdateFrame(stream.id, n));
    this.releaseConnection(n);
  }

  private releaseConnection(n: number): void {
    if (n <= 0) return;
    this.connUnacked += n;
    if (this.connUnacked >= this.options.connectionWindow / 4) {
      this.connRecvWindow += this.connUnacked;
      this.queueControl(windowUpdateFrame(0, this.connUnacked));
      this.connUnacked = 0;
    }
  }

  // ---- writer ----

  private queueControl(frame: Uint8Array): void {
    this.control.push(frame);
    this.controlBytes += frame.length;
    if (this.controlBytes > MAX_CONTROL_BACKLOG) {
      // The peer keeps provoking replies it does not read (PING or SETTINGS floods).
      this.control.length = 0;
      this.controlBytes = 0;
      this.finish("peer does not read its control frames");
    }
  }

  /** Start the write loop if it is not running. */
  private flush(): void {
    if (this.writing || this.closed) return;
    this.writing = true;
    // Start once the current task and its promise jobs are done (setImmediate: ~2 µs; setTimeout(0)
    // costs ~2 ms in Deno): a small reply's HEADERS, DATA and trailers then leave in one write.
    setImmediate(() => void this.writeLoop());
  }

  private async writeLoop(): Promise<void> {
    try {
      while (!this.closed) {
        const batch = this.collect();
        if (batch.length === 0) break;
        for (const piece of batch) await this.channel.write(piece);
        // The views of this batch are in the kernel now: their buffers may be reused.
        for (const release of this.written.splice(0)) release();
      }
    } catch (err) {
      this.finish(`write failed: ${(err as Error)?.message ?? err}`);
    }
    // Cleared in the same turn as the collect that found nothing, so no flush() is lost.
    this.writing = false;
    this.wakeIdle();
  }

  /**
   * Gather what can be sent now: control frames first, then DATA and trailers
   * from the streams round-robin, within both flow-control windows. Small
   * pieces are copied into the coalescing buffer; big payload views are
   * written as they are.
   */
  private collect(): Uint8Array[] {
    const batch: Uint8Array[] = [];
    const buf = this.coalesce;
    let used = 0;
    let start = 0;
    let total = 0;
    const cut = () => {
      if (used > start) batch.push(buf.subarray(start, used));
      start = used;
    };
    const append = (bytes: Uint8Array) => {
      if (bytes.length >= DIRECT_WRITE || bytes.length > buf.length - used) {
        cut();
        batch.push(bytes);
      } else {
        buf.set(bytes, used);
        used += bytes.length;
      }
      total += bytes.length;
    };
    while (this.control.length > 0 && total < BATCH_BYTES) {
      const c = this.control.shift()!;
      this.controlBytes -= c.length;
      append(c);
    }
    while (this.sendable.size > 0 && total < BATCH_BYTES && buf.length - used >= FRAME_HEADER_BYTES + 64) {
      let progressed = false;
      for (const stream of this.sendable) {
        if (total >= BATCH_BYTES || buf.length - used < FRAME_HEADER_BYTES + 64) break;
        if (stream.outBytes > 0) {
          const size = Math.min(stream.outBytes, stream.sendWindow, this.connSendWindow, this.peerMaxFrame);
          if (size <= 0) continue;
          writeFrameHeader(buf, used, size, FrameType.DATA, 0, stream.id);
          used += FRAME_HEADER_BYTES;
          total += FRAME_HEADER_BYTES;
          let left = size;
          while (left > 0) {
            const head = stream.out[0];
            if (head.length <= left) {
              stream.out.shift();
              append(head);
              const release = stream.takeRelease(head);
              if (release) this.written.push(release);
              left -= head.length;
            } else {
              append(head.subarray(0, left));
              stream.out[0] = stream.split(head, left);
              left = 0;
            }
          }
          stream.outBytes -= size;
          stream.sendWindow -= size;
          this.connSendWindow -= size;
          stream.notifyWritable();
          progressed = true;
        }
        if (stream.outBytes === 0) {
          if (stream.endData && !stream.localEnded) {
            // The request body is complete: an empty DATA frame carries END_STREAM.
            const end = new Uint8Array(FRAME_HEADER_BYTES);
            writeFrameHeader(end, 0, 0, FrameType.DATA, Flag.END_STREAM, stream.id);
            append(end);
            this.sendable.delete(stream);
            this.endLocal(stream);
            progressed = true;
          } else if (stream.trailers) {
            const block = this.encoder.encode(stream.trailers);
            stream.trailers = null;
            append(headersFrames(stream.id, block, true, this.peerMaxFrame));
            this.sendable.delete(stream);
            this.endLocal(stream);
            progressed = true;
          } else {
            this.sendable.delete(stream);
          }
        }
      }
      if (!progressed) break;
    }
    cut();
    return batch;
  }

  // ---- teardown ----

  private fail(code: number, message: string): void {
    if (this.closed) return;
    this.options.onError?.("h2 protocol", new Error(message));
    // Best effort: tell the peer why, then close.
    const bytes = goawayFrame(this.lastStreamId, code, message);
    this.channel.write(bytes).catch(() => {}).finally(() => this.finish(message));
    // Do not wait forever for a peer that does not read.
    setTimeout(() => this.finish(message), 1_000);
  }

  private finish(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    for (const stream of [...this.streams.values()]) this.closeStream(stream, reason);
    for (const release of this.written.splice(0)) release();
    this.channel.close();
    this.wakeIdle();
    this.resolveDone();
  }

  private wakeIdle(): void {
    if (this.idleWaiters.length === 0) return;
    for (const w of this.idleWaiters.splice(0)) w();
  }
}
