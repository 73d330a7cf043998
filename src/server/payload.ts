/**
 * Collecting an upload's payload: small payloads stay in memory; once a
 * payload passes the spill threshold and the storage engine can stage files,
 * the rest goes straight to a staging file on disk, so memory stays bounded
 * whatever the object size.
 *
 * @module
 */
import { allocateShareable, concat, SHARED_BUFFER_MIN } from "../bytes.ts";
import type { StagedPayload, Stager, StagingWriter } from "../store/types.ts";

export type { Stager, StagingWriter };

/** Payload bytes go to disk once an upload is larger than this. */
export const SPILL_THRESHOLD = 16 * 1024 * 1024;

/** Accumulates payload pieces, in memory or on disk. */
export class PayloadBuilder {
  private parts: Uint8Array[] = [];
  private writer?: StagingWriter;
  /** Preallocated destination when the final size is known up front. */
  private buffer?: Uint8Array;
  /** Payload bytes so far. */
  length = 0;

  /**
   * `stager` is absent for memory-only storage; `key` names the upload's target (the key or prefix the
   * client sent) in staging errors, asked when a staging file is opened.
   */
  constructor(
    private readonly stager?: Stager,
    private readonly key: () => string = () => "(no key yet)",
    private readonly spillThreshold = SPILL_THRESHOLD,
  ) {}

  /**
   * The next `n` bytes are one payload (a large single-message upload): when
   * they will stay in memory, copy them into one buffer as they arrive instead
   * of keeping the network pieces and joining them at the end.
   */
  async expect(n: number, reserve: (n: number) => void = () => {}): Promise<void> {
    if (this.writer || this.parts.length > 0 || this.length > 0 || n < SHARED_BUFFER_MIN) return;
    if (this.stager && n > this.spillThreshold) {
      this.writer = await this.stager(this.key());
      return;
    }
    // Memory announced by the client, before it arrives: it counts against the
    // shared in-flight budget like any received message.
    reserve(n);
    this.buffer = new Uint8Array(new SharedArrayBuffer(n));
  }

  /** Add a piece (it may be a view of a network buffer: it is copied or written before return). */
  async add(piece: Uint8Array): Promise<void> {
    if (this.buffer && this.length + piece.length <= this.buffer.length) {
      this.buffer.set(piece, this.length);
      this.length += piece.length;
      return;
    }
    if (this.buffer) {
      // More than announced: fall back to pieces.
      this.parts.push(this.buffer.subarray(0, this.length));
      this.buffer = undefined;
    }
    this.length += piece.length;
    if (this.writer) return await this.writer.write(piece);
    this.parts.push(piece);
    if (this.stager && this.length > this.spillThreshold) {
      this.writer = await this.stager(this.key());
      const parts = this.parts;
      this.parts = [];
      for (const p of parts) await this.writer.write(p);
    }
  }

  /** The payload: bytes in memory, or a staged file. */
  async finish(): Promise<{ type: "memory"; data: Uint8Array } | { type: "staged"; staged: StagedPayload }> {
    if (this.writer) return { type: "staged", staged: await this.writer.finish() };
    if (this.buffer) return { type: "memory", data: this.buffer.subarray(0, this.length) };
    return { type: "memory", data: concat(this.parts, this.length, allocateShareable) };
  }

  /** Drop everything (the upload failed). */
  async abort(): Promise<void> {
    this.parts = [];
    this.buffer = undefined;
    await this.writer?.abort();
  }
}

/** Remove a staged payload nobody will adopt (the put failed before the store took it). */
export async function discardStaged(staged: StagedPayload): Promise<void> {
  await Deno.remove(staged.path).catch(() => {});
}
