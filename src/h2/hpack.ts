/**
 * HPACK header compression (RFC 7541) for our HTTP/2.
 *
 * The decoder is complete (dynamic table, Huffman, table size updates) and
 * strict with hostile input: every malformation throws {@link HpackError},
 * its work is linear in the block, and it allocates at most the decoded
 * strings plus a scratch buffer of 8/5 of the longest Huffman string. The
 * encoder is stateless (static-table indexes and literals without indexing),
 * so it never has to track the peer's table size.
 *
 * Names and values are latin1 strings (one char per byte), so any byte
 * round-trips.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { huffmanDecode, huffmanEncode, huffmanLength, huffmanMaxDecoded } from "./huffman.ts";

/** A malformed or over-limit header block: the connection answers GOAWAY COMPRESSION_ERROR. */
export class HpackError extends Error {
  override name = "HpackError";
}

/**
 * The decoded header list is larger than the decoder's maxHeaderListSize. The
 * whole block was still decoded, so the dynamic table stays in step with the
 * peer's: unlike other {@link HpackError}s, the connection may survive this and
 * refuse only the stream (RFC 9113 10.5.1). Its catch-all for HpackError still
 * applies, so treating it as a connection error is also correct.
 */
export class HpackHeaderListTooLarge extends HpackError {
  override name = "HpackHeaderListTooLarge";
}

/** RFC 7541 Appendix A, index 1 first. */
const STATIC_TABLE: readonly (readonly [string, string])[] = [
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
const STATIC_LENGTH = STATIC_TABLE.length;
const STATIC_NAMES = STATIC_TABLE.map(([name]) => name);
const STATIC_VALUES = STATIC_TABLE.map(([, value]) => value);

/** Per-entry overhead counted in table and header-list sizes (RFC 7541 4.1, RFC 7540 6.5.2). */
const ENTRY_OVERHEAD = 32;
/** Integers above this are refused: no index, length or size here is legitimately larger. */
const MAX_INTEGER = 0x7fffffff;
/** Continuation bytes allowed after a full prefix: 5 carry 35 bits, one more tolerates a redundant byte. */
const MAX_CONTINUATION_BYTES = 6;
/** Strings up to this long are built char by char; longer ones by Buffer's latin1 decoder (faster there). */
const SHORT_STRING = 10;
/** The scratch buffer is kept between blocks up to this size; a longer Huffman string gets a one-off buffer. */
const SCRATCH_KEEP = 16 * 1024;
const EMPTY = new Uint8Array(0);

/** Decodes the header blocks of one connection (the dynamic table carries across blocks). */
export class HpackDecoder {
  /** Dynamic table as a ring: names[head] is the newest entry, `count` entries back from it. */
  private readonly names: string[];
  private readonly values: string[];
  private readonly capacity: number;
  private head = 0;
  private count = 0;
  /** Sum of the entries' sizes. */
  private tableSize = 0;
  /** The current limit, set by size updates (at most maxTableSize). */
  private maxSize: number;

  /** The block being decoded and the read position in it. */
  private block: Uint8Array = EMPTY;
  private pos = 0;

  /** Huffman output; `scratchText` is the same memory as a Buffer, for its latin1 decoder. */
  private scratch = new Uint8Array(256);
  private scratchText = Buffer.from(this.scratch.buffer);

  /**
   * @param maxTableSize our SETTINGS_HEADER_TABLE_SIZE: the initial table size and
   *   the most a size update may ask for (default 4096)
   * @param maxHeaderListSize limit on one decoded list: the sum of name and value
   *   lengths plus 32 per field (RFC 7540 6.5.2; default 64 KiB)
   */
  constructor(
    private readonly maxTableSize = 4096,
    private readonly maxHeaderListSize = 64 * 1024,
  ) {
    this.maxSize = maxTableSize;
    // Every entry takes at least 32 bytes, so this many always fit.
    this.capacity = Math.max(1, Math.floor(maxTableSize / ENTRY_OVERHEAD));
    this.names = new Array<string>(this.capacity).fill("");
    this.values = new Array<string>(this.capacity).fill("");
  }

  /**
   * Decode one complete header block (HEADERS and CONTINUATION payloads joined).
   * Returns the fields in order as [name, value] pairs.
   *
   * @throws HpackHeaderListTooLarge (an HpackError) if the list is larger than
   *   maxHeaderListSize; the decoder stays usable.
   * @throws HpackError on any other malformation or limit exceeded; the decoder's
   *   state is then undefined (the connection must be closed with COMPRESSION_ERROR).
   */
  decode(block: Uint8Array): [string, string][] {
    let out: [string, string][] = [];
    const end = block.length;
    let fields = 0;
    let listSize = 0;
    this.block = block;
    this.pos = 0;
    try {
      while (this.pos < end) {
        const b = block[this.pos];
        let name: string;
        let value: string;
        if (b >= 0x80) {
          // Indexed field (6.1).
          const index = this.integer(0x7f);
          if (index === 0) throw new HpackError("index 0");
          if (index <= STATIC_LENGTH) {
            name = STATIC_NAMES[index - 1];
            value = STATIC_VALUES[index - 1];
          } else {
            const slot = this.slot(index);
            name = this.names[slot];
            value = this.values[slot];
          }
        } else if (b >= 0x40) {
          // Literal with incremental indexing (6.2.1).
          const index = this.integer(0x3f);
          name = index === 0 ? this.string() : this.nameAt(index);
          value = this.string();
          this.insert(name, value);
        } else if (b >= 0x20) {
          // Dynamic table size update (6.3): only at the start of a block (4.2).
          if (fields > 0) throw new HpackError("table size update after a header field");
          const size = this.integer(0x1f);
          if (size > this.maxTableSize) {
            throw new HpackError(`table size update to ${size}, above our limit of ${this.maxTableSize}`);
          }
          this.maxSize = size;
          this.evict(0);
          continue;
        } else {
          // Literal without indexing (0000) or never indexed (0001) (6.2.2, 6.2.3).
          const index = this.integer(0x0f);
          name = index === 0 ? this.string() : this.nameAt(index);
          value = this.string();
        }
        fields++;
        listSize += name.length + value.length + ENTRY_OVERHEAD;
        // Over the limit: decode on (the table must follow the peer's) but keep nothing.
        if (listSize <= this.maxHeaderListSize) out.push([name, value]);
        else if (out.length > 0) out = [];
      }
    } finally {
      this.block = EMPTY; // don't keep the caller's buffer alive
    }
    if (listSize > this.maxHeaderListSize) {
      throw new HpackHeaderListTooLarge(
        `header list of ${listSize} bytes, larger than ${this.maxHeaderListSize} bytes`,
      );
    }
    return out;
  }

  /** Read an integer whose prefix is the low bits of the current byte (`mask` = 2^N - 1) (5.1). */
  private integer(mask: number): number {
    const block = this.block;
    let pos = this.pos;
    let value = block[pos++] & mask;
    if (value === mask) {
      let factor = 1;
      for (let n = 0;; n++) {
        if (pos >= block.length) throw new HpackError("truncated integer");
        if (n === MAX_CONTINUATION_BYTES) throw new HpackError("integer with too many continuation bytes");
        const c = block[pos++];
        value += (c & 0x7f) * factor;
        if (value > MAX_INTEGER) throw new HpackError("integer too large");
        if (c < 0x80) break;
        factor *= 128;
      }
    }
    this.pos = pos;
    return value;
  }

  /** Read a string literal, raw or Huffman-coded (5.2). */
  private string(): string {
    const block = this.block;
    if (this.pos >= block.length) throw new HpackError("truncated header block");
    const huffman = block[this.pos] >= 0x80;
    const length = this.integer(0x7f);
    const start = this.pos;
    if (length > block.length - start) throw new HpackError("string runs past the end of the block");
    this.pos = start + length;
    if (!huffman) return this.latin1(block, start, start + length);
    const max = huffmanMaxDecoded(length);
    let out = this.scratch;
    if (max > out.length) {
      out = new Uint8Array(Math.max(max, out.length * 2));
      if (out.length <= SCRATCH_KEEP) {
        this.scratch = out;
        this.scratchText = Buffer.from(out.buffer);
      }
    }
    const n = huffmanDecode(block, start, start + length, out);
    if (n < 0) throw new HpackError("invalid Huffman string (EOS inside, or bad padding)");
    return this.latin1(out, 0, n);
  }

  /** `bytes[start, end)` as a latin1 string. */
  private latin1(bytes: Uint8Array, start: number, end: number): string {
    if (end - start <= SHORT_STRING) {
      let s = "";
      for (let i = start; i < end; i++) s += String.fromCharCode(bytes[i]);
      return s;
    }
    if (bytes === this.scratch) return this.scratchText.toString("latin1", start, end);
    // The block, or a one-off Huffman buffer: a Buffer view over it.
    return Buffer.from(bytes.buffer, bytes.byteOffset + start, end - start).toString("latin1");
  }

  /** The name of a static or dynamic table entry. */
  private nameAt(index: number): string {
    return index <= STATIC_LENGTH ? STATIC_NAMES[index - 1] : this.names[this.slot(index)];
  }

  /** Ring slot of dynamic-table `index` (> STATIC_LENGTH): index 62 is the newest entry (2.3.3). */
  private slot(index: number): number {
    const back = index - STATIC_LENGTH - 1;
    if (back >= this.count) throw new HpackError(`index ${index} is past the table`);
    const slot = this.head - back;
    return slot < 0 ? slot + this.capacity : slot;
  }

  /** Add an entry, evicting the oldest ones to make room (4.4). */
  private insert(name: string, value: string): void {
    const size = name.length + value.length + ENTRY_OVERHEAD;
    if (size > this.maxSize) {
      // Larger than the whole table: it empties the table and is not added.
      this.evict(this.maxSize + 1);
      return;
    }
    this.evict(size);
    this.head = this.head + 1 === this.capacity ? 0 : this.head + 1;
    this.names[this.head] = name;
    this.values[this.head] = value;
    this.count++;
    this.tableSize += size;
  }

  /** Evict the oldest entries until `room` more bytes fit under the current maximum (4.3). */
  private evict(room: number): void {
    while (this.count > 0 && this.tableSize + room > this.maxSize) {
      let oldest = this.head - this.count + 1;
      if (oldest < 0) oldest += this.capacity;
      this.tableSize -= this.names[oldest].length + this.values[oldest].length + ENTRY_OVERHEAD;
      this.names[oldest] = this.values[oldest] = "";
      this.count--;
    }
  }
}

/** Full-match static index by `name + "\0" + value`, and first static index by name. */
const STATIC_PAIR = new Map<string, number>();
const STATIC_NAME = new Map<string, number>();
STATIC_TABLE.forEach(([name, value], i) => {
  STATIC_PAIR.set(`${name}\0${value}`, i + 1);
  if (!STATIC_NAME.has(name)) STATIC_NAME.set(name, i + 1);
});

/** Distinct short header lists remembered by an encoder (replies repeat the same few). */
const MEMO_ENTRIES = 256;
/** Lists whose memo key would be longer than this are encoded afresh each time. */
const MEMO_KEY_LIMIT = 200;

/**
 * Encodes header lists without a dynamic table, so it shares no state with the
 * peer's decoder: static-table indexed fields where name and value match,
 * literals without indexing otherwise (with a static name index where there is
 * one). Strings are Huffman-coded where that makes them shorter.
 */
export class HpackEncoder {
  private readonly memo = new Map<string, Uint8Array>();

  /**
   * Encode `headers` (lower-case ASCII names, latin1 values; char codes above 255
   * are taken modulo 256) into one header block. Blocks of short lists are
   * memoized: the result may be shared between calls and must not be modified.
   */
  encode(headers: [string, string][]): Uint8Array {
    // Lengths in the key keep it unambiguous whatever the strings contain.
    let key = "";
    for (let i = 0; i < headers.length && key.length <= MEMO_KEY_LIMIT; i++) {
      const [name, value] = headers[i];
      key += `${name.length}:${name}${value.length}:${value}`;
    }
    if (key.length > MEMO_KEY_LIMIT) return encodeList(headers);
    let block = this.memo.get(key);
    if (block === undefined) {
      block = encodeList(headers);
      if (this.memo.size >= MEMO_ENTRIES) this.memo.clear();
      this.memo.set(key, block);
    }
    return block;
  }
}

function encodeList(headers: [string, string][]): Uint8Array {
  // Per field at most: 1 + 1 bytes of representation and name index, and for
  // each string 5 bytes of length prefix and its raw length.
  let bound = 0;
  for (const [name, value] of headers) bound += name.length + value.length + 12;
  const out = new Uint8Array(bound);
  let pos = 0;

  const integer = (value: number, mask: number, first: number) => {
    if (value < mask) {
      out[pos++] = first | value;
      return;
    }
    out[pos++] = first | mask;
    value -= mask;
    while (value >= 0x80) {
      out[pos++] = (value % 0x80) | 0x80;
      value = Math.floor(value / 0x80);
    }
    out[pos++] = value;
  };
  const string = (text: string) => {
    const coded = huffmanLength(text);
    if (coded < text.length) {
      integer(coded, 0x7f, 0x80);
      pos = huffmanEncode(text, out, pos);
      return;
    }
    integer(text.length, 0x7f, 0);
    for (let i = 0; i < text.length; i++) out[pos++] = text.charCodeAt(i);
  };

  for (const [name, value] of headers) {
    const pair = STATIC_PAIR.get(`${name}\0${value}`);
    if (pair !== undefined) {
      integer(pair, 0x7f, 0x80);
      continue;
    }
    const nameIndex = STATIC_NAME.get(name);
    if (nameIndex !== undefined) integer(nameIndex, 0x0f, 0x00);
    else {
      out[pos++] = 0x00;
      string(name);
    }
    string(value);
  }
  return out.subarray(0, pos);
}
