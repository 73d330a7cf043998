/**
 * HPACK header compression (RFC 7541) for our HTTP/2. The decoder is complete
 * (dynamic table, Huffman, size updates) and strict with hostile input; the
 * encoder is stateless (static-table indexes and literals without indexing),
 * so it never has to track the peer's table.
 *
 * @module
 */
import { huffmanDecode, huffmanEncode, huffmanLength, huffmanMaxDecoded } from "./huffman.ts";

/** A malformed or over-limit header block: the connection answers GOAWAY COMPRESSION_ERROR. */
export class HpackError extends Error {}

/** RFC 7541 Appendix A. */
const STATIC_TABLE: [string, string][] = [
  [":authority", ""],
  [":method", "GET"],
  [":method", "POST"],
  [":path", "/"],
  [":path", "/index.html"],
  [":scheme", "http"],
  [":scheme", "https"],
  [":status", "200"],
  [":status", "204"],
  [":status", "206"],
  [":status", "304"],
  [":status", "400"],
  [":status", "404"],
  [":status", "500"],
  ["accept-charset", ""],
  ["accept-encoding", "gzip, deflate"],
  ["accept-language", ""],
  ["accept-ranges", ""],
  ["accept", ""],
  ["access-control-allow-origin", ""],
  ["age", ""],
  ["allow", ""],
  ["authorization", ""],
  ["cache-control", ""],
  ["content-disposition", ""],
  ["content-encoding", ""],
  ["content-language", ""],
  ["content-length", ""],
  ["content-location", ""],
  ["content-range", ""],
  ["content-type", ""],
  ["cookie", ""],
  ["date", ""],
  ["etag", ""],
  ["expect", ""],
  ["expires", ""],
  ["from", ""],
  ["host", ""],
  ["if-match", ""],
  ["if-modified-since", ""],
  ["if-none-match", ""],
  ["if-range", ""],
  ["if-unmodified-since", ""],
  ["last-modified", ""],
  ["link", ""],
  ["location", ""],
  ["max-forwards", ""],
  ["proxy-authenticate", ""],
  ["proxy-authorization", ""],
  ["range", ""],
  ["referer", ""],
  ["refresh", ""],
  ["retry-after", ""],
  ["server", ""],
  ["set-cookie", ""],
  ["strict-transport-security", ""],
  ["transfer-encoding", ""],
  ["user-agent", ""],
  ["vary", ""],
  ["via", ""],
  ["www-authenticate", ""],
];

/** Per-entry overhead counted in table and header-list sizes (RFC 7541 4.1). */
const ENTRY_OVERHEAD = 32;
/** Integers above this are refused (no field or size here is legitimately larger). */
const MAX_INTEGER = 0x7fffffff;

function latin1(bytes: Uint8Array, start: number, end: number): string {
  let s = "";
  for (let i = start; i < end; i += 8192) {
    s += String.fromCharCode.apply(null, bytes.subarray(i, Math.min(end, i + 8192)) as unknown as number[]);
  }
  return s;
}

/** Decodes header blocks of one connection (the dynamic table carries across blocks). */
export class HpackDecoder {
  /** Dynamic table, oldest first. */
  private readonly table: [string, string][] = [];
  private tableSize = 0;
  private maxSize: number;
  private scratch = new Uint8Array(256);

  /**
   * @param maxTableSize our SETTINGS_HEADER_TABLE_SIZE (the most a size update may ask for)
   * @param maxHeaderListSize limit on the decoded list (names + values + 32 per field)
   */
  constructor(private readonly maxTableSize = 4096, private readonly maxHeaderListSize = 64 * 1024) {
    this.maxSize = maxTableSize;
  }

  /** Decode one complete header block into [name, value] pairs, in order. */
  decode(block: Uint8Array): [string, string][] {
    const out: [string, string][] = [];
    let pos = 0;
    let listSize = 0;
    const end = block.length;

    const integer = (prefixBits: number): number => {
      const mask = (1 << prefixBits) - 1;
      let value = block[pos++] & mask;
      if (value < mask) return value;
      let shift = 0;
      while (true) {
        if (pos >= end) throw new HpackError("truncated integer");
        const b = block[pos++];
        value += (b & 0x7f) * 2 ** shift;
        shift += 7;
        if (value > MAX_INTEGER) throw new HpackError("integer too large");
        if ((b & 0x80) === 0) return value;
      }
    };

    const string = (): string => {
      if (pos >= end) throw new HpackError("truncated string");
      const huffman = (block[pos] & 0x80) !== 0;
      const length = integer(7);
      if (length > end - pos) throw new HpackError("string runs past the block");
      const start = pos;
      pos += length;
      if (!huffman) return latin1(block, start, pos);
      const max = huffmanMaxDecoded(length);
      if (this.scratch.length < max) this.scratch = new Uint8Array(Math.max(max, this.scratch.length * 2));
      let n: number;
      try {
        n = huffmanDecode(block.subarray(start, pos), this.scratch);
      } catch (err) {
        throw new HpackError((err as Error).message);
      }
      return latin1(this.scratch, 0, n);
    };

    const entry = (index: number): [string, string] => {
      if (index === 0) throw new HpackError("index 0");
      if (index <= STATIC_TABLE.length) return STATIC_TABLE[index - 1];
      const d = index - STATIC_TABLE.length;
      if (d > this.table.length) throw new HpackError(`index ${index} is past the table`);
      return this.table[this.table.length - d];
    };

    const emit = (name: string, value: string) => {
      listSize += name.length + value.length + ENTRY_OVERHEAD;
      if (listSize > this.maxHeaderListSize) {
        throw new HpackError(`header list larger than ${this.maxHeaderListSize} bytes`);
      }
      out.push([name, value]);
    };

    while (pos < end) {
      const b = block[pos];
      if (b & 0x80) {
        const [name, value] = entry(integer(7));
        emit(name, value);
      } else if (b & 0x40) {
        const index = integer(6);
        const name = index === 0 ? string() : entry(index)[0];
        const value = string();
        this.insert(name, value);
        emit(name, value);
      } else if (b & 0x20) {
        // Dynamic table size update: only before the first field of a block.
        if (out.length > 0) throw new HpackError("table size update after a header field");
        const size = integer(5);
        if (size > this.maxTableSize) {
          throw new HpackError(`table size ${size} above the ${this.maxTableSize} limit`);
        }
        this.maxSize = size;
        this.evict(0);
      } else {
        // Literal without indexing (0000) or never indexed (0001).
        const index = integer(4);
        const name = index === 0 ? string() : entry(index)[0];
        emit(name, string());
      }
    }
    return out;
  }

  private insert(name: string, value: string): void {
    const size = name.length + value.length + ENTRY_OVERHEAD;
    this.evict(size);
    if (size > this.maxSize) return; // too large: the table is emptied and it is not added
    this.table.push([name, value]);
    this.tableSize += size;
  }

  /** Evict the oldest entries until `room` more bytes fit. */
  private evict(room: number): void {
    let drop = 0;
    while (this.tableSize + room > this.maxSize && drop < this.table.length) {
      const [n, v] = this.table[drop++];
      this.tableSize -= n.length + v.length + ENTRY_OVERHEAD;
    }
    if (drop > 0) this.table.splice(0, drop);
  }
}

const STATIC_PAIR = new Map<string, number>();
const STATIC_NAME = new Map<string, number>();
STATIC_TABLE.forEach(([name, value], i) => {
  STATIC_PAIR.set(`${name}\0${value}`, i + 1);
  if (!STATIC_NAME.has(name)) STATIC_NAME.set(name, i + 1);
});

/** Distinct short header lists remembered by an encoder (replies repeat the same few). */
const MEMO_ENTRIES = 256;

/** Encodes header lists without a dynamic table (no state shared with the peer). */
export class HpackEncoder {
  private readonly memo = new Map<string, Uint8Array>();

  /** Encode `headers` (lower-case names, latin1 values) into one header block. */
  encode(headers: [string, string][]): Uint8Array {
    let key = "";
    for (const [n, v] of headers) key += n + "\0" + v + "\0";
    if (key.length > 200) return this.encodeList(headers);
    let block = this.memo.get(key);
    if (block === undefined) {
      block = this.encodeList(headers);
      if (this.memo.size >= MEMO_ENTRIES) this.memo.clear();
      this.memo.set(key, block);
    }
    return block;
  }

  private encodeList(headers: [string, string][]): Uint8Array {
    let bound = 0;
    for (const [n, v] of headers) bound += n.length + v.length + 12;
    const out = new Uint8Array(bound);
    let pos = 0;
    const integer = (value: number, prefixBits: number, first: number) => {
      const mask = (1 << prefixBits) - 1;
      if (value < mask) {
        out[pos++] = first | value;
        return;
      }
      out[pos++] = first | mask;
      value -= mask;
      while (value >= 0x80) {
        out[pos++] = (value & 0x7f) | 0x80;
        value = Math.floor(value / 128);
      }
      out[pos++] = value;
    };
    const string = (text: string) => {
      const h = huffmanLength(text);
      if (h < text.length) {
        integer(h, 7, 0x80);
        pos = huffmanEncode(text, out, pos);
        return;
      }
      integer(text.length, 7, 0);
      for (let i = 0; i < text.length; i++) out[pos++] = text.charCodeAt(i) & 0xff;
    };
    for (const [name, value] of headers) {
      const pair = STATIC_PAIR.get(`${name}\0${value}`);
      if (pair !== undefined) {
        integer(pair, 7, 0x80);
        continue;
      }
      const nameIndex = STATIC_NAME.get(name);
      if (nameIndex !== undefined) integer(nameIndex, 4, 0);
      else {
        out[pos++] = 0;
        string(name);
      }
      string(value);
    }
    return out.subarray(0, pos);
  }
}
