/**
 * The server role of an HTTP/2 connection: the peer opens streams with its
 * request HEADERS, we answer them. The counterpart of hyperium/h2's
 * `server.rs` + `proto/peer.rs` for the server side.
 *
 * @module
 */
import type { ByteChannel } from "./channel.ts";
import { H2Connection, type H2ConnectionOptions } from "./connection.ts";
import { ConnectionError, H2Error, rstStreamFrame } from "./frames.ts";
import type { HeaderBlock } from "./header_block.ts";
import { ClosedBy } from "./closed_streams.ts";
import { requestHeaders, validTrailers } from "./request_headers.ts";
import type { H2Stream } from "./stream.ts";

/**
 * Streams answered without reading that may wait for the client to end its side; past this, the
 * oldest is asked to stop with RST_STREAM(NO_ERROR), so a client cannot park idle streams.
 */
const MAX_UNREAD_WAITING = 16;

/** Server options: the connection's tuning plus the request callback. */
export interface H2ServerOptions extends H2ConnectionOptions {
  /** A new request stream (set its callbacks synchronously). */
  onStream: (stream: H2Stream) => void;
}

/** The server side of one HTTP/2 connection. */
export class H2ServerConnection extends H2Connection {
  private readonly onStream: (stream: H2Stream) => void;
  /** Streams answered without reading, waiting for the client's END_STREAM (oldest first). */
  private readonly unreadWaiting = new Set<H2Stream>();

  constructor(channel: ByteChannel, options: H2ServerOptions) {
    super(channel, options, "expect");
    this.onStream = options.onStream;
  }

  /** Request headers open a stream; a second block on an open stream is its trailers. */
  protected onHeaderBlock(block: HeaderBlock): void {
    const { streamId, endStream } = block;
    const existing = this.streams.get(streamId);
    if (existing) return this.onTrailers(existing, block);
    if (streamId <= this.lastStreamId) return this.onHeadersNotIdle(streamId);
    this.lastStreamId = streamId;
    if (this.draining || this.streams.size >= this.options.maxConcurrentStreams) {
      return this.refuseStream(streamId, H2Error.REFUSED_STREAM);
    }
    const headers = block.dependsOnItself ? null : requestHeaders(block.fields);
    const contentLength = headers?.["content-length"];
    // Malformed (RFC 9113 8.1.1): never reaches a handler.
    if (!headers || (endStream && contentLength !== undefined && Number(contentLength) !== 0)) {
      return this.refuseStream(streamId, H2Error.PROTOCOL_ERROR);
    }
    const stream = this.newStream(streamId, headers);
    if (contentLength !== undefined) stream.expectBody(Number(contentLength));
    // Ended before the handler runs: a complete answer from it then closes the stream cleanly.
    if (endStream) stream.markRemoteEnded();
    try {
      this.onStream(stream);
    } catch (err) {
      this.options.onError?.("h2 onStream", err);
      this.resetStream(stream, H2Error.INTERNAL_ERROR);
      return;
    }
    if (endStream) this.endRemote(stream);
  }

  /** A header block on an open stream: trailers, which must end the request (RFC 9113 8.1). */
  private onTrailers(stream: H2Stream, block: HeaderBlock): void {
    // Half-closed (remote): nothing but WINDOW_UPDATE, PRIORITY or RST_STREAM may follow (5.1).
    if (stream.remoteEnded) return this.resetStream(stream, H2Error.STREAM_CLOSED);
    if (!block.endStream || block.dependsOnItself || !validTrailers(block.fields) || !stream.bodyComplete) {
      return this.resetStream(stream, H2Error.PROTOCOL_ERROR);
    }
    this.endRemote(stream);
  }

  /** HEADERS on a stream id at or below the highest one opened (RFC 9113 5.1, 5.1.1). */
  private onHeadersNotIdle(streamId: number): void {
    switch (this.closedStreams.find(streamId)) {
      case ClosedBy.OUR_RESET:
        return; // in flight before our RST_STREAM arrived: ignored
      case ClosedBy.CLOSED:
        throw new ConnectionError(H2Error.STREAM_CLOSED, `HEADERS on closed stream ${streamId}`);
      default:
        throw new ConnectionError(
          H2Error.PROTOCOL_ERROR,
          `stream id ${streamId} is lower than one already used`,
        );
    }
  }

  /** The client opens no more streams; the ones it has keep running. */
  protected onGoaway(_payload: Uint8Array): void {}

  /**
   * The response is complete while the client is still sending: tell it to
   * stop (RST_STREAM NO_ERROR, as RFC 9113 8.1 allows). A stream answered
   * without reading stays half-closed (local) instead, dropping the body, so
   * the client's later frames on it get the RFC's answers; at most
   * {@link MAX_UNREAD_WAITING} of them per connection, oldest stopped first.
   */
  protected onLocalEndFirst(stream: H2Stream): void {
    if (!stream.readsRequest) {
      this.unreadWaiting.add(stream);
      if (this.unreadWaiting.size <= MAX_UNREAD_WAITING) return;
      stream = this.unreadWaiting.values().next().value!;
    }
    this.writer.queueControl(rstStreamFrame(stream.id, H2Error.NO_ERROR));
    this.closeStream(stream, null, true);
  }

  protected override closeStream(stream: H2Stream, abortReason: string | null, ourReset = false): void {
    if (this.unreadWaiting.size > 0) this.unreadWaiting.delete(stream);
    super.closeStream(stream, abortReason, ourReset);
  }
}
