/**
 * Entry point of the store worker: the cache core (index, eviction, engine
 * calls) runs here, beside the network thread. Requests are handled one at a
 * time, in order (a group commit of puts counts as one).
 *
 * @module
 */
/// <reference lib="deno.worker" />
import { CacheError } from "../errors.ts";
import { StoreDispatcher } from "./_dispatch.ts";
import { replyError, type WorkerReply, type WorkerRequest } from "./_messages.ts";

const dispatcher = new StoreDispatcher();

// Requests run strictly one after another, also while a group commit awaits its flushes.
let queue: Promise<void> = Promise.resolve();

self.onmessage = (e: MessageEvent<WorkerRequest>) => {
  const message = e.data;
  queue = queue.then(() => handle(message));
};

async function handle({ id, request }: WorkerRequest): Promise<void> {
  let reply: WorkerReply;
  try {
    reply = { id, result: await dispatcher.run(request) };
  } catch (err) {
    if (!(err instanceof CacheError)) console.error(`store worker: ${request.op} failed:`, err);
    reply = { id, error: replyError(err) };
  }
  self.postMessage(reply);
}
