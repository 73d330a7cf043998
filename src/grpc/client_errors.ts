/**
 * Typed errors of the gRPC client (re-exported by the SDK, src/client/errors.ts): every failed call becomes a {@link CacheClientError}
 * carrying the gRPC status code, its name and the server's message
 * (percent-decoded `grpc-message`). Common codes have their own subclasses, so
 * callers can write `if (err instanceof NotFoundError)`.
 *
 * @module
 */
import { Status, statusName } from "../errors.ts";

export { Status };

/** A failed cache call: `code` is the gRPC status code, `codeName` its name (e.g. `NOT_FOUND`). */
export class CacheClientError extends Error {
  /** gRPC status code (see {@link Status}). */
  readonly code: number;
  /** Status name, e.g. `NOT_FOUND`, `UNAVAILABLE`. */
  readonly codeName: string;

  /** Build an error with a status code and the (decoded) server message. */
  constructor(code: number, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "CacheClientError";
    this.code = code;
    this.codeName = statusName(code);
  }
}

/** NOT_FOUND: the object (or patch target) does not exist. */
export class NotFoundError extends CacheClientError {
  /** See {@link CacheClientError}. */
  constructor(message: string, options?: { cause?: unknown }) {
    super(Status.NOT_FOUND, message, options);
    this.name = "NotFoundError";
  }
}

/** INVALID_ARGUMENT: bad key, ticket or payload. */
export class InvalidArgumentError extends CacheClientError {
  /** See {@link CacheClientError}. */
  constructor(message: string, options?: { cause?: unknown }) {
    super(Status.INVALID_ARGUMENT, message, options);
    this.name = "InvalidArgumentError";
  }
}

/** UNAUTHENTICATED: no, wrong or expired credentials. */
export class UnauthenticatedError extends CacheClientError {
  /** See {@link CacheClientError}. */
  constructor(message: string, options?: { cause?: unknown }) {
    super(Status.UNAUTHENTICATED, message, options);
    this.name = "UnauthenticatedError";
  }
}

/** PERMISSION_DENIED: the credentials may not touch this application. */
export class PermissionDeniedError extends CacheClientError {
  /** See {@link CacheClientError}. */
  constructor(message: string, options?: { cause?: unknown }) {
    super(Status.PERMISSION_DENIED, message, options);
    this.name = "PermissionDeniedError";
  }
}

/** RESOURCE_EXHAUSTED: object too large, cache or disk full. */
export class ResourceExhaustedError extends CacheClientError {
  /** See {@link CacheClientError}. */
  constructor(message: string, options?: { cause?: unknown }) {
    super(Status.RESOURCE_EXHAUSTED, message, options);
    this.name = "ResourceExhaustedError";
  }
}

/** UNAVAILABLE: the server cannot be reached or is shutting down (safe to retry). */
export class UnavailableError extends CacheClientError {
  /** See {@link CacheClientError}. */
  constructor(message: string, options?: { cause?: unknown }) {
    super(Status.UNAVAILABLE, message, options);
    this.name = "UnavailableError";
  }
}

/** DATA_LOSS: stored data is corrupt. */
export class DataLossError extends CacheClientError {
  /** See {@link CacheClientError}. */
  constructor(message: string, options?: { cause?: unknown }) {
    super(Status.DATA_LOSS, message, options);
    this.name = "DataLossError";
  }
}

/** DEADLINE_EXCEEDED: the call's timeout passed. */
export class DeadlineExceededError extends CacheClientError {
  /** See {@link CacheClientError}. */
  constructor(message: string, options?: { cause?: unknown }) {
    super(Status.DEADLINE_EXCEEDED, message, options);
    this.name = "DeadlineExceededError";
  }
}

/** CANCELLED: the call was aborted (by the caller's signal or the server). */
export class CancelledError extends CacheClientError {
  /** See {@link CacheClientError}. */
  constructor(message: string, options?: { cause?: unknown }) {
    super(Status.CANCELLED, message, options);
    this.name = "CancelledError";
  }
}

const BY_CODE: Record<number, new (message: string, options?: { cause?: unknown }) => CacheClientError> = {
  [Status.NOT_FOUND]: NotFoundError,
  [Status.INVALID_ARGUMENT]: InvalidArgumentError,
  [Status.UNAUTHENTICATED]: UnauthenticatedError,
  [Status.PERMISSION_DENIED]: PermissionDeniedError,
  [Status.RESOURCE_EXHAUSTED]: ResourceExhaustedError,
  [Status.UNAVAILABLE]: UnavailableError,
  [Status.DATA_LOSS]: DataLossError,
  [Status.DEADLINE_EXCEEDED]: DeadlineExceededError,
  [Status.CANCELLED]: CancelledError,
};

/** The error for a status code: the matching subclass, else a plain {@link CacheClientError}. */
export function errorFromStatus(code: number, message: string, cause?: unknown): CacheClientError {
  const Ctor = BY_CODE[code];
  const options = cause === undefined ? undefined : { cause };
  return Ctor ? new Ctor(message, options) : new CacheClientError(code, message, options);
}

/** A malformed reply from the server (INTERNAL, like other gRPC clients report parse failures). */
export function badReply(what: string, cause?: unknown): CacheClientError {
  const detail = cause instanceof Error ? `: ${cause.message}` : "";
  return new CacheClientError(Status.INTERNAL, `malformed reply from the server (${what})${detail}`, {
    cause,
  });
}

/** Turn anything thrown into a {@link CacheClientError} (network errors become UNAVAILABLE). */
export function asClientError(err: unknown, fallbackCode: number = Status.UNAVAILABLE): CacheClientError {
  if (err instanceof CacheClientError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return errorFromStatus(fallbackCode, message, err);
}
