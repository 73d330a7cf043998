/**
 * The HPACK Huffman code (RFC 7541 Appendix B). The code is canonical: within
 * one code length, codes are assigned in increasing symbol order, so the code
 * length of each symbol (0-255, and 256 = EOS) defines it completely.
 *
 * @module
 */

/** Code length in bits of symbols 0..256 (RFC 7541 Appendix B). */
const CODE_LENGTHS = [
  13,
  23,
  28,
  28,
  28,
  28,
  28,
  28,
  28,
  24,
  30,
  28,
  28,
  30,
  28,
  28,
  28,
  28,
  28,
  28,
  28,
  28,
  30,
  28,
  28,
  28,
  28,
  28,
  28,
  28,
  28,
  28,
  6,
  10,
  10,
  12,
  13,
  6,
  8,
  11,
  10,
  10,
  8,
  11,
  8,
  6,
  6,
  6,
  5,
  5,
  5,
  6,
  6,
  6,
  6,
  6,
  6,
  6,
  7,
  8,
  15,
  6,
  12,
  10,
  13,
  6,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  8,
  7,
  8,
  13,
  19,
  13,
  14,
  6,
  15,
  5,
  6,
  5,
  6,
  5,
  6,
  6,
  6,
  5,
  7,
  7,
  6,
  6,
  6,
  5,
  6,
  7,
  6,
  5,
  5,
  6,
  7,
  7,
  7,
  7,
  7,
  15,
  11,
  14,
  13,
  28,
  20,
  22,
  20,
  20,
  22,
  22,
  22,
  23,
  22,
  23,
  23,
  23,
  23,
  23,
  24,
  23,
  24,
  24,
  22,
  23,
  24,
  23,
  23,
  23,
  23,
  21,
  22,
  23,
  22,
  23,
  23,
  24,
  22,
  21,
  20,
  22,
  22,
  23,
  23,
  21,
  23,
  22,
  22,
  24,
  21,
  22,
  23,
  23,
  21,
  21,
  22,
  21,
  23,
  22,
  23,
  23,
  20,
  22,
  22,
  22,
  23,
  22,
  22,
  23,
  26,
  26,
  20,
  19,
  22,
  23,
  22,
  25,
  26,
  26,
  26,
  27,
  27,
  26,
  24,
  25,
  19,
  21,
  26,
  27,
  27,
  26,
  27,
  24,
  21,
  21,
  26,
  26,
  28,
  27,
  27,
  27,
  20,
  24,
  20,
  21,
  22,
  21,
  21,
  23,
  22,
  22,
  25,
  25,
  24,
  24,
  26,
  23,
  26,
  27,
  26,
  26,
  27,
  27,
  27,
  27,
  27,
  28,
  27,
  27,
  27,
  27,
  27,
  26,
  30,
];

/** The end-of-string symbol: never valid inside a string. */
const EOS = 256;
const MAX_LENGTH = 30;

/** Per code length: the first code, how many codes, and where their symbols start in SORTED. */
const FIRST_CODE = new Array<number>(MAX_LENGTH + 1).fill(0);
const COUNT = new Array<number>(MAX_LENGTH + 1).fill(0);
const OFFSET = new Array<number>(MAX_LENGTH + 1).fill(0);
/** Symbols ordered by (code length, symbol). */
const SORTED: number[] = [];
/** Code of each symbol, for the encoder. */
const CODES = new Array<number>(257).fill(0);

(function build() {
  for (const len of CODE_LENGTHS) COUNT[len]++;
  let code = 0;
  let offset = 0;
  for (let len = 1; len <= MAX_LENGTH; len++) {
    FIRST_CODE[len] = code;
    OFFSET[len] = offset;
    for (let sym = 0; sym <= EOS; sym++) {
      if (CODE_LENGTHS[sym] !== len) continue;
      CODES[sym] = code++;
      SORTED.push(sym);
    }
    offset += COUNT[len];
    code *= 2;
  }
})();

/** Decode `bytes` into `out` (latin1 bytes); returns the length, or throws on a malformed string. */
export function huffmanDecode(bytes: Uint8Array, out: Uint8Array): number {
  let n = 0;
  let code = 0;
  let len = 0;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    for (let bit = 7; bit >= 0; bit--) {
      code = code * 2 + ((b >> bit) & 1);
      len++;
      const index = code - FIRST_CODE[len];
      if (index >= 0 && index < COUNT[len]) {
        const sym = SORTED[OFFSET[len] + index];
        if (sym === EOS) throw new Error("EOS symbol inside a Huffman string");
        out[n++] = sym;
        code = 0;
        len = 0;
      } else if (len >= MAX_LENGTH) {
        throw new Error("invalid Huffman code");
      }
    }
  }
  // Padding: fewer than 8 bits, all ones (a prefix of EOS).
  if (len > 7 || code !== 2 ** len - 1) throw new Error("invalid Huffman padding");
  return n;
}

/** Upper bound of the decoded length of `encodedLength` Huffman bytes (shortest code: 5 bits). */
export function huffmanMaxDecoded(encodedLength: number): number {
  return Math.ceil((encodedLength * 8) / 5);
}

/** Encoded length in bytes of latin1 `text`. */
export function huffmanLength(text: string): number {
  let bits = 0;
  for (let i = 0; i < text.length; i++) bits += CODE_LENGTHS[text.charCodeAt(i) & 0xff];
  return Math.ceil(bits / 8);
}

/** Huffman-encode latin1 `text` into `out` at `pos`; returns the new position. */
export function huffmanEncode(text: string, out: Uint8Array, pos: number): number {
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < text.length; i++) {
    const sym = text.charCodeAt(i) & 0xff;
    const len = CODE_LENGTHS[sym];
    let code = CODES[sym];
    let left = len;
    // Emit in pieces of at most 8 bits so the accumulator stays within 32-bit ints.
    while (left > 0) {
      const take = Math.min(left, 8);
      left -= take;
      acc = (acc << take) | ((code / 2 ** left) & ((1 << take) - 1));
      code = code % 2 ** left;
      bits += take;
      while (bits >= 8) {
        bits -= 8;
        out[pos++] = (acc >> bits) & 0xff;
      }
      acc &= (1 << bits) - 1;
    }
  }
  if (bits > 0) out[pos++] = ((acc << (8 - bits)) | ((1 << (8 - bits)) - 1)) & 0xff;
  return pos;
}
