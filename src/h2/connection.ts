/**
 * The role-neutral core of one HTTP/2 connection (RFC 9113), written for gRPC
 * with large payloads: incoming DATA reaches the consumer as views of the
 * bytes read from the socket, outgoing DATA leaves as views of the caller's
 * buffers, and flow control is ours to tune. Replaces Deno's node:http2, which
 * copied every payload piece, spent most of a small call in stream machinery
 * and aborted the process on a client GOAWAY (denoland/deno#36788; see
 * README, "Transport").
 *
 * Split the way hyperium/h2 splits its `proto`: frame parsing ({@link ./reader.ts}),
 * header blocks ({@link ./header_block.ts}), flow control ({@link ./flow_control.ts}),
 * writing ({@link ./writer.ts}), and the role ({@link ./server.ts}, {@link ./client.ts})
 * as a subclass that answers the hooks this class leaves abstract.
 *
 * Size: ~490 lines, the role-neutral core of the connection: frame dispatch and the stream state machine
 * (RFC 9113 §5.1, the h2spec rules) must be read as one; reading, writing, flow control, headers, settings and
 * the two roles are already their own modules.
 *
 * @module
 */
import type { ByteChannel } from "./channel.ts";
import {
  CLIENT_PREFACE,
  ConnectionError,
  DEFAULT_WINDOW,
  Flag,
  FrameType,
  goawayFrame,
  H2Error,
  MAX_WINDOW,
  pingAckFrame,
  rstStreamFrame,
  SETTINGS_ACK,
  windowUpdateFrame,
} from "./frames.ts";
import { FrameReader, type FrameSink } from "./reader.ts";
import { FlowControl } from "./flow_control.ts";
import { type HeaderBlock, HeaderBlockReader } from "./header_block.ts";
import { ClosedBy, ClosedStreams } from "./closed_streams.ts";
import { H2Stream, type StreamOwner } from "./stream.ts";
import { FrameWriter, type WriterOwner } from "./writer.ts";
import { drainThenClose } from "./shutdown.ts";
import { localSettingsFrames, parseSettings, ResetRateLimit } from "./settings.ts";

/** Tuning and limits of a connection, for either role. */
export interface H2ConnectionOptions {
  /** Our initial stream window (SETTINGS_INITIAL_WINDOW_SIZE). */
  streamWindow: number;
  /** Our connection window. */
  connectionWindow: number;
  /** Largest frame we accept (SETTINGS_MAX_FRAME_SIZE). */
  maxFrameSize: number;
  /** Concurrent streams per connection. */
  maxConcurrentStreams: number;
  /** Largest decoded header list. */
  maxHeaderListSize: number;
  /** Something worth logging went wrong. */
  onError?: (where: string, err: unknown) => void;
}

/** Bytes read from the socket per read call. */
const READ_SIZE = 512 * 1024;

/** One HTTP/2 connection; {@link H2ServerConnection} and {@link H2ClientConnection} give it a role. */
export abstract class H2Connection implements FrameSink, StreamOwner, WriterOwner {
  /** Open streams by id. */
  readonly streams = new Map<number, H2Stream>();
  /** Highest stream id the peer opened (server), or the highest we opened (client). */
  lastStreamId = 0;
  /** Set once the connection is finished (socket closed). */
  closed = false;
  /** Resolves when the connection has closed. */
  readonly done: Promise<void>;

  /** True once GOAWAY went out from our side: no new streams. */
  protected draining = false;
  /** Frames out. */
  protected readonly writer: FrameWriter;
  /** The connection-level windows. */
  protected readonly flow: FlowControl;
  /** The initial window the peer gives each new stream. */
  protected peerInitialWindow = DEFAULT_WINDOW;

  private readonly reader: FrameReader;
  private readonly headerBlocks: HeaderBlockReader;
  private settingsReceived = false;
  /** The stream of the DATA frame being received. */
  private dataTarget: H2Stream | null = null;
  /** A view of the read buffer went to a consumer during this read. */
  private retained = false;
  private idleWaiters: (() => void)[] = [];
  private readonly resets = new ResetRateLimit();
  /** Recently closed streams: how late frames on them are answered. */
  protected readonly closedStreams = new ClosedStreams();
  private resolveDone!: () => void;

  /**
   * @param channel the socket
   * @param options tuning and limits
   * @param preface "expect" (server: the client preface comes first) or "send" (client)
   */
  protected constructor(
    readonly channel: ByteChannel,
    protected readonly options: H2ConnectionOptions,
    private readonly preface: "expect" | "send",
  ) {
    this.reader = new FrameReader(this, options.maxFrameSize, preface === "expect");
    this.headerBlocks = new HeaderBlockReader(options.maxHeaderListSize);
    this.flow = new FlowControl(DEFAULT_WINDOW, options.connectionWindow);
    this.writer = new FrameWriter(channel, this.flow, this);
    this.done = new Promise((r) => (this.resolveDone = r));
  }

  // ---- role hooks ----

  /** A complete header block arrived. */
  protected abstract onHeaderBlock(block: HeaderBlock): void;
  /** The peer sent GOAWAY (payload: last stream id, error code, debug data). */
  protected abstract onGoaway(payload: Uint8Array): void;
  /** Our side of `stream` ended while the peer's side is still open. */
  protected abstract onLocalEndFirst(stream: H2Stream): void;

  /** True once the peer's preface and its SETTINGS have arrived. */
  get established(): boolean {
    return this.settingsReceived;
  }

  /** Read frames until the peer closes or the connection fails. */
  async run(): Promise<void> {
    this.sendPreface();
    let buffer = new Uint8Array(READ_SIZE);
    try {
      while (!this.closed) {
        const n = await this.channel.read(buffer);
        if (n === null) break;
        this.retained = false;
        this.reader.push(buffer.subarray(0, n));
        // A view of this buffer went to a consumer: the next read needs a new one.
        if (this.retained) buffer = new Uint8Array(READ_SIZE);
        if (this.writer.hasControl) this.writer.flush();
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
    this.goaway();
    await drainThenClose(this, deadline);
  }

  /** Resolves once no stream is open and nothing waits to be written (or the connection closed). */
  whenIdle(): Promise<void> {
    return new Promise<void>((resolve) => {
      const check = () => {
        if (this.closed || (this.streams.size === 0 && !this.writer.busy)) resolve();
        else this.idleWaiters.push(check);
      };
      check();
    });
  }

  /** Stop taking new streams (GOAWAY) without waiting. */
  goaway(): void {
    if (this.draining || this.closed) return;
    this.draining = true;
    this.writer.queueControl(goawayFrame(this.lastStreamId, H2Error.NO_ERROR));
    this.writer.flush();
  }

  /** Close now: every open stream is aborted. */
  destroy(reason = "connection closed"): void {
    this.finish(reason);
  }

  private sendPreface(): void {
    if (this.preface === "send") this.writer.queueControl(CLIENT_PREFACE);
    for (const f of localSettingsFrames(this.options)) this.writer.queueControl(f);
    this.writer.flush();
  }

  // ---- FrameSink: incoming frames ----

  onFrame(type: number, flags: number, streamId: number, payload: Uint8Array): void {
    if (this.headerBlocks.open && type !== FrameType.CONTINUATION) {
      throw new ConnectionError(H2Error.PROTOCOL_ERROR, "expected CONTINUATION");
    }
    if (!this.settingsReceived && type !== FrameType.SETTINGS) {
      throw new ConnectionError(H2Error.PROTOCOL_ERROR, "the first frame must be SETTINGS");
    }
    switch (type) {
      case FrameType.HEADERS: {
        const block = this.headerBlocks.headers(flags, streamId, payload);
        if (block) this.onHeaderBlock(block);
        return;
      }
      case FrameType.CONTINUATION: {
        const block = this.headerBlocks.continuation(flags, streamId, payload);
        if (block) this.onHeaderBlock(block);
        return;
      }
      case FrameType.SETTINGS:
        return this.onSettings(flags, streamId, payload);
      case FrameType.PING:
        if (payload.length !== 8) throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, "PING must be 8 bytes");
        if (streamId !== 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, "PING on a stream");
        if (!(flags & Flag.ACK)) this.writer.queueControl(pingAckFrame(payload));
        return;
      case FrameType.WINDOW_UPDATE:
        return this.onWindowUpdate(streamId, payload);
      case FrameType.RST_STREAM:
        return this.onRstStream(streamId, payload);
      case FrameType.GOAWAY:
        if (streamId !== 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, "GOAWAY on a stream");
        return this.onGoaway(payload);
      case FrameType.PRIORITY:
        return this.onPriority(streamId, payload);
      case FrameType.PUSH_PROMISE:
        throw new ConnectionError(H2Error.PROTOCOL_ERROR, "push is not enabled");
      default:
        return; // unknown frame types are ignored (RFC 9113 4.1)
    }
  }

  onDataStart(streamId: number, _flags: number, length: number): void {
    if (this.headerBlocks.open) throw new ConnectionError(H2Error.PROTOCOL_ERROR, "expected CONTINUATION");
    if (!this.settingsReceived) {
      throw new ConnectionError(H2Error.PROTOCOL_ERROR, "the first frame must be SETTINGS");
    }
    if (streamId === 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, "DATA on stream 0");
    if (!this.flow.consume(length)) {
      throw new ConnectionError(H2Error.FLOW_CONTROL_ERROR, "peer exceeded the connection window");
    }
    const stream = this.streams.get(streamId);
    this.dataTarget = null;
    if (!stream || stream.remoteEnded) {
      if (streamId > this.lastStreamId) {
        throw new ConnectionError(H2Error.PROTOCOL_ERROR, `DATA on idle stream ${streamId}`);
      }
      // Not open for DATA: its bytes still count for the connection window.
      this.releaseConnection(length);
      // Half-closed (remote) or closed: STREAM_CLOSED (RFC 9113 6.1), except late DATA on a stream
      // we reset, which was in flight before our RST_STREAM arrived and is ignored (5.1).
      if (stream) this.resetStream(stream, H2Error.STREAM_CLOSED);
      else if (this.closedStreams.find(streamId) !== ClosedBy.OUR_RESET) {
        this.refuseStream(streamId, H2Error.STREAM_CLOSED);
      }
      return;
    }
    if (!stream.flow.consume(length)) {
      this.releaseConnection(length);
      this.resetStream(stream, H2Error.FLOW_CONTROL_ERROR);
      return;
    }
    stream.flow.release(length);
    this.dataTarget = stream;
  }

  onData(_streamId: number, piece: Uint8Array): void {
    const stream = this.dataTarget;
    if (!stream || stream.closed) return;
    // More than the request's content-length: malformed (RFC 9113 8.1.1).
    if (!stream.countBody(piece.length)) return this.resetStream(stream, H2Error.PROTOCOL_ERROR);
    if (stream.onData(piece)) this.retained = true;
  }

  onDataEnd(_streamId: number, flags: number): void {
    const stream = this.dataTarget;
    this.dataTarget = null;
    if (!stream || stream.closed) return;
    if (flags & Flag.END_STREAM) {
      if (!stream.bodyComplete) return this.resetStream(stream, H2Error.PROTOCOL_ERROR);
      this.endRemote(stream);
    } else if (!stream.paused && stream.flow.unacked >= this.options.streamWindow / 4) {
      this.grantStream(stream);
    }
  }

  // ---- StreamOwner: what streams ask of the connection ----

  schedule(stream: H2Stream): void {
    this.writer.schedule(stream);
  }

  resumed(stream: H2Stream): void {
    if (stream.closed || stream.remoteEnded) return;
    if (stream.flow.unacked > 0) {
      this.grantStream(stream);
      this.writer.flush();
    }
  }

  sendHeaders(stream: H2Stream, headers: [string, string][], endStream: boolean): void {
    if (stream.closed) return;
    this.writer.queueHeaders(stream.id, headers, endStream);
    if (endStream) this.endLocal(stream);
    this.writer.flush();
  }

  resetStream(stream: H2Stream, code: number): void {
    if (stream.closed) return;
    this.writer.queueControl(rstStreamFrame(stream.id, code));
    this.closeStream(stream, code === H2Error.NO_ERROR ? null : `stream reset (code ${code})`, true);
    this.writer.flush();
  }

  /** RST_STREAM for a stream that is not open (refused, malformed, or closed): remembered as ours. */
  protected refuseStream(streamId: number, code: number): void {
    this.writer.queueControl(rstStreamFrame(streamId, code));
    this.closedStreams.add(streamId, true);
  }

  // ---- frame handlers ----

  private onSettings(flags: number, streamId: number, payload: Uint8Array): void {
    const settings = parseSettings(flags, streamId, payload);
    if (!settings) return; // our SETTINGS were acknowledged
    if (settings.initialWindow !== undefined) this.setPeerInitialWindow(settings.initialWindow);
    if (settings.maxFrameSize !== undefined) this.writer.peerMaxFrame = settings.maxFrameSize;
    this.settingsReceived = true;
    this.writer.queueControl(SETTINGS_ACK);
  }

  /** The peer changed its initial window: every open stream's send window moves by the difference. */
  private setPeerInitialWindow(value: number): void {
    const delta = value - this.peerInitialWindow;
    this.peerInitialWindow = value;
    for (const s of this.streams.values()) {
      if (!s.flow.expand(delta)) {
        throw new ConnectionError(H2Error.FLOW_CONTROL_ERROR, "stream window overflow");
      }
    }
    if (delta > 0) {
      for (const s of this.streams.values()) if (s.queuedBytes > 0) this.writer.schedule(s, false);
    }
  }

  private onPriority(streamId: number, payload: Uint8Array): void {
    if (streamId === 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, "PRIORITY on stream 0");
    if (payload.length !== 5) {
      this.writer.queueControl(rstStreamFrame(streamId, H2Error.FRAME_SIZE_ERROR));
      return;
    }
    // Priorities are advice we do not follow, but a stream cannot depend on itself (RFC 9113 5.3.1).
    const dependency = ((payload[0] & 0x7f) << 24 | payload[1] << 16 | payload[2] << 8 | payload[3]) >>> 0;
    if (dependency !== streamId) return;
    const stream = this.streams.get(streamId);
    if (stream) this.resetStream(stream, H2Error.PROTOCOL_ERROR);
    else this.writer.queueControl(rstStreamFrame(streamId, H2Error.PROTOCOL_ERROR));
  }

  private onWindowUpdate(streamId: number, payload: Uint8Array): void {
    if (payload.length !== 4) throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, "bad WINDOW_UPDATE length");
    const increment = new DataView(payload.buffer, payload.byteOffset, 4).getUint32(0) & MAX_WINDOW;
    if (streamId === 0) {
      if (increment === 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, "zero WINDOW_UPDATE");
      if (!this.flow.expand(increment)) {
        throw new ConnectionError(H2Error.FLOW_CONTROL_ERROR, "connection window overflow");
      }
      if (this.writer.hasSendable) this.writer.flush();
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
    if (!stream.flow.expand(increment)) return this.resetStream(stream, H2Error.FLOW_CONTROL_ERROR);
    if (stream.hasOutput) this.schedule(stream);
  }

  private onRstStream(streamId: number, payload: Uint8Array): void {
    if (payload.length !== 4) throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, "bad RST_STREAM length");
    if (streamId === 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, "RST_STREAM on stream 0");
    if (streamId > this.lastStreamId) {
      throw new ConnectionError(H2Error.PROTOCOL_ERROR, `RST_STREAM on idle stream ${streamId}`);
    }
    this.resets.note();
    const stream = this.streams.get(streamId);
    if (!stream) return;
    const code = new DataView(payload.buffer, payload.byteOffset, 4).getUint32(0);
    stream.noteReset(code);
    this.closeStream(stream, `stream reset by the peer (code ${code})`);
  }

  // ---- stream state ----

  /** The peer ended its side of `stream` (it may have been marked ended already, and even closed since). */
  protected endRemote(stream: H2Stream): void {
    stream.markRemoteEnded();
    if (stream.closed) return;
    // Nothing more will arrive: the stream's unacknowledged bytes go back to the connection.
    this.releaseConnection(stream.flow.grant());
    stream.onEnd();
    if (stream.localEnded) this.closeStream(stream, null);
  }

  /** END_STREAM left from our side of `stream`. */
  endLocal(stream: H2Stream): void {
    stream.markLocalEnded();
    if (stream.remoteEnded) this.closeStream(stream, null);
    else this.onLocalEndFirst(stream);
  }

  /**
   * Forget `stream`; `abortReason` null for a clean close, `ourReset` when our RST_STREAM closed it
   * (late frames from the peer are then ignored rather than answered).
   */
  protected closeStream(stream: H2Stream, abortReason: string | null, ourReset = false): void {
    if (stream.closed) return;
    this.streams.delete(stream.id);
    this.closedStreams.add(stream.id, ourReset);
    this.writer.unschedule(stream);
    this.releaseConnection(stream.flow.grant());
    if (this.dataTarget === stream) this.dataTarget = null;
    stream.markClosed(abortReason);
    this.wakeIdle();
  }

  /** A new stream with this connection's windows. */
  protected newStream(id: number, headers: Record<string, string>): H2Stream {
    const stream = new H2Stream(
      this,
      id,
      headers,
      this.channel.remote,
      this.peerInitialWindow,
      this.options.streamWindow,
    );
    this.streams.set(id, stream);
    return stream;
  }

  private grantStream(stream: H2Stream): void {
    const n = stream.flow.grant();
    if (n <= 0) return;
    this.writer.queueControl(windowUpdateFrame(stream.id, n));
    this.releaseConnection(n);
  }

  private releaseConnection(n: number): void {
    if (n <= 0) return;
    this.flow.release(n);
    if (this.flow.unacked >= this.options.connectionWindow / 4) {
      this.writer.queueControl(windowUpdateFrame(0, this.flow.grant()));
    }
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

  /** Close the connection: every open stream is aborted with `reason`. */
  finish(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    for (const stream of [...this.streams.values()]) this.closeStream(stream, reason);
    this.writer.releaseAll();
    this.channel.close();
    this.wakeIdle();
    this.resolveDone();
  }

  /** Run the shutdown waiters (a stream closed or the writer went idle). */
  wakeIdle(): void {
    if (this.idleWaiters.length === 0) return;
    for (const w of this.idleWaiters.splice(0)) w();
  }
}
