/**
 * Errors that carry a gRPC status code, so every layer can fail with the status
 * the client must see (INVALID_ARGUMENT, NOT_FOUND, ...) without knowing about gRPC.
 *
 * @module
 */

/** gRPC status codes (https://grpc.github.io/grpc/core/md_doc_statuscodes.html). */
export const Status = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

/** A gRPC status code number. */
export type StatusCode = typeof Status[keyof typeof Status];

/** Name of a status code, e.g. `NOT_FOUND`, for logs and error messages. */
export function statusName(code: number): string {
  for (const [name, value] of Object.entries(Status)) if (value === code) return name;
  return `CODE_${code}`;
}

/** An error whose message is safe to send to the client with the given status code. */
export class CacheError extends Error {
  readonly code: StatusCode;
  constructor(code: StatusCode, message: string) {
    super(message);
    this.name = "CacheError";
    this.code = code;
  }
}

/** Shorthand constructors, so call sites read as the status they raise. */
export const invalidArgument = (msg: string): CacheError => new CacheError(Status.INVALID_ARGUMENT, msg);
export const notFound = (msg: string): CacheError => new CacheError(Status.NOT_FOUND, msg);
export const resourceExhausted = (msg: string): CacheError => new CacheError(Status.RESOURCE_EXHAUSTED, msg);
export const internal = (msg: string): CacheError => new CacheError(Status.INTERNAL, msg);
export const unimplemented = (msg: string): CacheError => new CacheError(Status.UNIMPLEMENTED, msg);
export const dataLoss = (msg: string): CacheError => new CacheError(Status.DATA_LOSS, msg);
export const unavailable = (msg: string): CacheError => new CacheError(Status.UNAVAILABLE, msg);
