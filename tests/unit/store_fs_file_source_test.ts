/**
 * Streaming a large object from its file (src/store/fs/_file_source.ts): bytes and checksum, a file
 * verified once is not verified again while unchanged, and a file changed since is checked again.
 */
import assert from "node:assert/strict";
import { createStager, FsEngine } from "../../src/store/fs/mod.ts";
import { fileSource } from "../../src/store/mod.ts";
import { CacheError, Status } from "../../src/errors.ts";
import type { FileBody } from "../../src/store/types.ts";

async function readAll(body: FileBody): Promise<Uint8Array> {
  const out = new Uint8Array(body.length);
  let off = 0;
  for await (const chunk of fileSource(body, "app/s/big").chunks()) {
    out.set(chunk, off);
    off += chunk.length;
  }
  return out;
}

Deno.test("file source: streams the bytes; a file changed after it was verified is verified again", async () => {
  const root = Deno.makeTempDirSync({ prefix: "fs_file_source_" });
  try {
    const engine = new FsEngine(root);
    engine.open();
    const data = new Uint8Array(33 * 1024 * 1024).map((_, i) => (i * 31) & 0xff);
    engine.writeBase({ key: "app/s/big", baseVersion: 1, body: { type: "opaque", data }, deltas: [] });
    const obj = engine.load("app/s/big")!;
    assert.equal(obj.body.type, "file");
    const body = obj.body as FileBody;
    assert.ok(body.crc32 !== undefined);
    assert.deepEqual(await readAll(body), data);
    assert.deepEqual(await readAll(body), data, "the second read (checksum skipped) has the same bytes");

    // One payload byte changed in place (a new modification time): the checksum is taken again.
    const f = Deno.openSync(body.path, { read: true, write: true });
    f.seekSync(body.offset + 12345, Deno.SeekMode.Start);
    f.writeSync(new Uint8Array([data[12345] ^ 0xff]));
    f.close();
    const later = new Date(Date.now() + 5000);
    Deno.utimeSync(body.path, later, later);
    await assert.rejects(
      () => readAll(body),
      (e) => e instanceof CacheError && e.code === Status.DATA_LOSS,
    );
    await engine.close();
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("file source: a staged upload adopted by the engine streams back its bytes", async () => {
  const root = Deno.makeTempDirSync({ prefix: "fs_file_source_staged_" });
  try {
    const engine = new FsEngine(root);
    engine.open();
    const data = new Uint8Array(33 * 1024 * 1024).map((_, i) => (i * 7) & 0xff);
    const w = await createStager(root)("app/s/big");
    for (let i = 0; i < data.length; i += 1 << 20) await w.write(data.subarray(i, i + (1 << 20)));
    engine.adoptStaged("app/s/big", 1, await w.finish());
    const obj = engine.load("app/s/big")!;
    assert.equal(obj.body.type, "file");
    assert.deepEqual(await readAll(obj.body as FileBody), data);
    assert.deepEqual(await readAll(obj.body as FileBody), data);
    await engine.close();
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});
