/**
 * The `fs` storage engine: durable Arrow IPC object files in Flame's folder layout.
 * See {@link FsEngine} (engine.ts) for the crash-safety, integrity and disk-budget design, and
 * staging.ts for large uploads that are streamed to disk by the network thread and adopted by the engine.
 *
 * @module
 */
export { FsEngine, type FsEngineOptions } from "./engine.ts";
export { createStager, type FsStagingWriter, STAGING_HEAD_ROOM } from "./staging.ts";
