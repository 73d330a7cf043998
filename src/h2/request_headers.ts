/**
 * Request header validation (RFC 9113 8.2-8.3): a request whose header block
 * breaks these rules is malformed, and the server resets its stream with
 * PROTOCOL_ERROR before any handler sees it. A few comparisons per field: no
 * allocation beyond the header record the request needs anyway.
 *
 * Field values are not scanned (RFC 9113 8.2.1 also bans NUL, CR and LF in
 * them, and leading or trailing whitespace): that would cost more than all
 * the other checks together on every call, and nothing here writes a value
 * back into HTTP/1.1 framing, where those characters would matter.
 *
 * @module
 */

/** The pseudo-header fields a request may carry (no extended CONNECT, so no `:protocol`). */
const REQUEST_PSEUDO = new Set([":method", ":scheme", ":path", ":authority"]);
/** Header fields that only make sense on an HTTP/1.1 connection (RFC 9113 8.2.2). */
const CONNECTION_SPECIFIC = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
]);
/** A content-length value: digits only. */
const DIGITS = /^[0-9]{1,15}$/;
const COLON = 0x3a;

/** A record without Object.prototype in its chain that still gets V8's fast properties. */
const HeaderRecord = function () {} as unknown as { new (): object };
HeaderRecord.prototype = Object.create(null);

/**
 * The request's header fields as a record (repeated names joined with ", "),
 * or null when the request is malformed: an invalid or uppercase name, an
 * unknown, repeated or late pseudo-header, a connection-specific field, `te`
 * other than "trailers", a missing `:method`, `:scheme` or `:path` (or a
 * CONNECT without `:authority`), an empty `:path`, or a content-length that is
 * not a number.
 */
export function requestHeaders(fields: [string, string][]): Record<string, string> | null {
  // No prototype: a field named "constructor" or "__proto__" is just a field.
  const headers = new HeaderRecord() as Record<string, string>;
  let regularSeen = false;
  for (let i = 0; i < fields.length; i++) {
    const name = fields[i][0];
    const value = fields[i][1];
    if (name.charCodeAt(0) === COLON) {
      if (regularSeen || !REQUEST_PSEUDO.has(name) || headers[name] !== undefined) return null;
      headers[name] = value;
      continue;
    }
    regularSeen = true;
    if (!validRegularField(name, value)) return null;
    const prior = headers[name];
    headers[name] = prior === undefined ? value : `${prior}, ${value}`;
  }
  const method = headers[":method"];
  if (method === undefined) return null;
  if (method === "CONNECT") {
    // RFC 9113 8.5: CONNECT names only the authority.
    if (!headers[":authority"] || headers[":scheme"] !== undefined || headers[":path"] !== undefined) {
      return null;
    }
  } else if (headers[":scheme"] === undefined || !headers[":path"]) {
    return null;
  }
  const length = headers["content-length"];
  if (length !== undefined && !DIGITS.test(length)) return null;
  return headers;
}

/** True when a trailer block is well formed: no pseudo-header, only valid regular fields. */
export function validTrailers(fields: [string, string][]): boolean {
  for (let i = 0; i < fields.length; i++) {
    const name = fields[i][0];
    const value = fields[i][1];
    if (name.charCodeAt(0) === COLON || !validRegularField(name, value)) return false;
  }
  return true;
}

/** A regular (non-pseudo) field: a valid lowercase name, not connection-specific, `te` only "trailers". */
function validRegularField(name: string, value: string): boolean {
  if (!validName(name) || CONNECTION_SPECIFIC.has(name)) return false;
  return name !== "te" || value === "trailers";
}

/** RFC 9113 8.2.1: no control character, space, uppercase letter, colon or non-ASCII in a name. */
function validName(name: string): boolean {
  if (name.length === 0) return false;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f || (c >= 0x41 && c <= 0x5a) || c === COLON) return false;
  }
  return true;
}
