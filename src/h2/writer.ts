/**
 * The write half of an HTTP/2 connection: control frames first, then DATA and
 * trailers from the streams round-robin within both flow-control windows.
 * Small pieces are coalesced into one buffer per write; big payload views are
 * written as they are (no copy). The framed-write half of hyperium/h2's
 * `codec/framed_write.rs` plus its send scheduling.
 *
 * @module
 */
import { setImmediate } from "node:timers";
import type { ByteChannel } from "./channel.ts";
import {
  DEFAULT_MAX_FRAME,
  Flag,
  FRAME_HEADER_BYTES,
  FrameType,
  headersFrames,
  writeFrameHeader,
} from "./frames.ts";
import type { FlowControl } from "./flow_control.ts";
import { HpackEncoder } from "./hpack.ts";
import type { H2Stream } from "./stream.ts";

/** Small frames and headers are copied into one buffer of this size per write. */
const COALESCE_SIZE = 256 * 1024;
/** Payload views at least this large are written as they are instead of copied. */
const DIRECT_WRITE = 64 * 1024;
/** Bytes gathered before a batch goes to the socket. */
const BATCH_BYTES = 1024 * 1024;
/** Control frames (PING/SETTINGS acks, resets) a peer may leave unread before it is cut off. */
const MAX_CONTROL_BACKLOG = 1024 * 1024;
/** Room a stream's DATA frame needs in the coalescing buffer to be worth starting. */
const MIN_DATA_ROOM = FRAME_HEADER_BYTES + 64;

/** What the writer needs from its connection. */
export interface WriterOwner {
  /** True once the connection is finished: nothing more is written. */
  readonly closed: boolean;
  /** END_STREAM left for `stream` (its trailers or its final empty DATA frame). */
  endLocal(stream: H2Stream): void;
  /** Close the connection (a write failed, or the peer does not read). */
  finish(reason: string): void;
  /** The writer went idle. */
  wakeIdle(): void;
}

/** Queues and writes the frames of one connection. */
export class FrameWriter {
  /** The largest frame the peer accepts (its SETTINGS_MAX_FRAME_SIZE). */
  peerMaxFrame = DEFAULT_MAX_FRAME;
  private readonly encoder = new HpackEncoder();
  private readonly control: Uint8Array[] = [];
  private controlBytes = 0;
  private readonly sendable = new Set<H2Stream>();
  private writing = false;
  private readonly coalesce = new Uint8Array(COALESCE_SIZE);
  /** Release callbacks of views in the batch being written. */
  private written: (() => void)[] = [];

  /**
   * @param channel the socket
   * @param connection the connection-level windows (DATA spends from its send window)
   * @param owner the connection
   */
  constructor(
    private readonly channel: ByteChannel,
    private readonly connection: FlowControl,
    private readonly owner: WriterOwner,
  ) {}

  /** True while frames wait or a write is in progress. */
  get busy(): boolean {
    return this.writing || this.control.length > 0;
  }

  /** True when control frames wait to be written. */
  get hasControl(): boolean {
    return this.control.length > 0;
  }

  /** Queue a control frame (written before any DATA). */
  queueControl(frame: Uint8Array): void {
    this.control.push(frame);
    this.controlBytes += frame.length;
    if (this.controlBytes > MAX_CONTROL_BACKLOG) {
      // The peer keeps provoking replies it does not read (PING or SETTINGS floods).
      this.control.length = 0;
      this.controlBytes = 0;
      this.owner.finish("peer does not read its control frames");
    }
  }

  /** Queue HEADERS (+ CONTINUATION) for a stream. */
  queueHeaders(streamId: number, headers: [string, string][], endStream: boolean): void {
    this.queueControl(headersFrames(streamId, this.encoder.encode(headers), endStream, this.peerMaxFrame));
  }

  /** A stream has something to send; `flush` starts the write loop now. */
  schedule(stream: H2Stream, flush = true): void {
    this.sendable.add(stream);
    if (flush) this.flush();
  }

  /** A stream closed: nothing of it is sent any more. */
  unschedule(stream: H2Stream): void {
    this.sendable.delete(stream);
  }

  /** True when some stream waits for window. */
  get hasSendable(): boolean {
    return this.sendable.size > 0;
  }

  /** Start the write loop if it is not running. */
  flush(): void {
    if (this.writing || this.owner.closed) return;
    this.writing = true;
    // Start once the current task and its promise jobs are done (setImmediate: ~2 µs; setTimeout(0)
    // costs ~2 ms in Deno): a small reply's HEADERS, DATA and trailers then leave in one write.
    setImmediate(() => void this.writeLoop());
  }

  /** The connection closed: every view still held may be reused by its owner. */
  releaseAll(): void {
    for (const release of this.written.splice(0)) release();
  }

  private async writeLoop(): Promise<void> {
    try {
      while (!this.owner.closed) {
        const batch = this.collect();
        if (batch.length === 0) break;
        for (const piece of batch) await this.channel.write(piece);
        // The views of this batch are in the kernel now: their buffers may be reused.
        this.releaseAll();
      }
    } catch (err) {
      this.owner.finish(`write failed: ${(err as Error)?.message ?? err}`);
    }
    // Cleared in the same turn as the collect that found nothing, so no flush() is lost.
    this.writing = false;
    this.owner.wakeIdle();
  }

  /** Gather what can be sent now, as pieces to write in order. */
  private collect(): Uint8Array[] {
    const batch = new Batch(this.coalesce);
    while (this.control.length > 0 && batch.total < BATCH_BYTES) {
      const c = this.control.shift()!;
      this.controlBytes -= c.length;
      batch.append(c);
    }
    while (this.sendable.size > 0 && batch.total < BATCH_BYTES && batch.room >= MIN_DATA_ROOM) {
      let progressed = false;
      for (const stream of this.sendable) {
        if (batch.total >= BATCH_BYTES || batch.room < MIN_DATA_ROOM) break;
        if (this.collectStream(stream, batch)) progressed = true;
      }
      if (!progressed) break;
    }
    return batch.finish();
  }

  /** One DATA frame of `stream`, then its ending if its queue is empty; true if anything was added. */
  private collectStream(stream: H2Stream, batch: Batch): boolean {
    let progressed = false;
    if (stream.queuedBytes > 0) {
      const size = Math.min(
        stream.queuedBytes,
        stream.flow.sendWindow,
        this.connection.sendWindow,
        this.peerMaxFrame,
      );
      if (size <= 0) return false;
      batch.frameHeader(size, FrameType.DATA, 0, stream.id);
      stream.takeData(size, (piece) => batch.append(piece), (release) => this.written.push(release));
      this.connection.spend(size);
      progressed = true;
    }
    if (stream.queuedBytes > 0) return progressed;
    if (stream.endsWithData) {
      // The request body is complete: an empty DATA frame carries END_STREAM.
      batch.frameHeader(0, FrameType.DATA, Flag.END_STREAM, stream.id);
      this.sendable.delete(stream);
      this.owner.endLocal(stream);
      return true;
    }
    const trailers = stream.takeTrailers();
    this.sendable.delete(stream);
    if (!trailers) return progressed;
    batch.append(headersFrames(stream.id, this.encoder.encode(trailers), true, this.peerMaxFrame));
    this.owner.endLocal(stream);
    return true;
  }
}

/** Pieces for one write: small ones copied into the coalescing buffer, big views kept as they are. */
class Batch {
  readonly pieces: Uint8Array[] = [];
  total = 0;
  private used = 0;
  private start = 0;

  constructor(private readonly buf: Uint8Array) {}

  /** Free bytes left in the coalescing buffer. */
  get room(): number {
    return this.buf.length - this.used;
  }

  append(bytes: Uint8Array): void {
    if (bytes.length >= DIRECT_WRITE || bytes.length > this.room) {
      this.cut();
      this.pieces.push(bytes);
    } else {
      this.buf.set(bytes, this.used);
      this.used += bytes.length;
    }
    this.total += bytes.length;
  }

  /** A frame header written straight into the coalescing buffer (callers check {@link room}). */
  frameHeader(length: number, type: number, flags: number, streamId: number): void {
    if (this.room < FRAME_HEADER_BYTES) {
      const header = new Uint8Array(FRAME_HEADER_BYTES);
      writeFrameHeader(header, 0, length, type, flags, streamId);
      this.append(header);
      return;
    }
    writeFrameHeader(this.buf, this.used, length, type, flags, streamId);
    this.used += FRAME_HEADER_BYTES;
    this.total += FRAME_HEADER_BYTES;
  }

  finish(): Uint8Array[] {
    this.cut();
    return this.pieces;
  }

  private cut(): void {
    if (this.used > this.start) this.pieces.push(this.buf.subarray(this.start, this.used));
    this.start = this.used;
  }
}
