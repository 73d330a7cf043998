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
  open: () => "", // see StoreDispatcher.run
  indexed: (core) => core.indexSummary(),
  listPage: (core, r) => core.listPage(r.sel, r.after, r.limit),
  groupTotals: (core) => core.groupTotals(),
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

/** Operations that need the whole index: while it loads they wait (and do not hold up the others). */
function needsIndex(req: StoreRequest): boolean {
  switch (req.op) {
    case "list":
    case "listPage":
    case "groupTotals":
    case "indexed":
      return true;
    case "delete":
      return !req.sel.exact;
    default:
      return false;
  }
}

/** Work done per turn of the event loop while the index loads (requests run between turns). */
const LOAD_SLICE_MS = 10;
/** With a `waiting` hint, the longest the load runs without a turn of the event loop. */
const MAX_UNYIELDED_MS = 200;

/**
 * Holds the cache core of one store and applies requests to it. `open` starts loading the index in the
 * background, a slice per turn of the event loop, so requests are served meanwhile (_core.ts).
 */
export class StoreDispatcher {
  private core?: CacheCore;
  private loaded: Promise<void> = Promise.resolve();
  private stopLoading?: () => void;

  /**
   * @param waiting when given (the store worker), true while a request was posted and not yet received
   * or is still running: the index load then yields to it; otherwise it runs on without yielding (a timer
   * turn costs 1-3 ms). Without it, the load yields after every slice.
   */
  constructor(private readonly waiting?: () => boolean) {}

  /**
   * Null when `req` can run now; else a promise that resolves once it can (the index is complete). The
   * caller runs it then, in its turn.
   */
  waitFor(req: StoreRequest): Promise<void> | null {
    if (!this.core || this.core.indexComplete || !needsIndex(req)) return null;
    return this.loaded;
  }

  /** Apply one request (a promise for group commits). Throws what the cache core throws. */
  run<R extends StoreRequest>(req: R): StoreResults[R["op"]] | Promise<StoreResults[R["op"]]> {
    if (req.op === "init") {
      const { options } = req as RequestOf<"init">;
      this.core = new CacheCore(createEngine(options), options.limits);
      return null as StoreResults[R["op"]];
    }
    const core = this.core;
    if (!core) throw new Error("store used before init");
    if (req.op === "open") {
      core.begin();
      // An engine with nothing to walk (storage none) is complete at once.
      if (!core.loadStep()) return core.indexSummary() as StoreResults[R["op"]];
      this.loaded = this.load(core);
      return "index loading in the background" as StoreResults[R["op"]];
    }
    if (req.op === "close") this.stopLoading?.();
    // TypeScript cannot pair a union-typed op with its handler; the mapped type of HANDLERS does.
    const handler = HANDLERS[req.op as Exclude<StoreOp, "init">] as unknown as (
      core: CacheCore,
      req: R,
    ) => StoreResults[R["op"]] | Promise<StoreResults[R["op"]]>;
    if (!handler) throw new Error(`unknown store operation ${req.op}`);
    return handler(core, req);
  }

  /**
   * Load the index in slices, yielding to the event loop between them with a timer: requests that
   * arrived meanwhile run first (a MessageChannel turn was tried: it starved the worker's own messages).
   */
  private async load(core: CacheCore): Promise<void> {
    let stopped = false;
    this.stopLoading = () => (stopped = true);
    const turn = () => new Promise<void>((resolve) => setTimeout(resolve, 0));
    const waiting = this.waiting;
    try {
      for (;;) {
        const until = performance.now() + (waiting ? MAX_UNYIELDED_MS : LOAD_SLICE_MS);
        let more = true;
        while (more && !stopped && performance.now() < until && !waiting?.()) more = core.loadStep();
        if (!more || stopped) break;
        await turn();
      }
    } catch (err) {
      console.error("store: loading the index failed:", err);
    }
  }
}
