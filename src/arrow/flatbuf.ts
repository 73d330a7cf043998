/**
 * A small bounds-checked flatbuffer reader.
 *
 * Untrusted bytes never reach apache-arrow before passing through here: every uoffset, soffset, vtable,
 * string and vector length is checked against the buffer before it is used, vector lengths are checked
 * against the remaining bytes before anything is allocated, and a work budget proportional to the buffer
 * size stops shared sub-objects (a DAG of offsets) from turning a small buffer into unbounded work.
 *
 * @module
 */

import { IpcError } from "./errors.ts";

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** A view of one flatbuffer; creates {@link FbTable}s for the tables inside it. */
export class FbReader {
  /** The flatbuffer bytes. */
  readonly bytes: Uint8Array;
  /** Little-endian accessor over `bytes`. */
  readonly dv: DataView;
  /** Byte length of the flatbuffer. */
  readonly size: number;
  /** What the buffer is, used to start error messages (e.g. "The message header"). */
  readonly what: string;
  // Visited bytes allowed: a flatbuffer without shared sub-objects is visited once, so 2x is generous.
  #budget: number;

  /** Wraps `bytes`; `what` names the buffer in error messages. */
  constructor(bytes: Uint8Array, what: string) {
    this.bytes = bytes;
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.size = bytes.byteLength;
    this.what = what;
    this.#budget = 2 * this.size + 1024;
  }

  /** Throws an {@link IpcError} saying the buffer is malformed. */
  fail(detail: string): never {
    throw new IpcError(`${this.what} is malformed: ${detail}.`);
  }

  /** Charges `n` bytes of work against the budget. */
  spend(n: number): void {
    this.#budget -= n;
    if (this.#budget < 0) this.fail("it references more data than it contains");
  }

  /** The root table (the uoffset at byte 0). */
  root(name: string): FbTable {
    if (this.size < 8) this.fail("it is too short to hold a flatbuffer");
    return this.tableAt(this.dv.getUint32(0, true), name);
  }

  /** The table starting at absolute position `pos`, with its vtable checked. */
  tableAt(pos: number, name: string): FbTable {
    if (pos > this.size - 4) this.fail(`the ${name} lies outside the buffer`);
    const vt = pos - this.dv.getInt32(pos, true);
    if (vt < 0 || vt > this.size - 4) this.fail(`the ${name} has its vtable outside the buffer`);
    const vtSize = this.dv.getUint16(vt, true);
    const tableSize = this.dv.getUint16(vt + 2, true);
    if (vtSize < 4 || vtSize % 2 !== 0 || vt + vtSize > this.size) {
      this.fail(`the ${name} has an invalid vtable`);
    }
    if (tableSize < 4 || pos + tableSize > this.size) this.fail(`the ${name} extends past the buffer`);
    this.spend(tableSize);
    return new FbTable(this, pos, vt, vtSize, tableSize, name);
  }
}

/** A vector inside the buffer: `pos` is the first element, `length` the element count. */
export interface FbVector {
  /** Absolute position of element 0. */
  pos: number;
  /** Number of elements. */
  length: number;
}

/** One table. Slots are field indexes in declaration order; absent fields give the default. */
export class FbTable {
  /** The buffer the table belongs to. */
  readonly r: FbReader;
  /** Absolute position of the table (its soffset). */
  readonly pos: number;
  readonly #vt: number;
  readonly #vtSize: number;
  readonly #tableSize: number;
  /** Table name for error messages. */
  readonly name: string;

  /** Use {@link FbReader.tableAt}; the constructor trusts its (already checked) arguments. */
  constructor(r: FbReader, pos: number, vt: number, vtSize: number, tableSize: number, name: string) {
    this.r = r;
    this.pos = pos;
    this.#vt = vt;
    this.#vtSize = vtSize;
    this.#tableSize = tableSize;
    this.name = name;
  }

  /** Absolute position of field `slot` (which is `width` bytes wide), or 0 when absent. */
  fieldPos(slot: number, width: number): number {
    const entry = 4 + 2 * slot;
    if (entry + 2 > this.#vtSize) return 0;
    const off = this.r.dv.getUint16(this.#vt + entry, true);
    if (off === 0) return 0;
    if (off < 4 || off + width > this.#tableSize) this.r.fail(`a field of the ${this.name} lies outside it`);
    return this.pos + off;
  }

  /** Unsigned 8-bit field. */
  u8(slot: number, dflt = 0): number {
    const p = this.fieldPos(slot, 1);
    return p ? this.r.dv.getUint8(p) : dflt;
  }

  /** Boolean field. */
  bool(slot: number, dflt = false): boolean {
    const p = this.fieldPos(slot, 1);
    return p ? this.r.dv.getUint8(p) !== 0 : dflt;
  }

  /** Signed 16-bit field. */
  i16(slot: number, dflt = 0): number {
    const p = this.fieldPos(slot, 2);
    return p ? this.r.dv.getInt16(p, true) : dflt;
  }

  /** Signed 32-bit field. */
  i32(slot: number, dflt = 0): number {
    const p = this.fieldPos(slot, 4);
    return p ? this.r.dv.getInt32(p, true) : dflt;
  }

  /** Signed 64-bit field. */
  i64(slot: number, dflt = 0n): bigint {
    const p = this.fieldPos(slot, 8);
    return p ? this.r.dv.getBigInt64(p, true) : dflt;
  }

  /** Target of the uoffset in field `slot` (at least 4 bytes inside the buffer), or undefined. */
  #target(slot: number, what: string): number | undefined {
    const p = this.fieldPos(slot, 4);
    if (!p) return undefined;
    return this.#follow(p, what);
  }

  #follow(p: number, what: string): number {
    const t = p + this.r.dv.getUint32(p, true);
    if (t > this.r.size - 4) this.r.fail(`the ${what} lies outside the buffer`);
    return t;
  }

  /** Sub-table in field `slot`, or undefined when absent. */
  table(slot: number, name: string): FbTable | undefined {
    const t = this.#target(slot, name);
    return t === undefined ? undefined : this.r.tableAt(t, name);
  }

  /** UTF-8 string in field `slot`, or undefined when absent. */
  string(slot: number, what: string): string | undefined {
    const t = this.#target(slot, what);
    if (t === undefined) return undefined;
    const r = this.r;
    const n = r.dv.getUint32(t, true);
    // Room for the bytes plus the NUL terminator, checked before touching them.
    if (n > r.size - t - 5) r.fail(`the ${what} is longer than the buffer`);
    if (r.bytes[t + 4 + n] !== 0) r.fail(`the ${what} is not NUL-terminated`);
    r.spend(4 + n);
    if (n <= 64) {
      const b = r.bytes;
      let ascii = true;
      for (let i = t + 4; i < t + 4 + n; i++) {
        if (b[i] > 0x7f) {
          ascii = false;
          break;
        }
      }
      if (ascii) return String.fromCharCode.apply(null, b.subarray(t + 4, t + 4 + n) as unknown as number[]);
    }
    try {
      return utf8.decode(r.bytes.subarray(t + 4, t + 4 + n));
    } catch {
      r.fail(`the ${what} is not valid UTF-8`);
    }
  }

  /** Vector of `elemSize`-byte elements in field `slot`, or undefined when absent. */
  vector(slot: number, elemSize: number, what: string): FbVector | undefined {
    const t = this.#target(slot, what);
    if (t === undefined) return undefined;
    const r = this.r;
    const n = r.dv.getUint32(t, true);
    if (n > Math.floor((r.size - t - 4) / elemSize)) r.fail(`the ${what} is longer than the buffer`);
    r.spend(4 + n * elemSize);
    return { pos: t + 4, length: n };
  }

  /** Vector of tables in field `slot` ([] when absent). */
  tables(slot: number, name: string): FbTable[] {
    const v = this.vector(slot, 4, `${name} list`);
    if (!v) return [];
    const out: FbTable[] = new Array(v.length);
    for (let i = 0; i < v.length; i++) out[i] = this.r.tableAt(this.#follow(v.pos + 4 * i, name), name);
    return out;
  }

  /** Vector of int32 in field `slot`, or undefined when absent. */
  i32s(slot: number, what: string): number[] | undefined {
    const v = this.vector(slot, 4, what);
    if (!v) return undefined;
    const out: number[] = new Array(v.length);
    for (let i = 0; i < v.length; i++) out[i] = this.r.dv.getInt32(v.pos + 4 * i, true);
    return out;
  }

  /** Vector of int64 in field `slot`, or undefined when absent. */
  i64s(slot: number, what: string): bigint[] | undefined {
    const v = this.vector(slot, 8, what);
    if (!v) return undefined;
    const out: bigint[] = new Array(v.length);
    for (let i = 0; i < v.length; i++) out[i] = this.r.dv.getBigInt64(v.pos + 8 * i, true);
    return out;
  }
}
