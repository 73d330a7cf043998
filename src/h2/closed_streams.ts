/**
 * A short memory of closed streams (RFC 9113 5.1, "closed"): frames that
 * arrive on a stream *we* reset may have been in flight and are ignored;
 * frames on a stream the peer closed (END_STREAM both ways, or its own
 * RST_STREAM) are the peer's error. The memory is a fixed ring, so a
 * connection with millions of streams costs no more than one with a few.
 *
 * @module
 */

/** How many recently closed streams are remembered per connection. */
const REMEMBERED = 512;

/** What the memory knows about a stream id at or below the highest one opened. */
export const ClosedBy = {
  /** Not remembered: never opened (a skipped id), or closed too long ago. */
  UNKNOWN: 0,
  /** Closed by the peer, or by END_STREAM both ways. */
  CLOSED: 1,
  /** Closed by our RST_STREAM: late frames from the peer are expected. */
  OUR_RESET: 2,
} as const;

/** The recently closed streams of one connection. */
export class ClosedStreams {
  /** Stream ids, negated for {@link ClosedBy.OUR_RESET}; 0 marks an empty slot. */
  private readonly ids = new Int32Array(REMEMBERED);
  private next = 0;

  /** Remember that `id` closed; `ourReset` when our RST_STREAM closed it. */
  add(id: number, ourReset: boolean): void {
    this.ids[this.next] = ourReset ? -id : id;
    this.next = (this.next + 1) % REMEMBERED;
  }

  /** How `id` closed, the latest record first ({@link ClosedBy}). */
  find(id: number): number {
    const ids = this.ids;
    for (let n = 0, i = this.next; n < REMEMBERED; n++) {
      i = i === 0 ? REMEMBERED - 1 : i - 1;
      const v = ids[i];
      if (v === id) return ClosedBy.CLOSED;
      if (v === -id) return ClosedBy.OUR_RESET;
    }
    return ClosedBy.UNKNOWN;
  }
}
