/**
 * Incremental HTTP/2 frame parser. Bytes arrive in arbitrary chunks; control
 * frames are handed over whole, DATA payloads are handed over as views of the
 * received chunks as they arrive (never buffered whole), so a 16 MiB frame
 * costs no copy and no extra memory.
 *
 * @module
 */
import { CLIENT_PREFACE, ConnectionError, Flag, FRAME_HEADER_BYTES, FrameType, H2Error } from "./frames.ts";

/** Receives parsed frames. */
export interface FrameSink {
  /** A complete non-DATA frame (`payload` may be a view of the input chunk: copy what you keep). */
  onFrame(type: number, flags: number, streamId: number, payload: Uint8Array): void;
  /** A DATA frame begins; `length` is the whole frame payload (padding included, for flow control). */
  onDataStart(streamId: number, flags: number, length: number): void;
  /** Content of the current DATA frame (padding removed): a view of the input chunk. */
  onData(streamId: number, piece: Uint8Array): void;
  /** The current DATA frame is complete. */
  onDataEnd(streamId: number, flags: number): void;
}

const enum State {
  Preface,
  Header,
  Payload,
  Data,
}

/** Splits a byte stream into frames for a {@link FrameSink}. */
export class FrameReader {
  private state: State;
  private readonly header = new Uint8Array(FRAME_HEADER_BYTES);
  private fill = 0;
  private length = 0;
  private type = 0;
  private flags = 0;
  private streamId = 0;
  /** Buffer for a control (or padded DATA) frame that spans chunks. */
  private payload: Uint8Array | null = null;
  /** DATA bytes of the current frame still to come. */
  private dataLeft = 0;

  /**
   * @param sink frame consumer
   * @param maxFrameSize the SETTINGS_MAX_FRAME_SIZE we announced
   * @param expectPreface a server connection starts with the client preface
   */
  constructor(private readonly sink: FrameSink, private readonly maxFrameSize: number, expectPreface = true) {
    this.state = expectPreface ? State.Preface : State.Header;
  }

  /** Parse a chunk; throws {@link ConnectionError} on a framing violation. */
  push(chunk: Uint8Array): void {
    let pos = 0;
    const end = chunk.length;
    while (pos < end) {
      switch (this.state) {
        case State.Preface: {
          const take = Math.min(CLIENT_PREFACE.length - this.fill, end - pos);
          for (let i = 0; i < take; i++) {
            if (chunk[pos + i] !== CLIENT_PREFACE[this.fill + i]) {
              throw new ConnectionError(H2Error.PROTOCOL_ERROR, "invalid HTTP/2 client preface");
            }
          }
          this.fill += take;
          pos += take;
          if (this.fill === CLIENT_PREFACE.length) {
            this.fill = 0;
            this.state = State.Header;
          }
          break;
        }
        case State.Header: {
          if (this.fill === 0 && end - pos >= FRAME_HEADER_BYTES) {
            this.parseHeader(chunk, pos);
            pos += FRAME_HEADER_BYTES;
          } else {
            const take = Math.min(FRAME_HEADER_BYTES - this.fill, end - pos);
            this.header.set(chunk.subarray(pos, pos + take), this.fill);
            this.fill += take;
            pos += take;
            if (this.fill < FRAME_HEADER_BYTES) break;
            this.fill = 0;
            this.parseHeader(this.header, 0);
          }
          pos = this.beginPayload(chunk, pos);
          break;
        }
        case State.Payload: {
          const buf = this.payload!;
          const take = Math.min(buf.length - this.fill, end - pos);
          buf.set(chunk.subarray(pos, pos + take), this.fill);
          this.fill += take;
          pos += take;
          if (this.fill === buf.length) {
            this.payload = null;
            this.fill = 0;
            this.state = State.Header;
            this.complete(buf);
          }
          break;
        }
        case State.Data: {
          const take = Math.min(this.dataLeft, end - pos);
          this.dataLeft -= take;
          const piece = chunk.subarray(pos, pos + take);
          pos += take;
          this.sink.onData(this.streamId, piece);
          if (this.dataLeft === 0) {
            this.state = State.Header;
            this.sink.onDataEnd(this.streamId, this.flags);
          }
          break;
        }
      }
    }
  }

  private parseHeader(b: Uint8Array, at: number): void {
    this.length = (b[at] << 16) | (b[at + 1] << 8) | b[at + 2];
    this.type = b[at + 3];
    this.flags = b[at + 4];
    this.streamId = ((b[at + 5] & 0x7f) * 0x1000000) + ((b[at + 6] << 16) | (b[at + 7] << 8) | b[at + 8]);
    if (this.length > this.maxFrameSize) {
      throw new ConnectionError(
        H2Error.FRAME_SIZE_ERROR,
        `frame of ${this.length} bytes exceeds the ${this.maxFrameSize}-byte limit`,
      );
    }
  }

  /** Start the payload of the frame whose header was just read; returns the new position. */
  private beginPayload(chunk: Uint8Array, pos: number): number {
    const length = this.length;
    if (this.type === FrameType.DATA && !(this.flags & Flag.PADDED)) {
      this.sink.onDataStart(this.streamId, this.flags, length);
      if (length === 0) {
        this.sink.onDataEnd(this.streamId, this.flags);
        return pos;
      }
      this.dataLeft = length;
      this.state = State.Data;
      return pos;
    }
    if (chunk.length - pos >= length) {
      // Whole frame in this chunk: no copy.
      this.complete(chunk.subarray(pos, pos + length));
      return pos + length;
    }
    this.payload = new Uint8Array(length);
    this.fill = 0;
    this.state = State.Payload;
    return pos;
  }

  private complete(payload: Uint8Array): void {
    if (this.type !== FrameType.DATA) {
      this.sink.onFrame(this.type, this.flags, this.streamId, payload);
      return;
    }
    // Padded DATA: rare, handed over whole once its padding is stripped.
    const padLength = payload.length > 0 ? payload[0] : -1;
    if (padLength < 0 || padLength >= payload.length) {
      throw new ConnectionError(H2Error.PROTOCOL_ERROR, "DATA padding exceeds the frame");
    }
    this.sink.onDataStart(this.streamId, this.flags, payload.length);
    const content = payload.subarray(1, payload.length - padLength);
    if (content.length > 0) this.sink.onData(this.streamId, content);
    this.sink.onDataEnd(this.streamId, this.flags);
  }
}
