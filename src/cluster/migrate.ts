/**
 * `flame-cache migrate`: move a single node into a cluster by uploading its Flame-layout folder into the
 * shared tier, every object with its key, its base version and its patches' versions.
 *
 * Run it with the node stopped, before the replicas start, with the same `--remote*` settings as the
 * replicas and `--storage` naming the node's folder. An object the tier already holds (a live record,
 * or a tombstone at least as new) is left as it is and counted as skipped, so running it twice is safe.
 *
 * @module
 */
import type { CacheConfig } from "../config/mod.ts";
import { FsEngine } from "../store/fs/mod.ts";
import type { FileBody, ObjectBody } from "../store/mod.ts";
import { nativeBlob } from "./tier_codec.ts";
import { openRemote } from "./node.ts";
import { fileRangeStream } from "./file_stream.ts";

/** What a migration did. */
export interface MigrateSummary {
  uploaded: number;
  skipped: number;
  failed: number;
  bytes: number;
}

/** Upload every object of the folder `config.storage` into `config.remote`'s tier. */
export async function migrate(
  config: CacheConfig,
  progress: (line: string) => void = (line) => console.error(line),
): Promise<MigrateSummary> {
  if (config.storage.kind !== "fs") throw new Error("migrate needs --storage naming the node's folder");
  if (!config.remote) throw new Error("migrate needs the shared tier: --remote s3://BUCKET/PREFIX");
  const { tier, describe } = await openRemote(config.remote);
  const engine = new FsEngine(config.storage.root);
  const { entries, summary } = engine.open();
  progress(`migrate: ${summary}; uploading into ${describe}`);
  const out: MigrateSummary = { uploaded: 0, skipped: 0, failed: 0, bytes: 0 };
  for (const stat of entries) {
    try {
      const obj = engine.load(stat.key);
      if (!obj) continue;
      const base = obj.body.type === "native"
        ? { body: nativeBlob(obj.body), kind: "native" as const, rows: obj.body.rows }
        : { body: await payloadOf(obj.body), kind: "opaque" as const };
      const record = await tier.restore(
        obj.key,
        { ...base, version: obj.baseVersion },
        obj.deltas.map((d) => ({ version: d.version, body: d.data })),
      );
      if (record) {
        out.uploaded++;
        out.bytes += stat.size;
      } else {
        out.skipped++;
      }
    } catch (err) {
      out.failed++;
      progress(`migrate: ${stat.key}: ${(err as Error).message}`);
    }
  }
  await engine.close(); // replays a log a crash left and removes it: the folder stays Flame layout
  await tier.flush();
  progress(
    `migrate: ${out.uploaded} objects uploaded (${out.bytes} bytes), ${out.skipped} already in the tier, ` +
      `${out.failed} failed`,
  );
  return out;
}

/** The payload of an opaque body: in memory, or streamed (checksum-checked) from the engine's file. */
function payloadOf(body: ObjectBody | FileBody): Uint8Array | Promise<ReadableStream<Uint8Array>> {
  if (body.type === "opaque") return body.data;
  if (body.type !== "file") throw new Error("not an opaque body");
  return fileRangeStream(body.path, body.offset, body.length, body.crc32);
}
