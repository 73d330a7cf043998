/**
 * The store in the calling thread: the same requests and dispatcher as the
 * worker, used by tools that open a cache folder directly and by tests.
 *
 * @module
 */
import { StoreDispatcher } from "./_dispatch.ts";
import type { StoreRequest, StoreResults } from "./_messages.ts";
import { RequestStore } from "./_request_store.ts";
import type { StoreOptions } from "./store.ts";

/** A {@link Store} whose cache core runs in the calling thread. */
export class InThreadStore extends RequestStore {
  private readonly dispatcher = new StoreDispatcher();

  constructor(options: StoreOptions) {
    super();
    this.dispatcher.run({ op: "init", options });
  }

  protected send<R extends StoreRequest>(req: R): Promise<StoreResults[R["op"]]> {
    const wait = this.dispatcher.waitFor(req);
    if (wait) return wait.then(() => this.send(req));
    try {
      return Promise.resolve(this.dispatcher.run(req));
    } catch (err) {
      return Promise.reject(err);
    }
  }
}
