/**
 * The gRPC transport's limits and defaults, in one place. The server's
 * configurable ones are overridden from the config (src/config); the rest are
 * fixed by design. Imports nothing, so config may read its defaults here.
 *
 * @module
 */

/** Cancel a call whose request stream stays silent this long (ms). Config: `idle_timeout`. */
export const DEFAULT_IDLE_TIMEOUT_MS = 300_000;
/** HTTP/2 stream receive window of the server. */
export const DEFAULT_SERVER_STREAM_WINDOW = 16 * 1024 * 1024;
/** The server's connection window is 4 stream windows, and at least this. */
export const MIN_SERVER_CONNECTION_WINDOW = 64 * 1024 * 1024;
/** Concurrent streams per server connection. */
export const DEFAULT_MAX_CONCURRENT_STREAMS = 256;
/** Open connections the server accepts; more are refused at accept time. */
export const DEFAULT_MAX_CONNECTIONS = 4096;
/** Request bytes all calls together may hold while they are received and stored. */
export const DEFAULT_MAX_INFLIGHT_BYTES = 8 * 1024 ** 3;
/** Requests this small always pass the in-flight budget, so a full budget cannot block control calls. */
export const BUDGET_FREE_BYTES = 64 * 1024;

/** Largest HTTP/2 frame either side accepts from its peer. */
export const MAX_FRAME_SIZE = 1024 * 1024;
/** Largest decoded header list either side accepts. */
export const MAX_HEADER_LIST_SIZE = 64 * 1024;
/** Largest flow-control window (2^31 - 1). */
export const MAX_WINDOW = 2 ** 31 - 1;

/** A connection must send its HTTP/2 preface and settings within this time. */
export const PREFACE_TIMEOUT_MS = 10_000;
/** After a deadline, trailers get this long to go out before the stream is reset. */
export const TRAILER_GRACE_MS = 1_000;
/** Message bytes are queued on the stream in pieces of this size (views, not copies), so a
 * deadline, a cancel or backpressure applies within a big message. */
export const SEND_SLICE = 1024 * 1024;
/** Request messages decoded ahead of the handler before the stream stops granting window. */
export const MAX_QUEUED_MESSAGES = 4;
/** Request messages at least this large are streamed to the handler instead of buffered. */
export const STREAM_THRESHOLD = 8 * 1024 * 1024;
/** A large request message pauses its stream while this many bytes wait for the handler. */
export const LARGE_MESSAGE_HIGH_WATER = 16 * 1024 * 1024;

/** Client: HTTP/2 stream receive window. */
export const DEFAULT_CLIENT_STREAM_WINDOW = 16 * 1024 * 1024;
/** Client: HTTP/2 connection receive window. */
export const DEFAULT_CLIENT_CONNECTION_WINDOW = 64 * 1024 * 1024;
/** Client: concurrent streams it lets the server open (it opens none). */
export const CLIENT_MAX_CONCURRENT_STREAMS = 100;
/** Client: give up connecting after this long. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 30_000;
/** Client: largest reply message accepted. */
export const DEFAULT_CLIENT_MAX_MESSAGE_BYTES = 2 ** 31;
/** Client: pause reading when this many undelivered reply bytes are queued. */
export const CLIENT_QUEUE_HIGH = 2 * 1024 * 1024;
