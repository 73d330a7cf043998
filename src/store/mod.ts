/**
 * The object store: the cache core (index, versions, patches, LRU of resident payloads) over a
 * storage engine, behind the asynchronous {@link Store} interface the network thread uses.
 *
 * What runs where:
 * - **Store worker** (`worker.ts`): the cache core and every engine call: index rebuild, loads,
 *   durable writes, patches, deletes, disk budget, adoption of staged uploads. With `none` storage
 *   (memory only) the core runs on the network thread instead ({@link InThreadStore}).
 * - **Network thread**: the hot read cache ({@link HotReadStore}, small objects), and the engine's file
 *   access for large payloads: streaming an upload into a staging file ({@link stagerFor}) and a stored
 *   payload out of its file ({@link fileSource}).
 *
 * {@link openStore} builds the server's store; {@link InThreadStore} runs the same core in the calling
 * thread for tools and tests.
 *
 * @module
 */
import { HotReadStore } from "./_hot_read_store.ts";
import { WorkerStore } from "./_worker_store.ts";
import { InThreadStore } from "./_in_thread_store.ts";
import type { Store, StoreOptions } from "./store.ts";

export { listPageOf, type Store, type StoreOptions, type StoreUsage } from "./store.ts";
export type { GroupTotals } from "./_index.ts";
export { HOT_READ_DEFAULTS, type HotReadOptions, HotReadStore } from "./_hot_read_store.ts";
export { WorkerStore } from "./_worker_store.ts";
export { InThreadStore } from "./_in_thread_store.ts";
export { type CacheLimits, MAX_PATCHES } from "./_core.ts";
export { Lru } from "./_lru.ts";
export { stagerFor } from "./_engines.ts";
export { fileSource, ioError, isDiskFull } from "./fs/mod.ts";
export type { AdoptsStagedUploads, StorageEngine } from "./engine.ts";
export * from "./types.ts";

/**
 * The server's store: the cache core in a worker, with the hot read cache in front of it. Without
 * storage (`none`) the core only touches memory, so it runs on the network thread: the worker round
 * trip (a structured clone each way and two thread wake-ups) cost more CPU than the work it moved
 * (bench/README.md, "Where a small op's CPU goes").
 */
export function openStore(options: StoreOptions): Store {
  if (options.storage.kind === "none") return new InThreadStore(options);
  return new HotReadStore(new WorkerStore(options));
}
