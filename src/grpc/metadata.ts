/**
 * gRPC metadata values with a wire format of their own: `grpc-message`
 * (percent-encoded UTF-8), `grpc-timeout` (digits and a unit), and the gRPC
 * status a non-200 HTTP status maps to.
 *
 * @module
 */
import { Status } from "../errors.ts";

/** Percent-encode a grpc-message value (gRPC spec: bytes outside 0x20-0x7E and '%'). */
export function encodeGrpcMessage(message: string): string {
  const bytes = new TextEncoder().encode(message);
  let out = "";
  for (const b of bytes) {
    if (b >= 0x20 && b <= 0x7e && b !== 0x25) out += String.fromCharCode(b);
    else out += "%" + b.toString(16).toUpperCase().padStart(2, "0");
  }
  return out;
}

/**
 * Decode a `grpc-message` header value: percent-encoded UTF-8 (gRPC spec). Malformed escapes are
 * kept as they are; invalid UTF-8 becomes U+FFFD.
 */
export function decodeGrpcMessage(value: string): string {
  if (!value.includes("%")) return value;
  const enc = new TextEncoder();
  const bytes: number[] = [];
  const chars = [...value];
  for (let i = 0; i < chars.length; i++) {
    const hex = chars[i] === "%" ? chars.slice(i + 1, i + 3).join("") : "";
    if (/^[0-9A-Fa-f]{2}$/.test(hex)) {
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else {
      for (const b of enc.encode(chars[i])) bytes.push(b);
    }
  }
  return new TextDecoder().decode(new Uint8Array(bytes));
}

/** Parse a grpc-timeout header ("100m", "5S") into milliseconds, or undefined. */
export function parseGrpcTimeout(value: string | undefined): number | undefined {
  if (!value) return undefined;
  const m = /^(\d{1,8})([HMSmun])$/.exec(value);
  if (!m) return undefined;
  const n = Number(m[1]);
  const unitMs: Record<string, number> = { H: 3600e3, M: 60e3, S: 1e3, m: 1, u: 1e-3, n: 1e-6 };
  return n * unitMs[m[2]];
}

/** A grpc-timeout header value for `ms` milliseconds (at most 8 digits, as the spec requires). */
export function formatGrpcTimeout(ms: number): string {
  const n = Math.max(1, Math.ceil(ms));
  return n < 1e8 ? `${n}m` : `${Math.min(99_999_999, Math.ceil(n / 1000))}S`;
}

/** The gRPC status for a non-200 HTTP response (gRPC's "HTTP to gRPC status code mapping"). */
export function statusFromHttp(status: number): number {
  switch (status) {
    case 400:
      return Status.INTERNAL;
    case 401:
      return Status.UNAUTHENTICATED;
    case 403:
      return Status.PERMISSION_DENIED;
    case 404:
      return Status.UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
      return Status.UNAVAILABLE;
    default:
      return Status.UNKNOWN;
  }
}
