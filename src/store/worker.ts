/**
 * Entry point of the store worker: the cache loop (index, eviction, storage
 * I/O) runs here, beside the network thread. Requests are handled one at a
 * time, in order.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import { CacheError, Status } from "../errors.ts";
import { StoreDispatcher } from "./dispatch.ts";
import type { StoreReply, StoreRequest } from "./store.ts";

const dispatcher = new StoreDispatcher();

self.onmessage = (e: MessageEvent<StoreRequest>) => {
  const { id, op, args } = e.data;
  let reply: StoreReply;
  try {
    reply = { id, result: dispatcher.run(op, args) };
  } catch (err) {
    const code = err instanceof CacheError ? err.code : Status.INTERNAL;
    const message = err instanceof CacheError
      ? err.message
      : `store error: ${(err as Error)?.message ?? err}`;
    if (!(err instanceof CacheError)) console.error(`store worker: ${op} failed:`, err);
    reply = { id, error: { code, message } };
  }
  self.postMessage(reply);
};
