/**
 * Cluster membership in etcd: each replica registers itself under
 * `{prefix}/{cluster}/members/{id}` with a lease, keeps the lease alive, and watches the prefix to keep a
 * live list of members.
 *
 * Decisions:
 * - The value is JSON `{id, endpoint, started}`; `endpoint` is this replica's own `grpc://host:port` that
 *   peers use for forwarding (not the cluster's advertised Service endpoint).
 * - Keep-alive every TTL/3, so two keep-alives can be lost before the lease expires.
 * - Freshness: {@link Membership.leaseFreshUntil} is the monotonic time (`performance.now()`) until which
 *   the lease is known to be alive: the send time of the last successful grant/keep-alive plus the TTL
 *   etcd returned. Measured from the send time, it errs on the early side. A replica that was paused
 *   (SIGSTOP, a long GC, a VM freeze) longer than its TTL sees `isFresh() === false` the moment it runs
 *   again, before any keep-alive answers, so it knows its member list (and any ownership decision made on
 *   it) is stale. Correctness of versions never depends on this (the tier's conditional writes do that);
 *   freshness only guides routing.
 * - Lease loss (keep-alive answers TTL 0, or the watch shows our own key deleted) re-registers with a new
 *   lease, keeping the original `started` time.
 * - The watch is rebuilt by re-listing then watching from the list's revision + 1, after any stream break
 *   (etcd restart), a compaction, or once etcd answers again after keep-alives failed (a stream through a
 *   stalled etcd can hang without breaking).
 * - Graceful leave revokes the lease, which deletes the key at once; peers see the delete event.
 *
 * @module
 */
import { type EtcdClient, EtcdCompactedError, type KeyValue, type WatchBatch } from "./etcd.ts";

/** One registered replica. */
export interface Member {
  /** Stable replica id (unique in the cluster). */
  id: string;
  /** The replica's own endpoint for peers, e.g. `grpc://10.0.0.7:9090`. */
  endpoint: string;
  /** ISO time the replica process started (kept across re-registrations). */
  started: string;
}

/** What changed, delivered to {@link Membership.onChange} listeners. */
export type MembershipEvent =
  | { type: "members"; members: Member[]; joined: Member[]; left: Member[] }
  | { type: "registered"; lease: string }
  | { type: "stale"; overdueMs: number }
  | { type: "error"; error: Error };

/** Options for {@link Membership.join}. */
export interface MembershipOptions {
  client: EtcdClient;
  /** Cluster name; separates clusters sharing one etcd. */
  cluster: string;
  /** Key prefix (default `/flame-cache`). */
  prefix?: string;
  /** This replica's id. */
  id: string;
  /** This replica's own endpoint for peers. */
  endpoint: string;
  /** Lease TTL in seconds (etcd may round small values up). */
  ttlSeconds: number;
}

/** The etcd key prefix under which the members of `cluster` live (ends with `/`). */
export function membersPrefix(prefix: string, cluster: string): string {
  return `${prefix.replace(/\/+$/, "")}/${cluster}/members/`;
}

const decoder = new TextDecoder();

function parseMember(kv: KeyValue): Member | undefined {
  try {
    const value = JSON.parse(decoder.decode(kv.value));
    if (typeof value?.id !== "string" || typeof value?.endpoint !== "string") return undefined;
    return { id: value.id, endpoint: value.endpoint, started: String(value.started ?? "") };
  } catch {
    return undefined;
  }
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

/** A replica's registration in etcd plus its live view of the other members. */
export class Membership {
  readonly self: Member;
  readonly ttlSeconds: number;
  readonly key: string;
  readonly #client: EtcdClient;
  readonly #prefix: string;
  #members = new Map<string, Member>();
  #listeners = new Set<(event: MembershipEvent) => void>();
  #lease = "";
  #registeredRevision = 0;
  #freshUntil = 0;
  #closed = false;
  #needRegister = false;
  #stopped = new AbortController();
  #watchAbort = new AbortController();
  #wake: (() => void) | undefined;
  #loops: Promise<void>[] = [];

  private constructor(options: MembershipOptions) {
    this.#client = options.client;
    this.ttlSeconds = options.ttlSeconds;
    this.#prefix = membersPrefix(options.prefix ?? "/flame-cache", options.cluster);
    this.key = `${this.#prefix}${options.id}`;
    this.self = { id: options.id, endpoint: options.endpoint, started: new Date().toISOString() };
  }

  /**
   * Register this replica and start keep-alive and watch. Resolves once registered and the first member
   * list is read; rejects (with the etcd error, e.g. unreachable) when either fails.
   */
  static async join(options: MembershipOptions): Promise<Membership> {
    if (!/^[A-Za-z0-9._-]+$/.test(options.id)) throw new Error(`invalid member id "${options.id}"`);
    if (!(options.ttlSeconds >= 1)) throw new Error("membership lease TTL must be at least 1 second");
    const membership = new Membership(options);
    await membership.#register();
    const { kvs, revision } = await membership.#client.list(membership.#prefix);
    membership.#replace(kvs);
    membership.#loops.push(membership.#keepAliveLoop(), membership.#watchLoop(revision));
    return membership;
  }

  /** The live members (including this one once its registration is seen), sorted by id. */
  get members(): Member[] {
    return [...this.#members.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** The ids of {@link members}, for rendezvous hashing. */
  get memberIds(): string[] {
    return this.members.map((m) => m.id);
  }

  /** The member with this id, if live. */
  member(id: string): Member | undefined {
    return this.#members.get(id);
  }

  /** The current lease id. */
  get lease(): string {
    return this.#lease;
  }

  /** Monotonic time (`performance.now()` ms) until which this replica's lease is known alive. */
  get leaseFreshUntil(): number {
    return this.#freshUntil;
  }

  /** True while the lease is known alive, i.e. this replica's view may be trusted for routing. */
  isFresh(): boolean {
    return !this.#closed && performance.now() < this.#freshUntil;
  }

  /** Listen for changes; returns an unsubscribe function. */
  onChange(listener: (event: MembershipEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Leave gracefully: stop keep-alive and watch, then revoke the lease (deleting the member key). */
  async leave(): Promise<void> {
    if (this.#closed) return;
    this.#shutdown();
    await Promise.allSettled(this.#loops);
    if (this.#lease) await this.#client.revokeLease(this.#lease);
  }

  /** Stop keep-alive and watch without revoking (the lease then expires on its own, as after a crash). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#shutdown();
    await Promise.allSettled(this.#loops);
  }

  #shutdown(): void {
    this.#closed = true;
    this.#freshUntil = 0;
    this.#stopped.abort();
    this.#watchAbort.abort();
    this.#wake?.();
  }

  #emit(event: MembershipEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch { /* a listener's failure is its own */ }
    }
  }

  async #register(): Promise<void> {
    const sent = performance.now();
    const lease = await this.#client.grantLease(this.ttlSeconds);
    this.#registeredRevision = await this.#client.put(this.key, JSON.stringify(this.self), {
      lease: lease.id,
    });
    this.#lease = lease.id;
    this.#freshUntil = sent + lease.ttl * 1000;
    this.#needRegister = false;
    this.#emit({ type: "registered", lease: lease.id });
  }

  /** Sleep `ms`, or less when woken (lease loss seen by the watch, or shutdown). */
  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = done;
    });
  }

  async #keepAliveLoop(): Promise<void> {
    const interval = (this.ttlSeconds * 1000) / 3;
    let failing = false;
    let reportedStale = false;
    while (!this.#closed) {
      // Lease loss seen by the watch re-registers at once; after a failure, retry at most every 500 ms.
      const wait = failing ? Math.min(interval, 500) : this.#needRegister ? 0 : interval;
      if (wait > 0) await this.#sleep(wait);
      if (this.#closed) return;
      const overdue = performance.now() - this.#freshUntil;
      if (overdue < 0) reportedStale = false;
      else if (!reportedStale) {
        reportedStale = true; // once per episode, not on every retry
        this.#emit({ type: "stale", overdueMs: overdue });
      }
      try {
        // A keep-alive answering TTL 0 means the lease is gone (expired while we were away): a new one.
        const ttl = this.#needRegister ? 0 : await this.#keepAliveOnce();
        if (ttl === 0) {
          await this.#register();
          failing = true; // rebuild the watch too: events may have been missed while the lease was lost
        }
        if (failing) this.#watchAbort.abort(); // etcd is back: rebuild the watch from a fresh list
        failing = false;
      } catch (err) {
        failing = true;
        if (!this.#closed) this.#emit({ type: "error", error: asError(err) });
      }
    }
  }

  /** One keep-alive; updates freshness on success. Returns the TTL (0 = lease lost). */
  async #keepAliveOnce(): Promise<number> {
    const sent = performance.now();
    const ttl = await this.#client.keepAlive(this.#lease);
    if (ttl > 0) this.#freshUntil = sent + ttl * 1000;
    return ttl;
  }

  async #watchLoop(startRevision: number): Promise<void> {
    let revision = startRevision;
    let backoff = 100;
    while (!this.#closed) {
      this.#watchAbort = new AbortController();
      const signal = AbortSignal.any([this.#watchAbort.signal, this.#stopped.signal]);
      try {
        if (revision === 0) {
          const { kvs, revision: listed } = await this.#client.list(this.#prefix);
          this.#replace(kvs);
          revision = listed;
        }
        for await (const batch of this.#client.watchPrefix(this.#prefix, revision + 1, signal)) {
          this.#apply(batch);
          if (batch.revision > revision) revision = batch.revision;
          backoff = 100;
        }
        revision = 0; // aborted on purpose (rebuild) or closing
      } catch (err) {
        revision = 0;
        if (this.#closed) return;
        if (!(err instanceof EtcdCompactedError)) this.#emit({ type: "error", error: asError(err) });
        await new Promise((r) => setTimeout(r, backoff));
        backoff = Math.min(backoff * 2, 2000);
      }
    }
  }

  #replace(kvs: KeyValue[]): void {
    const next = new Map<string, Member>();
    for (const kv of kvs) {
      const member = parseMember(kv);
      if (member && kv.key === `${this.#prefix}${member.id}`) next.set(member.id, member);
    }
    this.#commit(next);
  }

  #apply(batch: WatchBatch): void {
    if (batch.events.length === 0) return;
    const next = new Map(this.#members);
    for (const event of batch.events) {
      const id = event.kv.key.slice(this.#prefix.length);
      if (event.type === "delete") {
        next.delete(id);
        if (id === this.self.id && !this.#closed && event.kv.modRevision > this.#registeredRevision) {
          // Our key is gone (lease expired or deleted): register again promptly.
          this.#needRegister = true;
          this.#wake?.();
        }
      } else {
        const member = parseMember(event.kv);
        if (member && member.id === id) next.set(id, member);
      }
    }
    this.#commit(next);
  }

  #commit(next: Map<string, Member>): void {
    const joined: Member[] = [];
    const left: Member[] = [];
    for (const [id, member] of next) {
      const before = this.#members.get(id);
      if (!before) joined.push(member);
      else if (before.endpoint !== member.endpoint) {
        left.push(before);
        joined.push(member);
      }
    }
    for (const [id, member] of this.#members) if (!next.has(id)) left.push(member);
    this.#members = next;
    if (joined.length || left.length) this.#emit({ type: "members", members: this.members, joined, left });
  }
}
