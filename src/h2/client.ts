/**
 * The client role of an HTTP/2 connection: we open streams with
 * {@link H2ClientConnection.request}, the server answers with response
 * headers, DATA and trailers. The counterpart of hyperium/h2's `client.rs` +
 * `proto/peer.rs` for the client side.
 *
 * @module
 */
import type { ByteChannel } from "./channel.ts";
import { H2Connection, type H2ConnectionOptions } from "./connection.ts";
import { ConnectionError, H2Error, MAX_WINDOW } from "./frames.ts";
import { type HeaderBlock, headerRecord } from "./header_block.ts";
import type { H2Stream } from "./stream.ts";

/** The client side of one HTTP/2 connection. */
export class H2ClientConnection extends H2Connection {
  /** The peer sent GOAWAY: open a new connection for new calls. */
  goawayReceived = false;

  constructor(channel: ByteChannel, options: H2ConnectionOptions) {
    super(channel, options, "send");
  }

  /** Open a stream with request `headers` (END_STREAM when there is no body). */
  request(headers: [string, string][], endStream = false): H2Stream {
    if (this.closed || this.goawayReceived) throw new Error("connection is closing");
    const id = this.lastStreamId === 0 ? 1 : this.lastStreamId + 2;
    if (id > MAX_WINDOW) throw new Error("stream ids exhausted");
    this.lastStreamId = id;
    const stream = this.newStream(id, {});
    stream.markHeadersSent();
    this.sendHeaders(stream, headers, endStream);
    return stream;
  }

  /** Response headers, then trailers (the block with END_STREAM). */
  protected onHeaderBlock({ streamId, fields, endStream }: HeaderBlock): void {
    const stream = this.streams.get(streamId);
    if (!stream) {
      if (streamId > this.lastStreamId) {
        throw new ConnectionError(H2Error.PROTOCOL_ERROR, `HEADERS on idle stream ${streamId}`);
      }
      return; // a stream we reset
    }
    stream.onHeaders(headerRecord(fields), endStream);
    if (endStream) this.endRemote(stream);
  }

  /** Streams above the server's last processed id were never seen by it: they may be retried. */
  protected onGoaway(payload: Uint8Array): void {
    if (payload.length < 8) throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, "short GOAWAY");
    const view = new DataView(payload.buffer, payload.byteOffset, 8);
    const last = view.getUint32(0) & MAX_WINDOW;
    const code = view.getUint32(4);
    this.goawayReceived = true;
    for (const stream of [...this.streams.values()]) {
      if (stream.id > last) {
        stream.noteReset(H2Error.REFUSED_STREAM);
        this.closeStream(stream, `refused: the server is going away (GOAWAY ${code})`);
      }
    }
  }

  /** The request is complete; the reply is still coming. */
  protected onLocalEndFirst(_stream: H2Stream): void {}
}
