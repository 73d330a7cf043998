/**
 * The server role of an HTTP/2 connection: the peer opens streams with its
 * request HEADERS, we answer them. The counterpart of hyperium/h2's
 * `server.rs` + `proto/peer.rs` for the server side.
 *
 * @module
 */
import type { ByteChannel } from "./channel.ts";
import { H2Connection, type H2ConnectionOptions } from "./connection.ts";
import { H2Error, rstStreamFrame } from "./frames.ts";
import { headerRecord } from "./header_block.ts";
import type { H2Stream } from "./stream.ts";

/** Server options: the connection's tuning plus the request callback. */
export interface H2ServerOptions extends H2ConnectionOptions {
  /** A new request stream (set its callbacks synchronously). */
  onStream: (stream: H2Stream) => void;
}

/** The server side of one HTTP/2 connection. */
export class H2ServerConnection extends H2Connection {
  private readonly onStream: (stream: H2Stream) => void;

  constructor(channel: ByteChannel, options: H2ServerOptions) {
    super(channel, options, "expect");
    this.onStream = options.onStream;
  }

  /** Request headers open a stream; a second block on an open stream is its trailers. */
  protected onHeaderBlock(streamId: number, fields: [string, string][], endStream: boolean): void {
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
      this.writer.queueControl(rstStreamFrame(streamId, H2Error.STREAM_CLOSED));
      return;
    }
    this.lastStreamId = streamId;
    if (this.draining || this.streams.size >= this.options.maxConcurrentStreams) {
      this.writer.queueControl(rstStreamFrame(streamId, H2Error.REFUSED_STREAM));
      return;
    }
    const headers = headerRecord(fields);
    if (headers[":method"] === undefined || headers[":path"] === undefined) {
      this.writer.queueControl(rstStreamFrame(streamId, H2Error.PROTOCOL_ERROR));
      return;
    }
    const stream = this.newStream(streamId, headers);
    try {
      this.onStream(stream);
    } catch (err) {
      this.options.onError?.("h2 onStream", err);
      this.resetStream(stream, H2Error.INTERNAL_ERROR);
      return;
    }
    if (endStream) this.endRemote(stream);
  }

  /** The client opens no more streams; the ones it has keep running. */
  protected onGoaway(_payload: Uint8Array): void {}

  /**
   * The response is complete while the client is still sending: tell it to
   * stop (RST_STREAM NO_ERROR, as RFC 9113 8.1 allows).
   */
  protected onLocalEndFirst(stream: H2Stream): void {
    this.writer.queueControl(rstStreamFrame(stream.id, H2Error.NO_ERROR));
    this.closeStream(stream, null);
  }
}
