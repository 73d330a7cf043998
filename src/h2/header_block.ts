/**
 * Header block assembly (RFC 9113 4.3, 6.2, 6.10): a HEADERS frame and its
 * CONTINUATION frames form one HPACK block, decoded once the END_HEADERS flag
 * arrives. The framed-read half of hyperium/h2's `codec/framed_read.rs`.
 *
 * @module
 */
import { concat } from "../bytes.ts";
import { ConnectionError, Flag, H2Error } from "./frames.ts";
import { HpackDecoder, HpackError } from "./hpack.ts";

/** Header block bytes (HEADERS + CONTINUATION) accepted for one block. */
const MAX_HEADER_BLOCK = 256 * 1024;

/** A decoded header block. */
export interface HeaderBlock {
  /** The stream the block belongs to. */
  streamId: number;
  /** The HEADERS frame carried END_STREAM. */
  endStream: boolean;
  /** Header fields in wire order. */
  fields: [string, string][];
  /** The HEADERS frame's priority names its own stream as the dependency (RFC 9113 5.3.1). */
  dependsOnItself: boolean;
}

/** Collects HEADERS + CONTINUATION frames and decodes the block. */
export class HeaderBlockReader {
  private readonly decoder: HpackDecoder;
  private streamId = 0;
  private flags = 0;
  private dependsOnItself = false;
  private parts: Uint8Array[] = [];
  private bytes = 0;

  /** @param maxHeaderListSize largest decoded header list (SETTINGS_MAX_HEADER_LIST_SIZE) */
  constructor(maxHeaderListSize: number) {
    this.decoder = new HpackDecoder(4096, maxHeaderListSize);
  }

  /** True while a block is open: only CONTINUATION frames of its stream may follow. */
  get open(): boolean {
    return this.streamId !== 0;
  }

  /** A HEADERS frame: the complete block when it carries END_HEADERS, else null. */
  headers(flags: number, streamId: number, payload: Uint8Array): HeaderBlock | null {
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
    let dependsOnItself = false;
    if (flags & Flag.PRIORITY) {
      if (start + 5 <= end) {
        const dependency =
          ((payload[start] & 0x7f) << 24 | payload[start + 1] << 16 | payload[start + 2] << 8 |
            payload[start + 3]) >>> 0;
        dependsOnItself = dependency === streamId;
      }
      start += 5;
    }
    if (start > end) throw new ConnectionError(H2Error.PROTOCOL_ERROR, "HEADERS padding exceeds the frame");
    this.streamId = streamId;
    this.flags = flags;
    this.dependsOnItself = dependsOnItself;
    this.parts = [];
    this.bytes = 0;
    return this.add(payload.subarray(start, end), flags);
  }

  /** A CONTINUATION frame: the complete block when it carries END_HEADERS, else null. */
  continuation(flags: number, streamId: number, payload: Uint8Array): HeaderBlock | null {
    if (this.streamId === 0 || streamId !== this.streamId) {
      throw new ConnectionError(H2Error.PROTOCOL_ERROR, "unexpected CONTINUATION");
    }
    return this.add(payload, flags);
  }

  private add(fragment: Uint8Array, flags: number): HeaderBlock | null {
    this.bytes += fragment.length;
    if (this.bytes > MAX_HEADER_BLOCK) {
      throw new ConnectionError(H2Error.ENHANCE_YOUR_CALM, "header block too large");
    }
    // The fragment may be a view of the read buffer: keep a copy only when more follow.
    const last = (flags & Flag.END_HEADERS) !== 0;
    this.parts.push(last && this.parts.length === 0 ? fragment : fragment.slice());
    if (!last) return null;
    const block = concat(this.parts, this.bytes);
    const streamId = this.streamId;
    const endStream = (this.flags & Flag.END_STREAM) !== 0;
    this.streamId = 0;
    this.parts = [];
    try {
      return {
        streamId,
        endStream,
        fields: this.decoder.decode(block),
        dependsOnItself: this.dependsOnItself,
      };
    } catch (err) {
      if (err instanceof HpackError) {
        throw new ConnectionError(H2Error.COMPRESSION_ERROR, `bad header block: ${err.message}`);
      }
      throw err;
    }
  }
}

/** Header fields as a record; repeated names are joined with ", " (RFC 9110 5.3). */
export function headerRecord(fields: [string, string][]): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of fields) {
    const prior = headers[name];
    headers[name] = prior === undefined ? value : `${prior}, ${value}`;
  }
  return headers;
}
