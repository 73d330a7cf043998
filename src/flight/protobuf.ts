/**
 * A minimal protobuf wire-format reader and writer: just what the Flight
 * messages need. Length-delimited fields are returned as views into the input,
 * so a FlightData body is never copied by decoding.
 *
 * @module
 */
import { invalidArgument } from "../errors.ts";

/** Wire types used by Flight.proto. */
export const WireType = { VARINT: 0, I64: 1, LEN: 2, I32: 5 } as const;

/** One decoded field: either a varint value or a byte view. */
export interface Field {
  number: number;
  wireType: number;
  /** Varint value (exact up to 2^53; larger values are clamped to Infinity). */
  value: number;
  /** View into the input for LEN fields; empty otherwise. */
  bytes: Uint8Array;
}

const EMPTY: Uint8Array = new Uint8Array(0);

/**
 * Iterate the fields of a message. Throws INVALID_ARGUMENT on truncated or
 * malformed input (never reads outside `buf`).
 */
export function* fields(buf: Uint8Array, what: string): Generator<Field> {
  let pos = 0;
  const end = buf.length;
  const bad = (why: string) => invalidArgument(`Malformed ${what} message: ${why}`);
  const varint = (): number => {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (pos >= end) throw bad("truncated varint");
      const b = buf[pos++];
      result += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) return result;
      scale *= 128;
    }
    throw bad("varint longer than 10 bytes");
  };
  while (pos < end) {
    const tag = varint();
    const number = Math.floor(tag / 8);
    const wireType = tag % 8;
    if (number === 0) throw bad("field number 0");
    switch (wireType) {
      case WireType.VARINT:
        yield { number, wireType, value: varint(), bytes: EMPTY };
        break;
      case WireType.I64:
        if (pos + 8 > end) throw bad("truncated fixed64");
        yield { number, wireType, value: 0, bytes: buf.subarray(pos, pos + 8) };
        pos += 8;
        break;
      case WireType.I32:
        if (pos + 4 > end) throw bad("truncated fixed32");
        yield { number, wireType, value: 0, bytes: buf.subarray(pos, pos + 4) };
        pos += 4;
        break;
      case WireType.LEN: {
        const len = varint();
        if (len > end - pos) throw bad(`field ${number} claims ${len} bytes, ${end - pos} left`);
        yield { number, wireType, value: len, bytes: buf.subarray(pos, pos + len) };
        pos += len;
        break;
      }
      default:
        throw bad(`unsupported wire type ${wireType}`);
    }
  }
}

/**
 * Read a varint of `buf` at `pos` (before `end`) from a message still arriving:
 * `[value, next]`, or null when the bytes so far end inside it. Throws a
 * RangeError for a varint longer than 10 bytes (callers report it their way).
 */
export function readVarint(buf: Uint8Array, pos: number, end = buf.length): [number, number] | null {
  let result = 0;
  let scale = 1;
  for (let i = 0; i < 10; i++) {
    if (pos >= end) return null;
    const b = buf[pos++];
    result += (b & 0x7f) * scale;
    if ((b & 0x80) === 0) return [result, pos];
    scale *= 128;
  }
  throw new RangeError("varint longer than 10 bytes");
}

/** Number of bytes a varint takes. */
export function varintSize(value: number): number {
  let n = 1;
  while (value >= 128) {
    value = Math.floor(value / 128);
    n++;
  }
  return n;
}

const encoder = new TextEncoder();

/**
 * Append-only protobuf writer. Nested messages are written by encoding them
 * first (they are small) and adding them as bytes.
 */
export class ProtoWriter {
  private buf: Uint8Array;
  private pos = 0;

  /**
   * @param initial first buffer size
   * @param allocate where buffers come from (a transient slab for bytes sent and dropped)
   */
  constructor(initial = 64, private readonly allocate: (n: number) => Uint8Array = (n) => new Uint8Array(n)) {
    this.buf = allocate(initial);
  }

  private reserve(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = this.allocate(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }

  /** Raw varint. */
  varint(value: number): this {
    this.reserve(10);
    if (value < 0) {
      // Negative int64 (e.g. total_records = -1): two's complement, 10 bytes.
      let big = BigInt.asUintN(64, BigInt(value));
      while (big >= 128n) {
        this.buf[this.pos++] = Number(big & 0x7fn) | 0x80;
        big >>= 7n;
      }
      this.buf[this.pos++] = Number(big);
      return this;
    }
    while (value >= 128) {
      this.buf[this.pos++] = (value % 128) | 0x80;
      value = Math.floor(value / 128);
    }
    this.buf[this.pos++] = value;
    return this;
  }

  /** Varint field; proto3 default (0/false) is omitted. */
  uint(field: number, value: number): this {
    if (value === 0) return this;
    return this.varint(field * 8 + WireType.VARINT).varint(value);
  }

  /** Length-delimited field from bytes; empty is omitted unless `always`. */
  bytes(field: number, value: Uint8Array, always = false): this {
    if (value.length === 0 && !always) return this;
    this.varint(field * 8 + WireType.LEN).varint(value.length);
    this.reserve(value.length);
    this.buf.set(value, this.pos);
    this.pos += value.length;
    return this;
  }

  /** Length-delimited UTF-8 string field; empty is omitted unless `always`. */
  string(field: number, value: string, always = false): this {
    return this.bytes(field, encoder.encode(value), always);
  }

  /** The bytes written so far (a view; copy if the writer is reused). */
  finish(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }
}
