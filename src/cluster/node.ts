/**
 * Cluster mode for one replica: the shared tier as its store, and its membership in etcd.
 *
 * `startTier` runs before the port listens (the store must exist for the service); `joinCluster` after
 * (the advertised address may carry the port just bound). Failures at start-up are {@link ConfigError}s
 * naming the setting to fix: missing credentials, a bucket that refuses them, etcd unreachable.
 *
 * @module
 */
import { ConfigError } from "../config/mod.ts";
import type { CacheConfig, ClusterConfig, RemoteConfig } from "../config/mod.ts";
import { CacheError } from "../errors.ts";
import { EtcdClient } from "./etcd.ts";
import { type Member, Membership } from "./membership.ts";
import { type PeerCredentials, Peers } from "./peers.ts";
import { Forwarder } from "./forward.ts";
import { owner } from "./rendezvous.ts";
import { openTier, type Tier } from "../tier/mod.ts";
import { TierStore } from "./tier_store.ts";
import { TIER_CACHE_DIR } from "./blob_cache.ts";

/**
 * How long one tier request may go unanswered before the call fails with a retryable UNAVAILABLE. S3Bucket's
 * own default (30 s) outlasts common client deadlines, and a stalled store is a real case: SeaweedFS accepts
 * requests right after a restart and holds writes ~20 s (measured) until its volumes have registered, so
 * clients saw DEADLINE_EXCEEDED instead. 10 s still carries the largest single request (an 8 MiB part) at
 * under 1 MB/s.
 */
export const TIER_REQUEST_TIMEOUT_MS = 10_000;

/** The shared tier named by `remote`, with a description for logs (never the credentials). */
export async function openRemote(remote: RemoteConfig): Promise<{ tier: Tier; describe: string }> {
  try {
    const { tier, source } = await openTier({
      endpoint: remote.endpoint ?? `https://s3.${remote.region}.amazonaws.com`,
      bucket: remote.bucket,
      prefix: remote.prefix,
      region: remote.region,
      pathStyle: remote.pathStyle,
      probe: false, // the store's open() probes, after the port listens
      timeoutMs: TIER_REQUEST_TIMEOUT_MS,
    });
    return { tier, describe: `${remote.url} at ${remote.endpoint ?? "AWS"} (credentials: ${source})` };
  } catch (err) {
    throw new ConfigError("cache.remote", (err as Error).message);
  }
}

/** The tier-backed store of a replica. */
export async function startTier(config: CacheConfig & { remote: RemoteConfig }): Promise<TierStore> {
  const { tier, describe } = await openRemote(config.remote);
  return new TierStore(tier, describe, {
    cacheDir: config.storage.kind === "fs" ? `${config.storage.root}/${TIER_CACHE_DIR}` : undefined,
    memoryBytes: config.eviction.maxMemory,
    diskBytes: config.capacity ?? Number.POSITIVE_INFINITY,
  });
}

/** Turn a tier failure at start-up into a configuration error naming the remote settings. */
export function tierStartupError(err: unknown, remote: RemoteConfig): unknown {
  if (!(err instanceof CacheError)) return err;
  return new ConfigError("cache.remote", `the shared tier ${remote.url} is not usable: ${err.message}`);
}

/** How often the garbage collector of the tier runs, and how old an unnamed blob must be to go. */
const GC_INTERVAL_MS = 15 * 60_000;
const GC_MIN_AGE_MS = 60 * 60_000;
/** The rendezvous key whose owner runs the tier's garbage collection (one replica at a time, usually). */
const GC_KEY = "_flame_cache/gc";

/** A replica's place in the cluster. */
export class ClusterMember {
  #gcTimer?: ReturnType<typeof setInterval>;
  /** Connections to the other members. */
  readonly peers: Peers;
  /**
   * Relays a session's writes to its owner; undefined when this replica cannot act for every app on its
   * peers (authentication on, and no token valid for every app).
   */
  readonly forwarder: Forwarder | undefined;

  private constructor(
    readonly membership: Membership,
    readonly config: ClusterConfig,
    credentials: PeerCredentials,
  ) {
    this.peers = new Peers(config.id, () => membership.members, credentials);
    this.forwarder = credentials.authRequired && !credentials.token ? undefined : new Forwarder({
      self: config.id,
      ownerOf: (session) => this.ownerOf(session),
      members: () => membership.members,
      isFresh: () => membership.isFresh(),
    }, credentials);
  }

  /** After each delete in `store`, tell the other members to drop their copies of what it deleted. */
  tellPeersAfterDeletes(store: TierStore): void {
    store.afterDelete = (sel) => this.peers.forget(sel);
  }

  /**
   * Collect the tier's orphaned blobs (uploads whose record write never happened: a crash or an outage
   * between the two) every 15 minutes on the replica that owns {@link GC_KEY}. Two replicas collecting at
   * once during a membership change is harmless: only blobs no record names, an hour old, are deleted.
   */
  startGarbageCollection(
    store: { collectGarbage(olderThanMs: number): Promise<number> },
    log: (n: number) => void,
  ) {
    this.#gcTimer = setInterval(() => {
      if (this.ownerOf(GC_KEY)?.id !== this.config.id || !this.membership.isFresh()) return;
      store.collectGarbage(GC_MIN_AGE_MS).then(log, () => {});
    }, GC_INTERVAL_MS);
    Deno.unrefTimer(this.#gcTimer);
  }

  /** Register in etcd and start watching the other members. */
  static async join(cluster: ClusterConfig, credentials: PeerCredentials = {}): Promise<ClusterMember> {
    const client = new EtcdClient({ endpoints: cluster.etcd });
    try {
      const membership = await Membership.join({
        client,
        cluster: cluster.name,
        id: cluster.id,
        endpoint: cluster.advertise,
        ttlSeconds: cluster.leaseTtlSeconds,
      });
      return new ClusterMember(membership, cluster, credentials);
    } catch (err) {
      throw new ConfigError(
        "cache.cluster.etcd",
        `cannot join the cluster through etcd ${cluster.etcd.join(", ")}: ${(err as Error).message}`,
      );
    }
  }

  /** Live members, this replica included. */
  get members(): Member[] {
    return this.membership.members;
  }

  /** The member that owns `app/session` (rendezvous hashing over the live members). */
  ownerOf(session: string): Member | undefined {
    const members = this.membership.members;
    const id = owner(session, members.map((m) => m.id));
    return members.find((m) => m.id === id);
  }

  /** Log and status fields. */
  describe(): Record<string, unknown> {
    return {
      members: this.members.map((m) => `${m.id}=${m.endpoint}`),
      fresh: this.membership.isFresh(),
    };
  }

  /** Leave gracefully: the lease is revoked, peers see this replica go at once. */
  async leave(): Promise<void> {
    clearInterval(this.#gcTimer);
    await this.membership.leave().catch(() => {});
    await this.membership.close().catch(() => {});
    await this.peers.close();
    await this.forwarder?.close();
  }
}

/**
 * What this replica presents to its peers, from its own configuration (the replicas share one): a token
 * that may touch every app when auth is on, and its TLS material (its CA, and its certificate as the
 * client certificate for mutual TLS).
 */
export function peerCredentials(config: CacheConfig): PeerCredentials {
  const token = config.auth?.tokens.find((t) => t.apps === undefined)?.token;
  const tls = config.tls
    ? {
      ca: config.tls.caFile ? Deno.readFileSync(config.tls.caFile) : undefined,
      cert: Deno.readFileSync(config.tls.certFile),
      key: Deno.readFileSync(config.tls.keyFile),
    }
    : undefined;
  return { token, tls, authRequired: config.auth !== undefined };
}
