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

/** Requests posted by the store and not received yet (shared with WorkerStore), set by `init`. */
let posted: Int32Array | undefined;
/** Requests received and not answered yet. */
let running = 0;
// The index load yields to requests only when there are some (see StoreDispatcher).
const dispatcher = new StoreDispatcher(() =>
  running > 0 || (posted !== undefined && Atomics.load(posted, 0) > 0)
);

// Requests run strictly one after another, also while a group commit awaits its flushes.
let queue: Promise<void> = Promise.resolve();

self.onmessage = (e: MessageEvent<WorkerRequest>) => {
  const message = e.data;
  if (message.request.op === "init" && message.request.posted) posted = message.request.posted;
  if (posted) Atomics.sub(posted, 0, 1);
  // Requests that need the whole index wait for it outside the queue, then take their turn.
  const wait = dispatcher.waitFor(message.request);
  if (wait) void wait.then(() => (queue = queue.then(() => handle(message))));
  else queue = queue.then(() => handle(message));
};

async function handle({ id, request }: WorkerRequest): Promise<void> {
  running++;
  let reply: WorkerReply;
  try {
    reply = { id, result: await dispatcher.run(request) };
  } catch (err) {
    if (!(err instanceof CacheError)) console.error(`store worker: ${request.op} failed:`, err);
    reply = { id, error: replyError(err) };
  }
  running--;
  self.postMessage(reply);
}
