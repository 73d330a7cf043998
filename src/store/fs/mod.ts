/**
 * The `fs` storage engine: durable Arrow IPC object files in Flame's folder layout.
 *
 * - {@link FsEngine} (`_engine.ts`) runs in the store worker; its module comment describes the
 *   crash-safety, integrity and disk-budget design.
 * - Two pieces run on the network thread, so large payloads never pass through the worker's memory:
 *   {@link createStager} streams a large upload into `{root}/.staging/`, which the engine then adopts
 *   (`_staging.ts`), and {@link fileSource} streams a large stored payload out of its object file with
 *   inode and CRC32 checks (`_file_source.ts`).
 *
 * @module
 */
export { FsEngine, type FsEngineOptions } from "./_engine.ts";
export { createStager, type MakeRoom, STAGING_HEAD_ROOM } from "./_staging.ts";
export { fileSource } from "./_file_source.ts";
export { errnoCode, ioError, isDiskFull } from "./_io.ts";
export { decodeObjectFile, encodeBase } from "./_codec.ts";
