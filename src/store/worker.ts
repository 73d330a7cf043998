/**
 * Entry point of the store worker: the cache loop (index, eviction, storage
 * I/O) runs here, beside the network thread. Requests are handled one at a
 * time, in order (a group commit of puts counts as one).
 *
 * @module
 */
/// <reference lib="deno.worker" />
import { CacheError } from "../errors.ts";
import { StoreDispatcher } from "./dispatch.ts";
import { replyError, type StoreReply, type StoreRequest } from "./store.ts";

const dispatcher = new StoreDispatcher();

// Requests run strictly one after another, also while a group commit awaits its flushes.
let queue: Promise<void> = Promise.resolve();

self.onmessage = (e: MessageEvent<StoreRequest>) => {
  const request = e.data;
  queue = queue.then(() => handle(request));
};

async function handle({ id, op, args }: StoreRequest): Promise<void> {
  let reply: StoreReply;
  try {
    reply = { id, result: await dispatcher.run(op, args) };
  } catch (err) {
    if (!(err instanceof CacheError)) console.error(`store worker: ${op} failed:`, err);
    reply = { id, error: replyError(err) };
  }
  self.postMessage(reply);
}
