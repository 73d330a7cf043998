/**
 * HTTP/2 flow control (RFC 9113 6.9) for one window pair: the connection's or
 * one stream's. Mirrors hyperium/h2's `proto/streams/flow_control.rs`: the
 * send window is what the peer lets us send, the receive window what we let
 * the peer send; received bytes are "unacked" until the consumer has taken
 * them and we grant them back with WINDOW_UPDATE.
 *
 * @module
 */
import { MAX_WINDOW } from "./frames.ts";

/** One pair of flow-control windows. */
export class FlowControl {
  #send: number;
  #recv: number;
  #unacked = 0;

  /**
   * @param sendWindow the peer's window for our DATA
   * @param recvWindow our window for the peer's DATA
   */
  constructor(sendWindow: number, recvWindow: number) {
    this.#send = sendWindow;
    this.#recv = recvWindow;
  }

  /** Bytes we may send now. */
  get sendWindow(): number {
    return this.#send;
  }

  /** Received bytes not yet granted back. */
  get unacked(): number {
    return this.#unacked;
  }

  /** We sent `n` bytes of DATA. */
  spend(n: number): void {
    this.#send -= n;
  }

  /**
   * The peer widened (or, through SETTINGS, narrowed) its window by `delta`.
   * Returns false when the window would exceed 2^31 - 1 (a FLOW_CONTROL_ERROR).
   */
  expand(delta: number): boolean {
    this.#send += delta;
    return this.#send <= MAX_WINDOW;
  }

  /** The peer sent `n` bytes; returns false when they overflow our window. */
  consume(n: number): boolean {
    this.#recv -= n;
    return this.#recv >= 0;
  }

  /** `n` received bytes were taken by the consumer and may be granted back. */
  release(n: number): void {
    this.#unacked += n;
  }

  /** Grant every released byte back: returns the WINDOW_UPDATE increment (0: nothing to send). */
  grant(): number {
    const n = this.#unacked;
    this.#unacked = 0;
    this.#recv += n;
    return n;
  }
}
