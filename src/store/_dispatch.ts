/**
 * Applies store requests to a {@link CacheCore}. Shared by the worker and by
 * `InThreadStore`, so both run exactly the same code.
 *
 * @module
 */
import { CacheCore } from "./_core.ts";
import { createEngine } from "./_engines.ts";
import {
  replyError,
  type RequestOf,
  type StoreOp,
  type StoreRequest,
  type StoreResults,
} from "./_messages.ts";

/** How each operation (but `init`) is applied to the cache core. */
type Handlers = {
  [K in Exclude<StoreOp, "init">]: (
    core: CacheCore,
    req: RequestOf<K>,
  ) => StoreResults[K] | Promise<StoreResults[K]>;
};

const HANDLERS: Handlers = {
  open: (core) => core.open(),
  put: (core, r) => core.put(r.key, r.body),
  putMany: async (core, r) =>
    (await core.putMany(r.items)).map((o) => ("error" in o ? { error: replyError(o.error) } : o)),
  patch: (core, r) => core.patch(r.key, r.data),
  get: (core, r) => core.get(r.key),
  stat: (core, r) => core.stat(r.key),
  list: (core, r) => core.list(r.sel),
  delete: (core, r) => core.delete(r.sel),
  usage: (core) => ({ ...core.usage(), counters: { ...core.counters } }),
  close: async (core) => {
    await core.close();
    return null;
  },
};

/** Holds the cache core of one store and applies requests to it. */
export class StoreDispatcher {
  private core?: CacheCore;

  /** Apply one request (a promise for group commits). Throws what the cache core throws. */
  run<R extends StoreRequest>(req: R): StoreResults[R["op"]] | Promise<StoreResults[R["op"]]> {
    if (req.op === "init") {
      const { options } = req as RequestOf<"init">;
      this.core = new CacheCore(createEngine(options), options.limits);
      return null as StoreResults[R["op"]];
    }
    const core = this.core;
    if (!core) throw new Error("store used before init");
    // TypeScript cannot pair a union-typed op with its handler; the mapped type of HANDLERS does.
    const handler = HANDLERS[req.op as Exclude<StoreOp, "init">] as unknown as (
      core: CacheCore,
      req: R,
    ) => StoreResults[R["op"]] | Promise<StoreResults[R["op"]]>;
    if (!handler) throw new Error(`unknown store operation ${req.op}`);
    return handler(core, req);
  }
}
