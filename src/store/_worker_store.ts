/**
 * The store whose cache core runs in a dedicated Web Worker (`worker.ts`), so
 * index work and storage I/O stay off the network thread.
 *
 * @module
 */
import { CacheError, Status } from "../errors.ts";
import { errorOfReply, type StoreRequest, type StoreResults, type WorkerReply } from "./_messages.ts";
import type { WorkerRequest } from "./_messages.ts";
import { RequestStore } from "./_request_store.ts";
import type { StoreOptions } from "./store.ts";
import type { ObjectBody, ObjectStat, StagedPayload } from "./types.ts";

/** Puts sent to the worker as one group commit, at most. */
const MAX_PUT_BATCH = 64;

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

interface QueuedPut {
  key: string;
  body: ObjectBody;
  resolve: (stat: ObjectStat) => void;
  reject: (err: Error) => void;
}

/** The store running in a dedicated Web Worker. */
export class WorkerStore extends RequestStore {
  private readonly worker: Worker;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly queuedPuts: QueuedPut[] = [];
  private putBatchInFlight = false;
  /** Requests posted and not yet received by the worker: its index load yields while there are some. */
  private readonly posted = new Int32Array(new SharedArrayBuffer(4));

  constructor(options: StoreOptions) {
    super();
    this.worker = new Worker(new URL("./worker.ts", import.meta.url), { type: "module" });
    this.worker.onmessage = (e: MessageEvent<WorkerReply>) => {
      const reply = e.data;
      const p = this.pending.get(reply.id);
      if (!p) return;
      this.pending.delete(reply.id);
      if ("error" in reply) p.reject(errorOfReply(reply.error));
      else p.resolve(reply.result);
    };
    this.worker.onerror = (e) => {
      e.preventDefault();
      const err = new CacheError(Status.INTERNAL, `store worker failed: ${e.message}`);
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    this.send({ op: "init", options, posted: this.posted });
  }

  protected send<R extends StoreRequest>(request: R): Promise<StoreResults[R["op"]]> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      Atomics.add(this.posted, 0, 1);
      this.worker.postMessage({ id, request } satisfies WorkerRequest);
    });
  }

  /**
   * Puts are group-committed: while one batch is being made durable in the worker, the puts that
   * arrive wait here and go as the next batch, so concurrent durable puts share their flushes. A lone
   * put goes at once.
   */
  override put(key: string, body: ObjectBody | StagedPayload): Promise<ObjectStat> {
    if (body.type === "staged") return super.put(key, body);
    return new Promise((resolve, reject) => {
      this.queuedPuts.push({ key, body, resolve, reject });
      if (!this.putBatchInFlight) this.sendPuts();
    });
  }

  private sendPuts(): void {
    const batch = this.queuedPuts.splice(0, MAX_PUT_BATCH);
    this.putBatchInFlight = batch.length > 0;
    if (batch.length === 0) return;
    this.send({ op: "putMany", items: batch.map((p) => [p.key, p.body]) }).then(
      (outcomes) =>
        outcomes.forEach((o, i) => {
          if ("error" in o) batch[i].reject(errorOfReply(o.error));
          else batch[i].resolve(o.stat);
        }),
      (err) => batch.forEach((p) => p.reject(err)),
    ).finally(() => this.sendPuts());
  }

  override async close(): Promise<void> {
    await super.close();
    this.worker.terminate();
  }
}
