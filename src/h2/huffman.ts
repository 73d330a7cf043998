/**
 * The HPACK Huffman code (RFC 7541 Appendix B), with a table-driven decoder
 * and an encoder.
 *
 * The code is canonical: within one code length, codes are assigned in
 * increasing symbol order, so the code length of each symbol (0-255, and
 * 256 = EOS) defines it completely; the codes are rebuilt from the lengths
 * when this module loads. Decoding walks a state machine four bits at a
 * time: a state is an internal node of the code tree, and since the shortest
 * code has 5 bits, one nibble completes at most one symbol.
 *
 * @module
 */

/** Code length in bits of symbols 0..256 (RFC 7541 Appendix B), sixteen per row. */
// deno-fmt-ignore
const CODE_LENGTHS: readonly number[] = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, //   0-15
  28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28, //  16-31
   6, 10, 10, 12, 13,  6,  8, 11, 10, 10,  8, 11,  8,  6,  6,  6, //  32-47  ' ' .. '/'
   5,  5,  5,  6,  6,  6,  6,  6,  6,  6,  7,  8, 15,  6, 12, 10, //  48-63  '0' .. '?'
  13,  6,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7, //  64-79  '@' .. 'O'
   7,  7,  7,  7,  7,  7,  7,  7,  8,  7,  8, 13, 19, 13, 14,  6, //  80-95  'P' .. '_'
  15,  5,  6,  5,  6,  5,  6,  6,  6,  5,  7,  7,  6,  6,  6,  5, //  96-111 '`' .. 'o'
   6,  7,  6,  5,  5,  6,  7,  7,  7,  7,  7, 15, 11, 14, 13, 28, // 112-127 'p' .. DEL
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, // 128-143
  24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, // 144-159
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, // 160-175
  21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23, // 176-191
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, // 192-207
  19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, // 208-223
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, // 224-239
  26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, // 240-255
  30,                                                             // 256 EOS
];

/** The end-of-string symbol: its code (30 ones) is never valid inside a string. */
const EOS = 256;

/** Code length of each symbol 0..256 (256 = EOS). */
export const HUFFMAN_LENGTHS: Uint8Array = Uint8Array.from(CODE_LENGTHS);
/** Code of each symbol 0..256 (right-aligned in its length), rebuilt from the lengths. */
export const HUFFMAN_CODES: Uint32Array = new Uint32Array(257);

// Decoder state machine. States are the internal nodes of the code tree (256 of
// them for 257 leaves), state 0 the root. TRANSITIONS[state * 16 + nibble] packs
// the next state (bits 0-7), the symbol completed on the way (bits 8-15), and
// the EMIT and FAIL flags.
const EMIT = 1 << 16;
const FAIL = 1 << 17;
const TRANSITIONS = new Int32Array(256 * 16);
/** 1 where a string may end in that state: at most 7 bits since the last symbol, all ones. */
const ACCEPTS = new Uint8Array(256);

(function build() {
  // Canonical codes: sort by (length, symbol) and count upwards, shifting left
  // whenever the length grows.
  const order = Array.from({ length: 257 }, (_, s) => s).sort((a, b) =>
    CODE_LENGTHS[a] - CODE_LENGTHS[b] || a - b
  );
  let code = 0;
  let len = CODE_LENGTHS[order[0]];
  let kraft = 0;
  for (const sym of order) {
    code *= 2 ** (CODE_LENGTHS[sym] - len);
    len = CODE_LENGTHS[sym];
    HUFFMAN_CODES[sym] = code++;
    kraft += 2 ** -len;
  }
  // A complete prefix code leaves no bit pattern undefined, so the walk below never dead-ends.
  if (kraft !== 1) throw new Error("HPACK Huffman table is not a complete prefix code");

  // The tree: children[node * 2 + bit] is an internal node (>= 0) or ~symbol (< 0).
  const children = new Int32Array(256 * 2).fill(-1 << 30);
  let nodes = 1;
  for (let sym = 0; sym <= EOS; sym++) {
    const length = CODE_LENGTHS[sym];
    let node = 0;
    for (let i = length - 1; i >= 0; i--) {
      const bit = Math.floor(HUFFMAN_CODES[sym] / 2 ** i) & 1;
      const slot = node * 2 + bit;
      if (i === 0) children[slot] = ~sym;
      else {
        if (children[slot] === -1 << 30) children[slot] = nodes++;
        node = children[slot];
      }
    }
  }
  if (nodes !== 256) throw new Error("HPACK Huffman tree has an unexpected shape");

  // The accepting states: the all-ones path from the root, up to depth 7.
  for (let node = 0, depth = 0; depth <= 7 && node >= 0; depth++) {
    ACCEPTS[node] = 1;
    node = children[node * 2 + 1];
  }

  for (let state = 0; state < 256; state++) {
    for (let nibble = 0; nibble < 16; nibble++) {
      let node = state;
      let entry = 0;
      for (let i = 3; i >= 0; i--) {
        const next = children[node * 2 + ((nibble >> i) & 1)];
        if (next >= 0) {
          node = next;
          continue;
        }
        const sym = ~next;
        if (sym === EOS) {
          entry = FAIL;
          break;
        }
        entry = EMIT | (sym << 8);
        node = 0;
      }
      TRANSITIONS[state * 16 + nibble] = entry | node;
    }
  }
})();

/**
 * Decode the Huffman string `bytes[start, end)` into `out` from index 0.
 * `out` must hold at least {@link huffmanMaxDecoded}`(end - start)` bytes.
 *
 * @returns the decoded length, or -1 if the string is malformed: it contains
 *   EOS, or its padding is longer than 7 bits or not all ones.
 */
export function huffmanDecode(bytes: Uint8Array, start: number, end: number, out: Uint8Array): number {
  let n = 0;
  let state = 0;
  for (let i = start; i < end; i++) {
    const b = bytes[i];
    let e = TRANSITIONS[(state << 4) | (b >> 4)];
    if (e & FAIL) return -1;
    if (e & EMIT) out[n++] = e >> 8;
    e = TRANSITIONS[((e & 0xff) << 4) | (b & 0xf)];
    if (e & FAIL) return -1;
    if (e & EMIT) out[n++] = e >> 8;
    state = e & 0xff;
  }
  return ACCEPTS[state] === 1 ? n : -1;
}

/** Upper bound of the decoded length of `encodedLength` Huffman bytes (the shortest code has 5 bits). */
export function huffmanMaxDecoded(encodedLength: number): number {
  return Math.ceil((encodedLength * 8) / 5);
}

/** Huffman-coded length in bytes of latin1 `text` (each char code is taken modulo 256). */
export function huffmanLength(text: string): number {
  let bits = 0;
  for (let i = 0; i < text.length; i++) bits += HUFFMAN_LENGTHS[text.charCodeAt(i) & 0xff];
  return (bits + 7) >>> 3;
}

/**
 * Huffman-encode latin1 `text` (each char code taken modulo 256) into `out` at
 * `pos`, padded with ones to a whole byte. `out` must have room for
 * {@link huffmanLength}`(text)` bytes.
 *
 * @returns the position after the last byte written.
 */
export function huffmanEncode(text: string, out: Uint8Array, pos: number): number {
  // acc holds fewer than 8 pending bits between symbols; a code of up to 24 bits
  // then fits a 31-bit int, longer ones go in two pieces.
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < text.length; i++) {
    const sym = text.charCodeAt(i) & 0xff;
    const len = HUFFMAN_LENGTHS[sym];
    const code = HUFFMAN_CODES[sym];
    if (len <= 24) {
      acc = (acc << len) | code;
      bits += len;
    } else {
      acc = (acc << (len - 16)) | (code >>> 16);
      bits += len - 16;
      while (bits >= 8) {
        bits -= 8;
        out[pos++] = acc >>> bits;
      }
      acc = ((acc & ((1 << bits) - 1)) << 16) | (code & 0xffff);
      bits += 16;
    }
    while (bits >= 8) {
      bits -= 8;
      out[pos++] = acc >>> bits;
    }
    acc &= (1 << bits) - 1;
  }
  // Pad with the most significant bits of EOS (all ones).
  if (bits > 0) out[pos++] = (acc << (8 - bits)) | (0xff >>> bits);
  return pos;
}
