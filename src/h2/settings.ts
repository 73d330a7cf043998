/**
 * SETTINGS (RFC 9113 6.5): the ones we announce, and validation of the
 * peer's.
 *
 * @module
 */
import {
  ConnectionError,
  DEFAULT_MAX_FRAME,
  DEFAULT_WINDOW,
  Flag,
  H2Error,
  MAX_FRAME_LIMIT,
  MAX_WINDOW,
  Setting,
  settingsFrame,
  windowUpdateFrame,
} from "./frames.ts";

/** What we announce (a subset of the connection options). */
export interface LocalSettings {
  streamWindow: number;
  connectionWindow: number;
  maxFrameSize: number;
  maxConcurrentStreams: number;
  maxHeaderListSize: number;
}

/** Our SETTINGS frame, plus a WINDOW_UPDATE when our connection window exceeds the default. */
export function localSettingsFrames(s: LocalSettings): Uint8Array[] {
  const frames = [settingsFrame([
    [Setting.MAX_CONCURRENT_STREAMS, s.maxConcurrentStreams],
    [Setting.INITIAL_WINDOW_SIZE, s.streamWindow],
    [Setting.MAX_FRAME_SIZE, s.maxFrameSize],
    [Setting.MAX_HEADER_LIST_SIZE, s.maxHeaderListSize],
    [Setting.ENABLE_PUSH, 0],
  ])];
  if (s.connectionWindow > DEFAULT_WINDOW) {
    frames.push(windowUpdateFrame(0, s.connectionWindow - DEFAULT_WINDOW));
  }
  return frames;
}

/** The peer's settings that change how we send (absent: unchanged). */
export interface PeerSettings {
  /** SETTINGS_INITIAL_WINDOW_SIZE. */
  initialWindow?: number;
  /** SETTINGS_MAX_FRAME_SIZE. */
  maxFrameSize?: number;
}

/**
 * Validate a SETTINGS frame from the peer: null for an acknowledgement, else
 * the values we act on. Throws {@link ConnectionError} for a malformed frame.
 */
export function parseSettings(flags: number, streamId: number, payload: Uint8Array): PeerSettings | null {
  if (streamId !== 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, "SETTINGS on a stream");
  if (flags & Flag.ACK) {
    if (payload.length !== 0) {
      throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, "SETTINGS ack with payload");
    }
    return null;
  }
  if (payload.length % 6 !== 0) throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, "bad SETTINGS length");
  const out: PeerSettings = {};
  const view = new DataView(payload.buffer, payload.byteOffset, payload.length);
  for (let off = 0; off < payload.length; off += 6) {
    const id = view.getUint16(off);
    const value = view.getUint32(off + 2);
    switch (id) {
      case Setting.ENABLE_PUSH:
        if (value > 1) throw new ConnectionError(H2Error.PROTOCOL_ERROR, "bad ENABLE_PUSH");
        break;
      case Setting.INITIAL_WINDOW_SIZE:
        if (value > MAX_WINDOW) throw new ConnectionError(H2Error.FLOW_CONTROL_ERROR, "window too large");
        out.initialWindow = value;
        break;
      case Setting.MAX_FRAME_SIZE:
        if (value < DEFAULT_MAX_FRAME || value > MAX_FRAME_LIMIT) {
          throw new ConnectionError(H2Error.PROTOCOL_ERROR, "bad MAX_FRAME_SIZE");
        }
        out.maxFrameSize = value;
        break;
      default:
        break; // header table size: our encoder uses no dynamic table; others are advisory
    }
  }
  return out;
}

/** Stream resets a peer may cause per second (rapid-reset attacks, CVE-2023-44487). */
const MAX_RESETS_PER_SECOND = 1_000;

/** Counts the peer's RST_STREAM frames per second. */
export class ResetRateLimit {
  private windowStart = 0;
  private count = 0;

  /** One more reset: throws ENHANCE_YOUR_CALM past the limit. */
  note(now = Date.now()): void {
    if (now - this.windowStart > 1_000) {
      this.windowStart = now;
      this.count = 0;
    }
    if (++this.count > MAX_RESETS_PER_SECOND) {
      throw new ConnectionError(H2Error.ENHANCE_YOUR_CALM, "too many stream resets");
    }
  }
}
