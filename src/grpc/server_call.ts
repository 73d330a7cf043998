/**
 * One gRPC call on the server, the mirror of the client's `ClientCall`: the
 * request side ({@link IncomingMessages}), the deadline, the reply messages
 * with backpressure, and the status trailers that end it.
 *
 * @module
 */
import { CacheError, Status } from "../errors.ts";
import { H2Error, type H2Stream } from "../h2/mod.ts";
import type { ByteSource, GrpcCall, Handler, MessagePart, RequestHeaders, TransportStats } from "./call.ts";
import { SEND_SLICE, TRAILER_GRACE_MS } from "./defaults.ts";
import type { Deadline, DeadlineTimer } from "./deadlines.ts";
import { IncomingMessages } from "./incoming.ts";
import { encodeGrpcMessage, parseGrpcTimeout } from "./metadata.ts";
import { messagePrefix, PREFIX_BYTES } from "./prefix.ts";
import type { IncomingMessage, RequestDecoder } from "./request_decoder.ts";

const RESPONSE_HEADERS: [string, string][] = [[":status", "200"], ["content-type", "application/grpc"]];

/** What a call reports to its server. */
export interface CallHooks {
  /** Byte counters. */
  stats: TransportStats;
  /** The server's call deadlines, on one timer. */
  deadlines: DeadlineTimer;
  /** A call finished (for logs and metrics). */
  onCallEnd?: (path: string, code: number, ms: number, message: string) => void;
  /** A handler failed with something other than a {@link CacheError}. */
  onError?: (where: string, err: unknown) => void;
}

/** One call in progress on the server. */
export class ServerCall implements GrpcCall {
  readonly path: string;
  readonly headers: RequestHeaders;
  readonly peer: string;
  principal?: unknown;
  private readonly controller = new AbortController();
  private readonly started = performance.now();
  private finished = false;
  private extraHeaders: [string, string][] = [];
  private incoming: IncomingMessages | null = null;
  private deadline: Deadline | undefined;

  constructor(private readonly stream: H2Stream, private readonly hooks: CallHooks) {
    this.headers = stream.headers;
    this.path = stream.headers[":path"] ?? "";
    this.peer = stream.peer;
  }

  /** Aborted when the client cancels, resets, disconnects or the deadline passes. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /**
   * Start receiving: request messages are decoded from now on, cancellation
   * and the deadline (`grpc-timeout`) are watched.
   */
  receive(decoder: RequestDecoder, idleTimeoutMs: number): void {
    const incoming = new IncomingMessages(this.stream, decoder, this.hooks.stats, idleTimeoutMs);
    this.incoming = incoming;
    this.stream.onAbort = () => {
      this.controller.abort();
      incoming.fail(new CacheError(Status.CANCELLED, "Call cancelled by the client"));
    };
    this.stream.onClose = () => {
      if (!this.finished) this.controller.abort();
    };
    const timeoutMs = parseGrpcTimeout(this.headers["grpc-timeout"]);
    if (timeoutMs === undefined) return;
    this.deadline = this.hooks.deadlines.add(timeoutMs, () => {
      this.controller.abort();
      incoming.fail(new CacheError(Status.DEADLINE_EXCEEDED, "Deadline exceeded"));
      this.finish(Status.DEADLINE_EXCEEDED, "Deadline exceeded");
      // The DEADLINE_EXCEEDED trailers go first; reset only what is still open later.
      setTimeout(() => this.stream.reset(H2Error.CANCEL), TRAILER_GRACE_MS);
    });
  }

  /** Run `handler` and end the call with its outcome as the status. */
  async run(handler: Handler): Promise<void> {
    try {
      await handler(this);
      this.finish(Status.OK, "");
    } catch (err) {
      if (err instanceof CacheError) this.finish(err.code, err.message);
      else if (this.controller.signal.aborted) this.finish(Status.CANCELLED, "Call cancelled");
      else {
        this.hooks.onError?.(`handler ${this.path}`, err);
        this.finish(Status.INTERNAL, `Internal error: ${(err as Error)?.message ?? String(err)}`);
      }
    } finally {
      if (this.deadline !== undefined) this.hooks.deadlines.remove(this.deadline);
      this.incoming?.close();
    }
  }

  /** End the call with a status (trailers, or a trailers-only response); later calls do nothing. */
  finish(code: number, message: string): void {
    if (this.finished) return;
    this.finished = true;
    this.hooks.onCallEnd?.(this.path, code, performance.now() - this.started, message);
    if (this.stream.closed) return;
    const trailers: [string, string][] = [["grpc-status", String(code)]];
    if (message) trailers.push(["grpc-message", encodeGrpcMessage(message)]);
    if (!this.stream.headersSent) {
      this.stream.respond([...RESPONSE_HEADERS, ...this.extraHeaders, ...trailers], true);
    } else this.stream.end(trailers);
  }

  messages(): AsyncIterable<IncomingMessage> {
    if (!this.incoming) throw new Error("the call is not receiving");
    return this.incoming.iterate(this.controller.signal);
  }

  setHeaders(headers: Record<string, string>): void {
    this.extraHeaders = [...this.extraHeaders, ...Object.entries(headers)];
  }

  async send(parts: MessagePart[]): Promise<void> {
    this.checkOpen();
    if (!this.stream.headersSent) this.stream.respond([...RESPONSE_HEADERS, ...this.extraHeaders]);
    let total = 0;
    for (const p of parts) total += p.length;
    this.hooks.stats.bytesOut += total;
    this.stream.write(messagePrefix(total));
    for (const p of parts) {
      if (p instanceof Uint8Array) await this.sendBytes(p);
      else await this.sendSource(p);
    }
  }

  async sendMany(messages: Uint8Array[]): Promise<void> {
    this.checkOpen();
    if (messages.length === 0) return;
    if (!this.stream.headersSent) this.stream.respond([...RESPONSE_HEADERS, ...this.extraHeaders]);
    let total = 0;
    for (const m of messages) total += PREFIX_BYTES + m.length;
    const out = new Uint8Array(total);
    const dv = new DataView(out.buffer);
    let at = 0;
    for (const m of messages) {
      dv.setUint32(at + 1, m.length); // byte 0: not compressed
      out.set(m, at + PREFIX_BYTES);
      at += PREFIX_BYTES + m.length;
    }
    this.hooks.stats.bytesOut += total - PREFIX_BYTES * messages.length;
    await this.sendBytes(out);
  }

  /** Queued in slices, so a deadline or cancel stops the reply within a slice. */
  private async sendBytes(p: Uint8Array): Promise<void> {
    for (let off = 0; off < p.length; off += SEND_SLICE) {
      if (this.finished || this.stream.closed) throw cancelled();
      this.stream.write(off === 0 && p.length <= SEND_SLICE ? p : p.subarray(off, off + SEND_SLICE));
      if (this.stream.congested) await this.drained();
    }
  }

  private async sendSource(p: ByteSource): Promise<void> {
    let sent = 0;
    for await (const chunk of p.chunks()) {
      sent += chunk.length;
      if (sent > p.length) break;
      if (this.finished || this.stream.closed) throw cancelled();
      this.stream.write(chunk, p.release ? () => p.release!(chunk) : undefined);
      if (this.stream.congested) await this.drained();
    }
    if (sent !== p.length) {
      // The message prefix promised p.length bytes: end the call rather than send a torn message.
      this.stream.reset(H2Error.INTERNAL_ERROR);
      throw new CacheError(Status.DATA_LOSS, `reply source produced ${sent} of ${p.length} bytes`);
    }
  }

  private checkOpen(): void {
    if (this.controller.signal.aborted || this.finished || this.stream.closed) throw cancelled();
  }

  private async drained(): Promise<void> {
    if (this.controller.signal.aborted) throw cancelled();
    try {
      await this.stream.drained();
    } catch {
      throw cancelled();
    }
  }
}

function cancelled(): CacheError {
  return new CacheError(Status.CANCELLED, "Call cancelled");
}
