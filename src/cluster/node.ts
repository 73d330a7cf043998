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
import { owner } from "./rendezvous.ts";
import { resolveCredentials } from "../tier/credentials.ts";
import { S3Bucket } from "../tier/s3.ts";
import { Tier } from "../tier/tier.ts";
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

/** The tier-backed store of a replica. */
export async function startTier(config: CacheConfig & { remote: RemoteConfig }): Promise<TierStore> {
  const remote = config.remote;
  let credentials;
  try {
    credentials = await resolveCredentials();
  } catch (err) {
    throw new ConfigError("cache.remote", (err as Error).message);
  }
  const bucket = new S3Bucket({
    endpoint: remote.endpoint ?? `https://s3.${remote.region}.amazonaws.com`,
    bucket: remote.bucket,
    region: remote.region,
    pathStyle: remote.pathStyle,
    credentials,
    timeoutMs: TIER_REQUEST_TIMEOUT_MS,
  });
  const tier = new Tier({ bucket, prefix: remote.prefix });
  return new TierStore(
    tier,
    `${remote.url} at ${remote.endpoint ?? "AWS"} (credentials: ${credentials.source})`,
    {
      cacheDir: config.storage.kind === "fs" ? `${config.storage.root}/${TIER_CACHE_DIR}` : undefined,
      memoryBytes: config.eviction.maxMemory,
      diskBytes: config.capacity ?? Number.POSITIVE_INFINITY,
    },
  );
}

/** Turn a tier failure at start-up into a configuration error naming the remote settings. */
export function tierStartupError(err: unknown, remote: RemoteConfig): unknown {
  if (!(err instanceof CacheError)) return err;
  return new ConfigError("cache.remote", `the shared tier ${remote.url} is not usable: ${err.message}`);
}

/** A replica's place in the cluster. */
export class ClusterMember {
  private constructor(readonly membership: Membership, readonly config: ClusterConfig) {}

  /** Register in etcd and start watching the other members. */
  static async join(cluster: ClusterConfig): Promise<ClusterMember> {
    const client = new EtcdClient({ endpoints: cluster.etcd });
    try {
      const membership = await Membership.join({
        client,
        cluster: cluster.name,
        id: cluster.id,
        endpoint: cluster.advertise,
        ttlSeconds: cluster.leaseTtlSeconds,
      });
      return new ClusterMember(membership, cluster);
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
      id: this.config.id,
      cluster: this.config.name,
      members: this.members.map((m) => `${m.id}=${m.endpoint}`),
      fresh: this.membership.isFresh(),
    };
  }

  /** Leave gracefully: the lease is revoked, peers see this replica go at once. */
  async leave(): Promise<void> {
    await this.membership.leave().catch(() => {});
    await this.membership.close().catch(() => {});
  }
}
