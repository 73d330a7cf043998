/**
 * One cluster replica as a real server process on a test's etcd and SeaweedFS (the tests that need a few
 * replicas without the whole of scripts/cluster.sh).
 *
 * @module
 */
import type { EtcdService, WeedService } from "../helpers/services.ts";
import { startServer, type TestServer } from "../helpers/server.ts";

/** How a replica differs from the others. */
export interface ReplicaOptions {
  /** Member id (`--cluster-id`). */
  id: string;
  /** Its storage folder (the local cache of the tier). */
  dir: string;
  /** Key prefix of the tier inside the bucket (one per test). */
  prefix: string;
  /** Flags before the cluster ones (e.g. `--config`). */
  flags?: string[];
  env?: Record<string, string>;
}

/** Start a replica with a 30 s lease; resolves once it serves. */
export function startReplica(etcd: EtcdService, weed: WeedService, o: ReplicaOptions): Promise<TestServer> {
  return startServer([
    ...(o.flags ?? []),
    "--storage",
    o.dir,
    "--cluster-etcd",
    etcd.endpoint,
    "--cluster-id",
    o.id,
    "--cluster-lease-ttl",
    "30",
    "--remote",
    `s3://${weed.bucket}/${o.prefix}`,
    "--remote-endpoint",
    weed.s3Endpoint,
    "--remote-region",
    "us-east-1",
    "--remote-path-style",
  ], {
    env: {
      AWS_ACCESS_KEY_ID: weed.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: weed.credentials.secretAccessKey,
      ...o.env,
    },
  });
}
