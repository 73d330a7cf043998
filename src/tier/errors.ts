/**
 * Typed tier errors. Each is a {@link CacheError}, so the server can send its status as is:
 * - {@link TierUnavailableError} (UNAVAILABLE, retryable): connection refused/reset, timeout, HTTP 5xx,
 *   throttling. Nothing was committed, or the commit's outcome is unknown and the caller may retry.
 * - {@link TierNotFoundError} (NOT_FOUND): no such object/record/blob.
 * - {@link TierPreconditionError} (FAILED_PRECONDITION): a conditional write lost (HTTP 412); the
 *   version protocol handles it internally by re-reading.
 * - {@link TierCredentialsError} (INTERNAL): the store refused our credentials (HTTP 401/403). Retrying
 *   does not help and it is not the client's fault: the server's configuration is wrong.
 * - {@link TierConfigError} (INVALID_ARGUMENT): bad tier settings or missing credentials at start-up; the
 *   server reports it as a configuration error (exit 2).
 *
 * Messages name the operation, bucket key and HTTP status or S3 error code, never credentials or headers.
 *
 * @module
 */
import { CacheError, Status } from "../errors.ts";

/** The tier cannot be reached or failed transiently. Retryable. */
export class TierUnavailableError extends CacheError {
  readonly retryable = true;
  constructor(message: string) {
    super(Status.UNAVAILABLE, message);
    this.name = "TierUnavailableError";
  }
}

/** The object, record or blob does not exist. */
export class TierNotFoundError extends CacheError {
  constructor(message: string) {
    super(Status.NOT_FOUND, message);
    this.name = "TierNotFoundError";
  }
}

/** A conditional write's precondition failed (HTTP 412). */
export class TierPreconditionError extends CacheError {
  constructor(message: string) {
    super(Status.FAILED_PRECONDITION, message);
    this.name = "TierPreconditionError";
  }
}

/** The store refused the credentials (HTTP 401/403). */
export class TierCredentialsError extends CacheError {
  constructor(message: string) {
    super(Status.INTERNAL, message);
    this.name = "TierCredentialsError";
  }
}

/** Bad tier configuration or no credentials found. */
export class TierConfigError extends CacheError {
  constructor(message: string) {
    super(Status.INVALID_ARGUMENT, message);
    this.name = "TierConfigError";
  }
}
