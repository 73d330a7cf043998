/**
 * A minimal flatbuffer writer for the few Arrow tables this module emits.
 *
 * Objects are described as plain slot arrays and written front to back: root offset, then each table
 * (vtable first, table right after it, 8-byte aligned), then its children. uoffsets therefore always
 * point forward, every scalar is aligned to its own size, and the layout depends only on the shape of
 * the input, not on its values, so encoded headers can be used as templates and patched in place.
 *
 * @module
 */

/** One field value of a table. */
export type FbValue =
  | { k: "u8"; v: number }
  | { k: "bool"; v: boolean }
  | { k: "i16"; v: number }
  | { k: "i32"; v: number }
  | { k: "i64"; v: bigint }
  | { k: "table"; v: FbObject }
  | { k: "string"; v: string }
  | { k: "tables"; v: FbObject[] }
  | { k: "i32s"; v: number[] }
  | { k: "i64s"; v: bigint[] }
  // Vector of 8-byte aligned structs given as raw little-endian bytes (length = count * size).
  | { k: "structs"; size: number; v: Uint8Array };

/** A table: field values indexed by slot; undefined slots are omitted (readers use the default). */
export type FbObject = (FbValue | undefined)[];

/** Field value constructors (short names keep the table descriptions readable). */
export const fb = {
  /** Unsigned byte. */
  u8: (v: number): FbValue => ({ k: "u8", v }),
  /** Boolean. */
  bool: (v: boolean): FbValue => ({ k: "bool", v }),
  /** Signed 16-bit. */
  i16: (v: number): FbValue => ({ k: "i16", v }),
  /** Signed 32-bit. */
  i32: (v: number): FbValue => ({ k: "i32", v }),
  /** Signed 64-bit. */
  i64: (v: bigint | number): FbValue => ({ k: "i64", v: BigInt(v) }),
  /** Sub-table. */
  table: (v: FbObject): FbValue => ({ k: "table", v }),
  /** String. */
  string: (v: string): FbValue => ({ k: "string", v }),
  /** Vector of tables. */
  tables: (v: FbObject[]): FbValue => ({ k: "tables", v }),
  /** Vector of int32. */
  i32s: (v: number[]): FbValue => ({ k: "i32s", v }),
  /** Vector of int64. */
  i64s: (v: bigint[]): FbValue => ({ k: "i64s", v }),
  /** Vector of structs of `size` bytes each, given as raw bytes. */
  structs: (size: number, v: Uint8Array): FbValue => ({ k: "structs", size, v }),
};

const encoder = new TextEncoder();

function scalarWidth(f: FbValue): number {
  switch (f.k) {
    case "u8":
    case "bool":
      return 1;
    case "i16":
      return 2;
    case "i64":
      return 8;
    default:
      return 4; // i32 and every uoffset
  }
}

/**
 * The scratch buffer writers start from, kept zeroed between uses: a flatbuffer is built per message
 * (several per call), and a fresh ArrayBuffer costs far more in Deno than the build itself.
 */
let scratch: Uint8Array | null = new Uint8Array(512);

class Writer {
  buf: Uint8Array;
  dv: DataView;
  pos = 0;

  constructor(start: Uint8Array) {
    this.buf = start;
    this.dv = new DataView(start.buffer, start.byteOffset, start.byteLength);
  }

  reserve(n: number): number {
    const at = this.pos;
    const need = at + n;
    if (need > this.buf.length) {
      let cap = this.buf.length * 2;
      while (cap < need) cap *= 2;
      const next = new Uint8Array(cap);
      next.set(this.buf.subarray(0, this.pos));
      this.buf = next;
      this.dv = new DataView(next.buffer);
    }
    this.pos = need;
    return at;
  }

  // Pads with zeros (new buffers are zeroed and never written twice) until pos % align === rem.
  align(align: number, rem = 0): void {
    const pad = (align + rem - (this.pos % align)) % align;
    this.reserve(pad);
  }

  table(obj: FbObject): number {
    const present: { slot: number; f: FbValue; width: number; off: number }[] = [];
    for (let slot = 0; slot < obj.length; slot++) {
      const f = obj[slot];
      if (f) present.push({ slot, f, width: scalarWidth(f), off: 0 });
    }
    // Widest first keeps padding small; each field is aligned to its width relative to the table start.
    const ordered = [...present].sort((a, b) => b.width - a.width || a.slot - b.slot);
    let off = 4;
    for (const p of ordered) {
      off = Math.ceil(off / p.width) * p.width;
      p.off = off;
      off += p.width;
    }
    const tableSize = off;
    const slots = present.length ? present[present.length - 1].slot + 1 : 0;
    const vtSize = 4 + 2 * slots;

    this.align(2);
    const vt = this.reserve(vtSize);
    this.dv.setUint16(vt, vtSize, true);
    this.dv.setUint16(vt + 2, tableSize, true);
    for (const p of present) this.dv.setUint16(vt + 4 + 2 * p.slot, p.off, true);
    this.align(8);
    const at = this.reserve(tableSize);
    this.dv.setInt32(at, at - vt, true);

    const refs: { at: number; f: FbValue }[] = [];
    for (const p of present) {
      const q = at + p.off;
      const f = p.f;
      switch (f.k) {
        case "u8":
          this.dv.setUint8(q, f.v);
          break;
        case "bool":
          this.dv.setUint8(q, f.v ? 1 : 0);
          break;
        case "i16":
          this.dv.setInt16(q, f.v, true);
          break;
        case "i32":
          this.dv.setInt32(q, f.v, true);
          break;
        case "i64":
          this.dv.setBigInt64(q, f.v, true);
          break;
        default:
          refs.push({ at: q, f });
      }
    }
    for (const ref of refs) this.#patch(ref.at, this.#child(ref.f));
    return at;
  }

  #patch(at: number, target: number): void {
    this.dv.setUint32(at, target - at, true);
  }

  #child(f: FbValue): number {
    switch (f.k) {
      case "table":
        return this.table(f.v);
      case "string": {
        const bytes = encoder.encode(f.v);
        this.align(4);
        const at = this.reserve(4 + bytes.length + 1);
        this.dv.setUint32(at, bytes.length, true);
        this.buf.set(bytes, at + 4);
        return at;
      }
      case "tables": {
        this.align(4);
        const at = this.reserve(4 + 4 * f.v.length);
        this.dv.setUint32(at, f.v.length, true);
        f.v.forEach((t, i) => this.#patch(at + 4 + 4 * i, this.table(t)));
        return at;
      }
      case "i32s": {
        this.align(4);
        const at = this.reserve(4 + 4 * f.v.length);
        this.dv.setUint32(at, f.v.length, true);
        f.v.forEach((x, i) => this.dv.setInt32(at + 4 + 4 * i, x, true));
        return at;
      }
      case "i64s": {
        this.align(8, 4); // elements start 8-aligned after the 4-byte length
        const at = this.reserve(4 + 8 * f.v.length);
        this.dv.setUint32(at, f.v.length, true);
        f.v.forEach((x, i) => this.dv.setBigInt64(at + 4 + 8 * i, x, true));
        return at;
      }
      case "structs": {
        this.align(8, 4);
        const at = this.reserve(4 + f.v.length);
        this.dv.setUint32(at, f.v.length / f.size, true);
        this.buf.set(f.v, at + 4);
        return at;
      }
      default:
        throw new Error(`not a reference field: ${f.k}`);
    }
  }
}

/** Encodes `root` as a complete flatbuffer (root uoffset at byte 0, no file identifier). */
export function encodeFlatbuffer(root: FbObject): Uint8Array {
  // Taken while in use, so a nested or re-entered build gets a fresh buffer.
  const start = scratch ?? new Uint8Array(512);
  scratch = null;
  const w = new Writer(start);
  try {
    w.reserve(4);
    const rootPos = w.table(root);
    w.dv.setUint32(0, rootPos, true);
    return w.buf.slice(0, w.pos);
  } finally {
    // Zeroed again for the next build (padding relies on zeroed bytes); it keeps the grown size.
    w.buf.fill(0, 0, w.pos);
    scratch = w.buf;
  }
}
