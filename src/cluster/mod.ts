/**
 * Cluster mode (issue 13): the public surface for the server and the CLI.
 *
 * - `node.ts`: {@link startTier} (a replica's store on the shared tier) and {@link ClusterMember} (its
 *   membership, the rendezvous owner of a session, the tier's garbage collection).
 * - `tier_store.ts`: {@link TierStore}, write-through to the tier; local copies served only when the
 *   current record names them (see docs/cluster.md).
 * - `blob_cache.ts`, `tier_codec.ts`, `file_stream.ts`: local copies of blobs, objects as blobs, file ranges.
 * - `forward.ts`: {@link Forwarder}, a session's writes relayed, streaming, to the replica that owns it.
 * - `migrate.ts`: `flame-cache migrate`, a stopped node's folder into the tier.
 * - `etcd.ts`: {@link EtcdClient}, etcd v3 over its JSON gateway and `fetch` (why: see its doc).
 * - `membership.ts`: {@link Membership}, lease-backed registration, keep-alive, live member list, staleness.
 * - `rendezvous.ts`: {@link owner} / {@link ranked}, highest-random-weight owner of an `app/session`.
 *
 * Decision log (details in each module):
 * 1. JSON gateway over fetch instead of gRPC: no node:http2 client (Deno aborts it on GOAWAY), and fetch
 *    streams the watch; JSON cost is irrelevant at membership rates.
 * 2. Keep-alive every TTL/3; freshness measured from the send time of the last successful keep-alive on the
 *    monotonic clock, so a paused replica knows it is stale the moment it runs again.
 * 3. Lease loss re-registers with a new lease; the watch is rebuilt by list + watch-from-revision after any
 *    break, compaction, or etcd outage.
 * 4. Rendezvous weight: a two-lane 53-bit multiply/xor-shift hash over member id, NUL and key; no BigInt.
 *
 * @module
 */
export {
  EtcdClient,
  EtcdCompactedError,
  EtcdError,
  EtcdRejectedError,
  EtcdUnavailableError,
  prefixRangeEnd,
} from "./etcd.ts";
export type { EtcdClientOptions, KeyValue, WatchBatch, WatchEvent } from "./etcd.ts";
export { Membership, membersPrefix } from "./membership.ts";
export type { Member, MembershipEvent, MembershipOptions } from "./membership.ts";
export { owner, ranked, weight } from "./rendezvous.ts";
export { ClusterMember, openRemote, peerCredentials, startTier, tierStartupError } from "./node.ts";
export { TierStore, type TierStoreOptions } from "./tier_store.ts";
export { FORWARDED_HEADER, Forwarder, type ForwardingView, sessionOf } from "./forward.ts";
