/**
 * The S3 bucket client against a real SeaweedFS with an identity configured (requests must be signed):
 * put/get/head/delete/list, ranges and streams, multipart streams, conditional puts, error mapping.
 */
import assert from "node:assert/strict";
import { crc32 } from "node:zlib";
import { S3Bucket } from "../../src/tier/s3.ts";
import { fileRangeStream } from "../../src/cluster/file_stream.ts";
import {
  TierCredentialsError,
  TierNotFoundError,
  TierPreconditionError,
  TierUnavailableError,
} from "../../src/tier/errors.ts";
import { freePort, haveWeed, startWeed, type WeedService } from "../helpers/services.ts";
import { rejectsWith } from "./rejects.ts";

const ignore = !haveWeed();
const MIB = 1 << 20;

function bucketFor(weed: WeedService, overrides: Partial<ConstructorParameters<typeof S3Bucket>[0]> = {}) {
  return new S3Bucket({
    endpoint: weed.s3Endpoint,
    bucket: weed.bucket,
    credentials: weed.credentials,
    timeoutMs: 10_000,
    ...overrides,
  });
}

function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) crypto.getRandomValues(out.subarray(i, Math.min(n, i + 65536)));
  return out;
}

/** A stream of `data` in chunks of `chunk` bytes that counts how many bytes were pulled. */
function streamOf(data: Uint8Array, chunk = 1 * MIB + 7) {
  let offset = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (offset >= data.length) return controller.close();
      controller.enqueue(data.slice(offset, offset + chunk));
      offset += chunk;
    },
  }, { highWaterMark: 0 });
}

Deno.test({ name: "s3 bucket client against SeaweedFS", ignore }, async (t) => {
  const weed = await startWeed();
  const s3 = bucketFor(weed);
  try {
    await t.step("unsigned requests are refused (the identity is enforced)", async () => {
      const r = await fetch(`${weed.s3Endpoint}/${weed.bucket}/anything`, { method: "PUT", body: "x" });
      await r.body?.cancel();
      assert.equal(r.status, 403);
    });

    await t.step("put, get, head, range, delete", async () => {
      const data = randomBytes(1000);
      const put = await s3.put("t/basic/a b+c é", data);
      assert.equal(put.size, 1000);
      assert.ok(put.etag.length > 2);
      assert.deepEqual(await s3.get("t/basic/a b+c é"), data);
      const info = await s3.head("t/basic/a b+c é");
      assert.equal(info?.size, 1000);
      assert.equal(info?.etag, put.etag);
      assert.deepEqual(await s3.get("t/basic/a b+c é", { start: 10, end: 20 }), data.subarray(10, 20));
      const tail = await s3.getStream("t/basic/a b+c é", { start: 990 });
      assert.equal(tail.size, 10);
      assert.deepEqual(new Uint8Array(await new Response(tail.body).arrayBuffer()), data.subarray(990));
      await s3.delete("t/basic/a b+c é");
      assert.equal(await s3.head("t/basic/a b+c é"), undefined);
      await rejectsWith(() => s3.get("t/basic/a b+c é"), TierNotFoundError);
      await s3.delete("t/basic/a b+c é"); // deleting again is fine
    });

    await t.step("streams: short ones go as one put, long ones as multipart, content intact", async () => {
      for (const size of [0, 5 * MIB, 8 * MIB, 16 * MIB, 19 * MIB + 3]) {
        const data = randomBytes(size);
        const put = await s3.put(`t/stream/${size}`, streamOf(data));
        assert.equal(put.size, size);
        const got = await s3.getStream(`t/stream/${size}`);
        assert.equal(got.size, size);
        const back = new Uint8Array(await new Response(got.body).arrayBuffer());
        assert.equal(back.length, size);
        assert.ok(back.every((b, i) => b === data[i]), `bytes of ${size}`);
        // Multipart ETags carry a part count suffix ("...-N").
        const parts = Math.ceil(size / (8 * MIB));
        assert.equal(/-\d+"?$/.test(put.etag), size > 8 * MIB, `${size}: etag ${put.etag} (${parts} parts)`);
      }
    });

    await t.step(
      "file ranges go as byte streams (BYOB into the part buffers), observed in order",
      async () => {
        const path = await Deno.makeTempFile();
        try {
          for (const size of [0, 5 * MIB, 8 * MIB, 16 * MIB, 19 * MIB + 3]) {
            const data = randomBytes(size);
            await Deno.writeFile(path, new Uint8Array([...randomBytes(7), ...data, ...randomBytes(5)]));
            let seen = 0;
            let crcSeen = 0;
            const put = await s3.put(
              `t/file/${size}`,
              await fileRangeStream(path, 7, size, crc32(data)),
              {},
              undefined,
              (p) => {
                crcSeen = crc32(p, crcSeen);
                seen += p.length;
              },
            );
            assert.equal(put.size, size);
            assert.equal(seen, size, `observed every byte of ${size} once`);
            assert.equal(crcSeen, crc32(data), `observed in order (${size})`);
            const back = await s3.get(`t/file/${size}`);
            assert.equal(back.length, size);
            assert.ok(back.every((b, i) => b === data[i]), `bytes of ${size}`);
          }
          // A file whose bytes no longer match the checksum they were staged with is not stored.
          await Deno.writeFile(path, randomBytes(9 * MIB));
          await assert.rejects(s3.put("t/file/damaged", await fileRangeStream(path, 0, 9 * MIB, 12345)));
          assert.equal(await s3.head("t/file/damaged"), undefined);
        } finally {
          await Deno.remove(path);
        }
      },
    );

    await t.step("views on a SharedArrayBuffer (the server's upload buffers) are stored intact", async () => {
      for (const size of [1000, 8 * MIB + 5]) {
        const shared = new Uint8Array(new SharedArrayBuffer(size + 16));
        shared.set(randomBytes(size + 16));
        const view = shared.subarray(16);
        const put = await s3.put(`t/shared/${size}`, view);
        assert.equal(put.size, size);
        const back = await s3.get(`t/shared/${size}`);
        assert.equal(back.length, size);
        assert.ok(back.every((b, i) => b === view[i]), `bytes of ${size}`);
        assert.equal(/-\d+"?$/.test(put.etag), size > 8 * MIB, `${size}: multipart only above the part size`);
      }
    });

    await t.step("a 384 MiB stream uploads with bounded memory and reads back intact", async () => {
      const total = 384 * MIB;
      const chunk = new Uint8Array(MIB); // reused: the uploader copies each chunk into its part buffer
      let made = 0;
      let crcIn = 0;
      const source = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (made >= total) return controller.close();
          chunk.fill(made / MIB);
          crcIn = crc32(chunk, crcIn);
          controller.enqueue(chunk);
          made += MIB;
        },
      }, { highWaterMark: 0 });
      const before = Deno.memoryUsage().rss;
      let peak = before;
      const sampler = setInterval(() => (peak = Math.max(peak, Deno.memoryUsage().rss)), 20);
      try {
        const put = await s3.put("t/stream/384m", source);
        assert.equal(put.size, total);
      } finally {
        clearInterval(sampler);
      }
      // Parts go over node:http from reused part buffers (3 x 8 MiB; bench/tier_upload_memory.ts: +14-16 MiB
      // for 256 MiB in a fresh process). Through fetch, which copies every part body, it was about +130 MiB;
      // buffering the stream would add 384 MiB.
      assert.ok(peak - before < 96 * MIB, `RSS grew by ${((peak - before) / MIB).toFixed(0)} MiB`);
      let crcOut = 0;
      let size = 0;
      for await (const part of (await s3.getStream("t/stream/384m")).body) {
        crcOut = crc32(part, crcOut);
        size += part.length;
      }
      assert.equal(size, total);
      assert.equal(crcOut, crcIn);
      await s3.delete("t/stream/384m");
    });

    await t.step("a failing stream aborts the upload and stores nothing", async () => {
      let sent = 0;
      const failing = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent >= 20 * MIB) return controller.error(new Error("source broke"));
          controller.enqueue(new Uint8Array(MIB));
          sent += MIB;
        },
      });
      await assert.rejects(() => s3.put("t/stream/broken", failing), /source broke/);
      assert.equal(await s3.head("t/stream/broken"), undefined);
    });

    await t.step("conditional puts: If-None-Match * and If-Match are honoured", async () => {
      const key = "t/cond/record";
      const first = await s3.put(key, new TextEncoder().encode("v1"), { ifNoneMatch: "*" });
      await rejectsWith(
        () => s3.put(key, new TextEncoder().encode("v1b"), { ifNoneMatch: "*" }),
        TierPreconditionError,
      );
      const second = await s3.put(key, new TextEncoder().encode("v2"), { ifMatch: first.etag });
      assert.notEqual(second.etag, first.etag);
      const err = await rejectsWith(
        () => s3.put(key, new TextEncoder().encode("v3"), { ifMatch: first.etag }),
        TierPreconditionError,
      );
      assert.equal(err.code, 9);
      assert.equal(new TextDecoder().decode(await s3.get(key)), "v2");
      await assert.rejects(() => s3.put("t/cond/missing", new Uint8Array(1), { ifMatch: first.etag }));
      assert.equal(await s3.head("t/cond/missing"), undefined);
      await rejectsWith(() => s3.put(key, streamOf(randomBytes(9 * MIB)), { ifMatch: second.etag }), Error);
      assert.equal(new TextDecoder().decode(await s3.get(key)), "v2");
    });

    await t.step("conditional creates race: exactly one wins", async () => {
      const results = await Promise.allSettled(
        Array.from(
          { length: 8 },
          (_, i) => s3.put("t/cond/race", new TextEncoder().encode(`w${i}`), { ifNoneMatch: "*" }),
        ),
      );
      const won = results.filter((r) => r.status === "fulfilled");
      assert.equal(won.length, 1, JSON.stringify(results.map((r) => r.status)));
      for (const r of results) {
        if (r.status === "rejected") assert.ok(r.reason instanceof TierPreconditionError);
      }
    });

    await t.step("list by prefix pages through more than 1000 keys", async () => {
      const names = Array.from({ length: 1005 }, (_, i) => `t/list/many/${String(i).padStart(4, "0")}`);
      for (let i = 0; i < names.length; i += 25) {
        await Promise.all(names.slice(i, i + 25).map((n) => s3.put(n, new Uint8Array([1, 2, 3]))));
      }
      await s3.put("t/list/manyother", new Uint8Array(1));
      const listed: string[] = [];
      for await (const item of s3.list("t/list/many/")) {
        listed.push(item.key);
        assert.equal(item.size, 3);
      }
      assert.deepEqual(listed, names);
    });

    await t.step("wrong credentials: a credentials error that does not echo them", async () => {
      const bad = bucketFor(weed, {
        credentials: { accessKeyId: "WRONGKEYID123", secretAccessKey: "wrong-secret-value-xyz" },
      });
      const err = await rejectsWith(() => bad.get("t/cond/record"), TierCredentialsError);
      assert.ok(!err.message.includes("WRONGKEYID123") && !err.message.includes("wrong-secret"), err.message);
      const right = bucketFor(weed, {
        credentials: { accessKeyId: weed.credentials.accessKeyId, secretAccessKey: "not-the-secret" },
      });
      await rejectsWith(() => right.put("t/x", new Uint8Array(1)), TierCredentialsError);
    });

    await t.step(
      "a store frozen mid-read (SIGSTOP) fails the stream with UNAVAILABLE after the idle timeout",
      async () => {
        await s3.put("t/stall/obj", randomBytes(48 * MIB));
        const impatient = bucketFor(weed, { timeoutMs: 1500 });
        const { body } = await impatient.getStream("t/stall/obj");
        const reader = body.getReader();
        await reader.read();
        weed.signal("SIGSTOP");
        try {
          const started = Date.now();
          const err = await rejectsWith(async () => {
            while (!(await reader.read()).done) { /* drain what the sockets hold */ }
          }, TierUnavailableError);
          assert.match(err.message, /no data for 1500 ms/);
          assert.ok(Date.now() - started < 10_000);
          await rejectsWith(() => impatient.head("t/stall/obj"), TierUnavailableError);
        } finally {
          weed.signal("SIGCONT");
        }
        assert.equal((await s3.head("t/stall/obj"))?.size, 48 * MIB);
      },
    );

    await t.step("nothing listening: unavailable, quickly", async () => {
      const down = new S3Bucket({
        endpoint: `http://127.0.0.1:${freePort()}`,
        bucket: weed.bucket,
        credentials: weed.credentials,
      });
      const started = Date.now();
      const err = await rejectsWith(() => down.put("t/x", new Uint8Array(1)), TierUnavailableError);
      assert.equal(err.code, 14);
      assert.ok(Date.now() - started < 2000);
      await rejectsWith(async () => {
        for await (const _ of down.list("t/")) { /* nothing */ }
      }, TierUnavailableError);
    });
  } finally {
    await weed.close();
  }
});
