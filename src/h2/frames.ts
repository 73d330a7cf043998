/**
 * HTTP/2 frame constants and encoders (RFC 9113 section 4 and 6). Parsing
 * lives in {@link ./reader.ts}; this file only knows the wire layout.
 *
 * @module
 */
import { allocateTransient, concat } from "../bytes.ts";

/** The 24 bytes every client connection starts with (RFC 9113 3.4). */
export const CLIENT_PREFACE = new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

/** Size of a frame header. */
export const FRAME_HEADER_BYTES = 9;

/** Frame types. */
export const FrameType = {
  DATA: 0,
  HEADERS: 1,
  PRIORITY: 2,
  RST_STREAM: 3,
  SETTINGS: 4,
  PUSH_PROMISE: 5,
  PING: 6,
  GOAWAY: 7,
  WINDOW_UPDATE: 8,
  CONTINUATION: 9,
} as const;

/** Frame flags (END_STREAM and ACK share a bit). */
export const Flag = {
  END_STREAM: 0x1,
  ACK: 0x1,
  END_HEADERS: 0x4,
  PADDED: 0x8,
  PRIORITY: 0x20,
} as const;

/** Error codes for RST_STREAM and GOAWAY. */
export const H2Error = {
  NO_ERROR: 0,
  PROTOCOL_ERROR: 1,
  INTERNAL_ERROR: 2,
  FLOW_CONTROL_ERROR: 3,
  SETTINGS_TIMEOUT: 4,
  STREAM_CLOSED: 5,
  FRAME_SIZE_ERROR: 6,
  REFUSED_STREAM: 7,
  CANCEL: 8,
  COMPRESSION_ERROR: 9,
  CONNECT_ERROR: 10,
  ENHANCE_YOUR_CALM: 11,
  INADEQUATE_SECURITY: 12,
  HTTP_1_1_REQUIRED: 13,
} as const;

/** SETTINGS identifiers. */
export const Setting = {
  HEADER_TABLE_SIZE: 1,
  ENABLE_PUSH: 2,
  MAX_CONCURRENT_STREAMS: 3,
  INITIAL_WINDOW_SIZE: 4,
  MAX_FRAME_SIZE: 5,
  MAX_HEADER_LIST_SIZE: 6,
} as const;

/** Largest flow-control window (2^31 - 1). */
export const MAX_WINDOW = 0x7fffffff;
/** The window every stream and connection starts with before SETTINGS say otherwise. */
export const DEFAULT_WINDOW = 65_535;
/** The frame size every peer must accept. */
export const DEFAULT_MAX_FRAME = 16_384;
/** The largest frame size a peer may announce. */
export const MAX_FRAME_LIMIT = 16_777_215;

/** A connection-level failure: answered with GOAWAY carrying `code`, then the connection closes. */
export class ConnectionError extends Error {
  constructor(readonly code: number, message: string) {
    super(message);
  }
}

/** A failure confined to one stream: answered with RST_STREAM carrying `code`. */
export class StreamError extends Error {
  constructor(readonly streamId: number, readonly code: number, message: string) {
    super(message);
  }
}

/** Write a frame header into `out` at `offset`. */
export function writeFrameHeader(
  out: Uint8Array,
  offset: number,
  length: number,
  type: number,
  flags: number,
  streamId: number,
): void {
  out[offset] = (length >>> 16) & 0xff;
  out[offset + 1] = (length >>> 8) & 0xff;
  out[offset + 2] = length & 0xff;
  out[offset + 3] = type;
  out[offset + 4] = flags;
  out[offset + 5] = (streamId >>> 24) & 0x7f;
  out[offset + 6] = (streamId >>> 16) & 0xff;
  out[offset + 7] = (streamId >>> 8) & 0xff;
  out[offset + 8] = streamId & 0xff;
}

/** A whole frame with `payload` copied behind its header. */
export function frame(type: number, flags: number, streamId: number, payload?: Uint8Array): Uint8Array {
  const length = payload?.length ?? 0;
  // Frames live until they are written: short-lived, so carved from a slab (see allocateTransient).
  const out = allocateTransient(FRAME_HEADER_BYTES + length);
  writeFrameHeader(out, 0, length, type, flags, streamId);
  if (payload) out.set(payload, FRAME_HEADER_BYTES);
  return out;
}

/** A SETTINGS frame from identifier/value pairs. */
export function settingsFrame(settings: [number, number][]): Uint8Array {
  const payload = new Uint8Array(settings.length * 6);
  const view = new DataView(payload.buffer);
  settings.forEach(([id, value], i) => {
    view.setUint16(i * 6, id);
    view.setUint32(i * 6 + 2, value);
  });
  return frame(FrameType.SETTINGS, 0, 0, payload);
}

/** The SETTINGS acknowledgement. */
export const SETTINGS_ACK = frame(FrameType.SETTINGS, Flag.ACK, 0);

/** A WINDOW_UPDATE granting `increment` bytes on `streamId` (0 = the connection). */
export function windowUpdateFrame(streamId: number, increment: number): Uint8Array {
  const payload = new Uint8Array(4);
  new DataView(payload.buffer).setUint32(0, increment & MAX_WINDOW);
  return frame(FrameType.WINDOW_UPDATE, 0, streamId, payload);
}

/** RST_STREAM with an error code. */
export function rstStreamFrame(streamId: number, code: number): Uint8Array {
  const payload = new Uint8Array(4);
  new DataView(payload.buffer).setUint32(0, code);
  return frame(FrameType.RST_STREAM, 0, streamId, payload);
}

/** GOAWAY naming the last stream that may still be processed. */
export function goawayFrame(lastStreamId: number, code: number, debug = ""): Uint8Array {
  const text = new TextEncoder().encode(debug.slice(0, 256));
  const payload = new Uint8Array(8 + text.length);
  const view = new DataView(payload.buffer);
  view.setUint32(0, lastStreamId & MAX_WINDOW);
  view.setUint32(4, code);
  payload.set(text, 8);
  return frame(FrameType.GOAWAY, 0, 0, payload);
}

/** PING acknowledgement echoing the peer's 8 bytes. */
export function pingAckFrame(opaque: Uint8Array): Uint8Array {
  return frame(FrameType.PING, Flag.ACK, 0, opaque);
}

/**
 * HEADERS (+ CONTINUATION when the block exceeds `maxFrame`) for one encoded
 * header block.
 */
export function headersFrames(
  streamId: number,
  block: Uint8Array,
  endStream: boolean,
  maxFrame: number,
): Uint8Array {
  if (block.length <= maxFrame) {
    return frame(FrameType.HEADERS, Flag.END_HEADERS | (endStream ? Flag.END_STREAM : 0), streamId, block);
  }
  const pieces: Uint8Array[] = [];
  for (let off = 0; off < block.length; off += maxFrame) {
    const last = off + maxFrame >= block.length;
    const type = off === 0 ? FrameType.HEADERS : FrameType.CONTINUATION;
    let flags = last ? Flag.END_HEADERS : 0;
    if (off === 0 && endStream) flags |= Flag.END_STREAM;
    pieces.push(frame(type, flags, streamId, block.subarray(off, off + maxFrame)));
  }
  return concat(pieces);
}
