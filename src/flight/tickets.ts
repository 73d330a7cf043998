/**
 * DoGet tickets: `<key>[:<version>]`. Version 0 (or none) asks for the whole
 * object; the client's cached version asks for "not modified" or only the
 * newer patches.
 *
 * @module
 */
import { invalidArgument } from "../errors.ts";
import { decodeUtf8 } from "./messages.ts";
import { parseObjectKey } from "./keys.ts";

/** A parsed ticket. */
export interface Ticket {
  key: string;
  /** Client's cached version; 0 = none. Versions beyond 2^53 are kept as Infinity. */
  version: number;
}

const U64_MAX = 18446744073709551615n;

/** Parse ticket bytes. INVALID_ARGUMENT on bad UTF-8, key or version. */
export function parseTicket(bytes: Uint8Array): Ticket {
  const text = decodeUtf8(bytes, "Invalid ticket: ticket");
  const colon = text.indexOf(":");
  const key = parseObjectKey(colon < 0 ? text : text.slice(0, colon));
  if (colon < 0) return { key, version: 0 };
  return { key, version: parseVersion(text.slice(colon + 1)) };
}

/** Parse an unsigned 64-bit decimal version, with Rust's error wording (Flame clients show it). */
export function parseVersion(text: string): number {
  if (text === "") throw invalidArgument("Invalid version: cannot parse integer from empty string");
  if (!/^\+?[0-9]+$/.test(text)) throw invalidArgument("Invalid version: invalid digit found in string");
  const big = BigInt(text);
  if (big > U64_MAX) throw invalidArgument("Invalid version: number too large to fit in target type");
  return big > BigInt(Number.MAX_SAFE_INTEGER) ? Infinity : Number(big);
}
