/**
 * Forwarding a session's small writes to its owner, streaming.
 *
 * Each `app/session` has an owner among the live members (rendezvous hashing). A replica that receives an
 * update, a patch, a put naming its object, or a delete of a key or a session that another member owns
 * relays the call to it: request messages go out as they arrive (never gathered whole; a message of 8 MiB
 * or more would go piece by piece with memory bounded by the HTTP/2 windows), and the owner's reply and
 * status come back unchanged. The service decides what to relay (`src/server/service.ts`): a put to a
 * prefix (the server picks a new id) and a large body (a message of 8 MiB or more) are written where they
 * arrive.
 *
 * Why writes to existing keys go to the owner: one replica then writes each session's version records, so
 * the tier's conditional writes do not race between replicas on a hot key (no lost CAS rounds), and the
 * owner's remembered record ETags are right (an update or patch costs the upload and one conditional write,
 * no record read). Why not the others: a new id cannot race anything and its record needs no read
 * (`If-None-Match: *`), and a large body relayed would cross the network twice and leave its local copy on
 * the owner instead of the replica its writer reads back through (measured: 64 MiB put + get through the
 * balancer 0.31x of one node when relayed, 0.88x when written where it arrives).
 * Correctness never depends on routing: the tier's compare-and-set hands out versions, whoever writes.
 *
 * Reads are not forwarded: any replica shows its copy is current by reading the version record (see
 * `tier_store.ts`), so N readers through N replicas are served by N replicas' networks.
 *
 * Rules:
 * - A call a peer forwarded is served where it arrives (the `flame-cache-forwarded-by` header): never
 *   twice, whatever this replica's view of membership is. A replica whose lease may have lapsed (e.g. it
 *   was paused) refuses forwarded calls with UNAVAILABLE: they may be stale, and their sender has given up.
 * - When the owner cannot be reached (no connection), the call is served here: safe, since the tier's CAS
 *   decides versions. Once a request has been relayed, a failure is the client's UNAVAILABLE (its outcome
 *   is unknown, as for any call whose answer is lost).
 * - An owner that leaves the live members while a relayed call waits (killed, paused past its lease) fails
 *   that call with UNAVAILABLE instead of leaving it hanging.
 * - With authentication on, peers present a token valid for every app; without one, forwarding is off.
 *
 * @module
 */
import { CacheError, Status, type StatusCode, unavailable } from "../errors.ts";
import {
  CacheClientError,
  CancelledError,
  Channel,
  type ClientCall,
  type GrpcCall,
  type IncomingMessage,
  LargeMessage,
  parseGrpcTimeout,
} from "../grpc/mod.ts";
import { parseEndpoint } from "../grpc/endpoint.ts";
import { FLIGHT_SERVICE } from "../flight/messages.ts";
import { log, logEnabled } from "../log.ts";
import type { Member } from "./membership.ts";
import type { PeerCredentials } from "./peers.ts";

/** Request header naming the replica that forwarded a call. */
export const FORWARDED_HEADER = "flame-cache-forwarded-by";

/** How long connecting to an owner may take before the call is served here instead. */
const CONNECT_TIMEOUT_MS = 2_000;
/** How often a waiting relay checks that its owner is still a live member. */
const OWNER_CHECK_MS = 250;

/** What the forwarder needs of the replica's membership. */
export interface ForwardingView {
  /** This replica's id. */
  readonly self: string;
  /** The owner of `app/session` among the live members. */
  ownerOf(session: string): Member | undefined;
  /** Live members now. */
  members(): Member[];
  /** False when this replica's lease may have lapsed (its view of membership may be stale). */
  isFresh(): boolean;
}

/** The owner key of a key, put prefix or selector: its first two segments (`app/session`). */
export function sessionOf(keyOrPrefix: string): string {
  const first = keyOrPrefix.indexOf("/");
  if (first < 0) return keyOrPrefix;
  const second = keyOrPrefix.indexOf("/", first + 1);
  return second < 0 ? keyOrPrefix : keyOrPrefix.slice(0, second);
}

/** Relays calls to the owners of their sessions. */
export class Forwarder {
  readonly #channels = new Map<string, Channel>();
  /** Calls served here because their owner was unreachable (each is also logged as a warning). */
  readonly counters = { servedHereOwnerUnreachable: 0 };

  constructor(private readonly view: ForwardingView, private readonly credentials: PeerCredentials) {}

  /**
   * The member that should serve a write on `session`, or undefined to serve it here: this replica owns
   * it, the call was forwarded already, or this replica's view may be stale. Throws UNAVAILABLE for a
   * forwarded call reaching a replica whose lease may have lapsed.
   */
  target(session: string, headers: Readonly<Record<string, string | undefined>>): Member | undefined {
    if (headers[FORWARDED_HEADER] !== undefined) {
      if (!this.view.isFresh()) {
        throw unavailable(
          "this replica's cluster lease may have lapsed; the forwarding replica should retry",
        );
      }
      return undefined;
    }
    if (!this.view.isFresh()) return undefined;
    const owner = this.view.ownerOf(session);
    return owner && owner.id !== this.view.self ? owner : undefined;
  }

  /**
   * Relay `call` (Flight method `method`, request messages `messages`) to `owner` and send its replies
   * back on `call`. Resolves false, having consumed nothing, when the owner cannot be reached: the caller
   * serves the call itself. Throws the owner's status as a {@link CacheError}.
   */
  async relay(
    call: GrpcCall,
    method: string,
    owner: Member,
    messages: AsyncIterator<IncomingMessage>,
  ): Promise<boolean> {
    let out: ClientCall;
    const headers: Record<string, string> = { [FORWARDED_HEADER]: this.view.self };
    if (this.credentials.token) headers["authorization"] = `Bearer ${this.credentials.token}`;
    // The client's deadline goes on (the call's own signal also cancels the relay when it passes).
    const timeoutMs = parseGrpcTimeout(call.headers["grpc-timeout"]);
    try {
      const channel = this.#channel(owner.endpoint);
      out = await channel.call(FLIGHT_SERVICE + method, { headers, signal: call.signal, timeoutMs });
    } catch (err) {
      if (call.signal.aborted) throw asCacheError(err, owner, true);
      // The channel connects again on its next call; closing it here would cancel other relays on it.
      this.counters.servedHereOwnerUnreachable++;
      log("warn", "session owner unreachable; serving the call here", {
        owner: owner.id,
        endpoint: owner.endpoint,
        error: String(err),
      });
      return false;
    }
    if (logEnabled("debug")) log("debug", "forwarded", { method, owner: owner.id });
    const watch = setInterval(() => {
      if (!this.view.members().some((m) => m.id === owner.id)) {
        out.cancel(new CacheClientError(Status.UNAVAILABLE, `session owner ${owner.id} left the cluster`));
      }
    }, OWNER_CHECK_MS);
    try {
      const sending = this.#pump(messages, out);
      let replyError: unknown;
      try {
        for await (const reply of out.messages()) await call.send([reply]);
      } catch (err) {
        replyError = err;
      }
      try {
        await sending;
      } catch (err) {
        replyError ??= err;
      }
      if (replyError) {
        out.cancel();
        throw asCacheError(replyError, owner, call.signal.aborted);
      }
      return true;
    } finally {
      clearInterval(watch);
    }
  }

  /** Close every peer connection. */
  async close(): Promise<void> {
    const channels = [...this.#channels.values()];
    this.#channels.clear();
    await Promise.all(channels.map((c) => c.close().catch(() => {})));
  }

  /** Copy request messages to `out` as they arrive; large ones piece by piece. */
  async #pump(messages: AsyncIterator<IncomingMessage>, out: ClientCall): Promise<void> {
    for (let m = await messages.next(); !m.done; m = await messages.next()) {
      const message = m.value;
      if (message instanceof LargeMessage) await out.writeStreamed(message.length, () => message.next());
      else await out.write([message]);
    }
    out.end();
  }

  #channel(endpoint: string): Channel {
    let channel = this.#channels.get(endpoint);
    if (!channel) {
      channel = new Channel(parseEndpoint(endpoint), {
        tls: this.credentials.tls,
        connectTimeoutMs: CONNECT_TIMEOUT_MS,
      });
      this.#channels.set(endpoint, channel);
    }
    return channel;
  }
}

/**
 * The server-side form of a relay failure: the owner's status as is; transport failures, and a relay
 * cancelled by anything but the caller (the owner shutting down, this replica leaving), as UNAVAILABLE.
 */
function asCacheError(err: unknown, owner: Member, callerGaveUp: boolean): CacheError {
  if (err instanceof CacheError) return err;
  if (err instanceof CacheClientError) {
    const cancelled = err instanceof CancelledError || err.code === Status.CANCELLED;
    if (err.code === Status.UNAVAILABLE || (cancelled && !callerGaveUp)) {
      return unavailable(`forwarding to session owner ${owner.id} failed: ${err.message}`);
    }
    return new CacheError(err.code as StatusCode, err.message);
  }
  return unavailable(`forwarding to session owner ${owner.id} failed: ${(err as Error).message}`);
}
