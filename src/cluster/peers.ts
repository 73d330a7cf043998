/**
 * Messages from one replica to the others, over Flight with the project's own client.
 *
 * Today one message: after a delete, `FORGET <selector>` tells every other live member to drop its local
 * copies of the deleted objects' blobs. Correctness does not depend on it (a replica serves a copy only
 * when the current record names its blob, and a tombstone names none); it frees the peers' memory and
 * disk at once instead of whenever their LRU gets to it. So it is best effort: a peer that cannot be
 * reached in time is logged and skipped, and never fails the delete.
 *
 * @module
 */
import { FlameCacheClient, type TlsOptions } from "../client/mod.ts";
import type { KeySelector } from "../store/types.ts";
import { log } from "../log.ts";
import type { Member } from "./membership.ts";

/** How long one peer may take to answer a FORGET before it is skipped. */
const FORGET_TIMEOUT_MS = 3_000;

/** The wire form of a selector, as a DELETE or FORGET action body (`app/*`, `app/session`, a key). */
export function selectorText(sel: KeySelector): string {
  return sel.exact || sel.value.includes("/") ? sel.value : `${sel.value}/*`;
}

/** Flight connections to the other live members, opened on first use and dropped when they fail. */
/** How a replica authenticates to its peers (they share its configuration). */
export interface PeerCredentials {
  /** A bearer token valid for every app (auth on). */
  token?: string;
  /** The CA that signed the peers' certificates, and this replica's own certificate for mutual TLS. */
  tls?: TlsOptions;
  /** The peers check tokens (authentication is on): calls for any app need {@link PeerCredentials.token}. */
  authRequired?: boolean;
}

export class Peers {
  readonly #clients = new Map<string, Promise<FlameCacheClient>>();

  /**
   * @param self this replica's id (never messaged)
   * @param members the live members now (from membership)
   */
  constructor(
    private readonly self: string,
    private readonly members: () => Member[],
    private readonly credentials: PeerCredentials = {},
  ) {}

  /** Tell every other live member to drop its local copies under `sel`; resolves when all answered or failed. */
  async forget(sel: KeySelector): Promise<void> {
    const peers = this.members().filter((m) => m.id !== this.self);
    this.#closeGone(peers);
    const body = selectorText(sel);
    await Promise.all(peers.map(async (peer) => {
      try {
        const client = await this.#client(peer.endpoint);
        await client.doAction("FORGET", body, { timeoutMs: FORGET_TIMEOUT_MS });
      } catch (err) {
        this.#drop(peer.endpoint);
        log("warn", "peer did not forget deleted objects", {
          peer: peer.id,
          endpoint: peer.endpoint,
          selector: body,
          error: String(err),
        });
      }
    }));
  }

  /** Close every connection. */
  async close(): Promise<void> {
    const clients = [...this.#clients.values()];
    this.#clients.clear();
    await Promise.all(clients.map((c) => c.then((client) => client.close()).catch(() => {})));
  }

  #client(endpoint: string): Promise<FlameCacheClient> {
    let client = this.#clients.get(endpoint);
    if (!client) {
      client = FlameCacheClient.connect(endpoint, {
        cache: false,
        connectTimeoutMs: FORGET_TIMEOUT_MS,
        token: this.credentials.token,
        tls: this.credentials.tls,
      });
      this.#clients.set(endpoint, client);
    }
    return client;
  }

  /** Forget a connection that failed (the peer may have restarted: the next call connects again). */
  #drop(endpoint: string): void {
    const client = this.#clients.get(endpoint);
    this.#clients.delete(endpoint);
    client?.then((c) => c.close()).catch(() => {});
  }

  /** Close connections to members that left. */
  #closeGone(live: Member[]): void {
    const endpoints = new Set(live.map((m) => m.endpoint));
    for (const endpoint of [...this.#clients.keys()]) if (!endpoints.has(endpoint)) this.#drop(endpoint);
  }
}
