/**
 * The tier's version protocol against a real SeaweedFS: put/patch/head/read/delete/list/gc, versions that
 * never go backwards, concurrent writers from several Tier instances never sharing a version, and the
 * store going down mid-write leaving nothing half-written.
 */
import assert from "node:assert/strict";
import { S3Bucket } from "../../src/tier/s3.ts";
import { isRetryable, Tier, type TierOptions, type VersionRecord } from "../../src/tier/tier.ts";
import {
  TierConfigError,
  TierCredentialsError,
  TierNotFoundError,
  TierUnavailableError,
} from "../../src/tier/errors.ts";
import { openTier } from "../../src/tier/mod.ts";
import { resolveCredentials } from "../../src/tier/credentials.ts";
import { CacheError } from "../../src/errors.ts";
import { haveWeed, startWeed, type WeedService } from "../helpers/services.ts";
import { rejectsWith } from "./rejects.ts";
import { startDropProxy } from "./drop_proxy.ts";

const ignore = !haveWeed();
const MIB = 1 << 20;
const enc = new TextEncoder();

function bucketOf(weed: WeedService, timeoutMs = 10_000) {
  return new S3Bucket({
    endpoint: weed.s3Endpoint,
    bucket: weed.bucket,
    credentials: weed.credentials,
    timeoutMs,
  });
}

function tierOf(weed: WeedService, options: Partial<TierOptions> = {}) {
  return new Tier({ bucket: bucketOf(weed), prefix: "fc/", retireDelayMs: 0, ...options });
}

function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) crypto.getRandomValues(out.subarray(i, Math.min(n, i + 65536)));
  return out;
}

async function listKeys(s3: S3Bucket, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const item of s3.list(prefix)) keys.push(item.key);
  return keys;
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const codeOf = async (p: Promise<unknown>) => {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof CacheError, String(err));
    return err.code;
  }
  return 0;
};

Deno.test({ name: "tier against SeaweedFS", ignore }, async (t) => {
  const weed = await startWeed();
  const s3 = bucketOf(weed);
  const tier = tierOf(weed);
  try {
    await t.step("put, patch, head, read: versions grow and records name complete blobs", async () => {
      const r1 = await tier.put("app/s1/obj", enc.encode("base one"), { kind: "opaque" });
      assert.equal(r1.version, 1);
      const r2 = await tier.put("app/s1/obj", enc.encode("base two"), { kind: "native" });
      assert.equal(r2.version, 2);
      const r3 = await tier.patch("app/s1/obj", enc.encode("delta a"));
      const r4 = await tier.patch("app/s1/obj", enc.encode("delta b"));
      assert.deepEqual([r3.version, r4.version], [3, 4]);
      const head = await tier.head("app/s1/obj");
      assert.ok(head);
      assert.equal(head.record.version, 4);
      assert.equal(head.record.base?.version, 2);
      assert.equal(head.record.base?.kind, "native");
      assert.deepEqual(head.record.patches.map((p) => p.version), [3, 4]);
      assert.equal(new TextDecoder().decode(await tier.readBlob(head.record.base!)), "base two");
      assert.equal(new TextDecoder().decode(await tier.readBlob(head.record.patches[1])), "delta b");
      const stream = await tier.openBlob(head.record.patches[0].blob, { start: 6 });
      assert.equal(await new Response(stream).text(), "a");
      // The replaced base of version 1 is retired (retireDelayMs 0 here); the live blobs stay.
      await until("the old base is deleted", async () => !(await s3.head(`fc/${r1.base!.blob}`)));
      assert.equal((await listKeys(s3, "fc/data/app/s1/obj/")).length, 3);
      assert.equal(await tier.head("app/s1/none"), undefined);
    });

    await t.step(
      "patch of a missing key is NOT_FOUND; the patch limit is RESOURCE_EXHAUSTED; no blob stays",
      async () => {
        assert.equal(await codeOf(tier.patch("app/s1/missing", enc.encode("x"))), 5);
        assert.deepEqual(await listKeys(s3, "fc/data/app/s1/missing/"), []);
        const limited = tierOf(weed, { patchLimit: 2 });
        await limited.put("app/s1/limited", enc.encode("b"), { kind: "opaque" });
        await limited.patch("app/s1/limited", enc.encode("p1"));
        await limited.patch("app/s1/limited", enc.encode("p2"));
        assert.equal(await codeOf(limited.patch("app/s1/limited", enc.encode("p3"))), 8);
        assert.equal((await listKeys(s3, "fc/data/app/s1/limited/")).length, 3);
        assert.equal((await limited.put("app/s1/limited", enc.encode("b2"), { kind: "opaque" })).version, 4);
      },
    );

    await t.step("streamed puts go multipart and read back with size and crc32 checked", async () => {
      const data = randomBytes(20 * MIB + 5);
      let offset = 0;
      const body = new ReadableStream<Uint8Array>({
        pull(c) {
          if (offset >= data.length) return c.close();
          c.enqueue(data.slice(offset, offset + 3 * MIB));
          offset += 3 * MIB;
        },
      });
      const rec = await tier.put("app/big/obj", body, { kind: "native" });
      assert.equal(rec.base?.size, data.length);
      const back = await tier.readBlob(rec.base!);
      assert.ok(back.length === data.length && back.every((b, i) => b === data[i]));
      let streamed = 0;
      for await (const chunk of await tier.openVerified(rec.base!)) streamed += chunk.length;
      assert.equal(streamed, data.length);
      // Damage the stored blob: reads report DATA_LOSS instead of wrong bytes.
      const damaged = data.slice(0, 100);
      damaged[7] ^= 1;
      await s3.put(`fc/${rec.base!.blob}`, damaged);
      assert.equal(await codeOf(tier.readBlob(rec.base!)), 15);
      const small = { ...rec.base!, size: 100 }; // right size, wrong bytes: the crc32 catches it
      assert.equal(await codeOf(tier.readBlob(small)), 15);
      assert.equal(await codeOf(new Response(await tier.openVerified(small)).arrayBuffer()), 15);
    });

    await t.step("delete leaves a tombstone; versions never go backwards; blobs go", async () => {
      await tier.put("app/s2/a", enc.encode("a"), { kind: "opaque" });
      const last = await tier.patch("app/s2/a", enc.encode("a1"));
      assert.equal(await tier.delete("app/s2/a"), true);
      assert.equal(await tier.delete("app/s2/a"), false, "deleting twice is a no-op");
      assert.equal(await tier.head("app/s2/a"), undefined);
      const tomb = await tier.head("app/s2/a", { includeDeleted: true });
      assert.equal(tomb?.record.deleted, true);
      assert.equal(tomb?.record.version, last.version);
      assert.deepEqual(await listKeys(s3, "fc/data/app/s2/a/"), []);
      assert.equal(await codeOf(tier.patch("app/s2/a", enc.encode("x"))), 5);
      const again = await tier.put("app/s2/a", enc.encode("again"), { kind: "opaque" });
      assert.equal(again.version, last.version + 1);
    });

    await t.step(
      "a caller that gave up does not commit; a record write once sent is not cut off",
      async () => {
        // A bucket that aborts the caller's signal at a chosen point of the version protocol.
        let abortAt: "after blob" | "during record" = "after blob";
        let controller = new AbortController();
        class AbortingBucket extends S3Bucket {
          override async put(...args: Parameters<S3Bucket["put"]>) {
            const isRecord = args[0].includes("/meta/");
            const done = super.put(...args);
            if (isRecord && abortAt === "during record") queueMicrotask(() => controller.abort());
            const result = await done;
            if (!isRecord && abortAt === "after blob") controller.abort();
            return result;
          }
        }
        const aborting = new Tier({
          bucket: new AbortingBucket({
            endpoint: weed.s3Endpoint,
            bucket: weed.bucket,
            credentials: weed.credentials,
          }),
          prefix: "fc/",
          retireDelayMs: 0,
        });
        const first = await tier.put("app/gaveup/a", enc.encode("one"), { kind: "opaque" });
        // Aborted after its blob is stored: no new version, and the blob is gone.
        await assert.rejects(
          aborting.put("app/gaveup/a", enc.encode("two"), { kind: "opaque" }, controller.signal),
        );
        await assert.rejects(
          aborting.patch("app/gaveup/a", enc.encode("+"), (controller = new AbortController()).signal),
        );
        assert.deepEqual((await tier.head("app/gaveup/a"))?.record, first);
        assert.deepEqual(await listKeys(s3, "fc/data/app/gaveup/a/"), [`fc/${first.base!.blob}`]);
        // Aborted while its record write is in flight: that write completes, and what it names is there.
        abortAt = "during record";
        controller = new AbortController();
        const second = await aborting.put(
          "app/gaveup/a",
          enc.encode("three"),
          { kind: "opaque" },
          controller.signal,
        );
        assert.ok(controller.signal.aborted);
        assert.equal(second.version, first.version + 1);
        assert.deepEqual(await tier.readBlob(second.base!), enc.encode("three"));
      },
    );

    await t.step("list and prefix deletes cover whole segments only", async () => {
      for (const key of ["app2/s/x", "app2/s/y", "app2/sx/z", "app2/t/w", "app3/s/x"]) {
        await tier.put(key, enc.encode(key), { kind: "opaque" });
      }
      const keysOf = async (sel: string) => {
        const out: string[] = [];
        for await (const r of tier.list(sel)) out.push(r.key);
        return out;
      };
      assert.deepEqual(await keysOf("app2/s"), ["app2/s/x", "app2/s/y"]);
      assert.deepEqual(await keysOf("app2"), ["app2/s/x", "app2/s/y", "app2/sx/z", "app2/t/w"]);
      assert.equal(await tier.deletePrefix("app2/s"), 2);
      assert.deepEqual(await keysOf("app2"), ["app2/sx/z", "app2/t/w"]);
      assert.deepEqual(await listKeys(s3, "fc/data/app2/s/"), []);
      assert.equal(await tier.deletePrefix("app2"), 2);
      assert.deepEqual(await keysOf("app2"), []);
      assert.deepEqual(await keysOf("app3"), ["app3/s/x"]);
      assert.ok((await keysOf("")).includes("app3/s/x"));
    });

    await t.step("gc deletes old blobs no record names and keeps the rest", async () => {
      const rec = await tier.put("app/gc/obj", enc.encode("live"), { kind: "opaque" });
      // A crash between upload and CAS leaves a blob no record names.
      await s3.put("fc/data/app/gc/obj/orphan-1", enc.encode("orphan"));
      await s3.put("fc/data/app/gc/gone/orphan-2", enc.encode("orphan of a key with no record"));
      assert.equal(await tier.gc(3_600_000, "app/gc"), 0, "young blobs are kept (a CAS may be on its way)");
      await new Promise((r) => setTimeout(r, 1100)); // S3 times have 1 s resolution
      assert.equal(await tier.gc(0, "app/gc"), 2);
      assert.deepEqual(await listKeys(s3, "fc/data/app/gc/"), [`fc/${rec.base!.blob}`]);
    });

    await t.step("credentials from a shared credentials file work end to end", async () => {
      const home = await Deno.makeTempDir();
      try {
        await Deno.mkdir(`${home}/.aws`);
        await Deno.writeTextFile(
          `${home}/.aws/credentials`,
          `[cache]\naws_access_key_id=${weed.credentials.accessKeyId}\naws_secret_access_key=${weed.credentials.secretAccessKey}\n`,
        );
        const env: Record<string, string> = { HOME: home, AWS_PROFILE: "cache" };
        const credentials = await resolveCredentials((n) => env[n]);
        const fromFile = new Tier({
          bucket: new S3Bucket({ endpoint: weed.s3Endpoint, bucket: weed.bucket, credentials }),
          prefix: "fc/",
        });
        assert.equal((await fromFile.head("app/s1/obj"))?.record.version, 4);
      } finally {
        await Deno.remove(home, { recursive: true });
      }
    });

    await t.step(
      "openTier: probes the bucket; missing credentials, wrong ones and a missing bucket are clear",
      async () => {
        const home = await Deno.makeTempDir();
        try {
          const good: Record<string, string> = {
            HOME: home,
            AWS_ACCESS_KEY_ID: weed.credentials.accessKeyId,
            AWS_SECRET_ACCESS_KEY: weed.credentials.secretAccessKey,
          };
          const base = { endpoint: weed.s3Endpoint, bucket: weed.bucket, prefix: "fc" };
          const opened = await openTier({ ...base, env: (n) => good[n] });
          assert.equal(opened.source, "environment");
          assert.equal((await opened.tier.head("app/s1/obj"))?.record.version, 4);
          const none = await rejectsWith(
            () => openTier({ ...base, env: (n) => ({ HOME: home })[n] }),
            TierConfigError,
          );
          assert.match(none.message, /credentials not found/);
          const wrong: Record<string, string> = { ...good, AWS_SECRET_ACCESS_KEY: "wrong-secret-abc" };
          const refused = await rejectsWith(
            () => openTier({ ...base, env: (n) => wrong[n] }),
            TierCredentialsError,
          );
          assert.ok(
            !refused.message.includes("wrong-secret-abc") &&
              !refused.message.includes(good.AWS_ACCESS_KEY_ID),
          );
          await rejectsWith(
            () => openTier({ ...base, bucket: "no-such-bucket", env: (n) => good[n] }),
            TierNotFoundError,
          );
        } finally {
          await Deno.remove(home, { recursive: true });
        }
      },
    );

    await t.step(
      "4 Tier instances x 50 concurrent puts/patches on one key never share a version",
      async () => {
        const key = "app/race/obj";
        await tier.put(key, enc.encode("seed"), { kind: "opaque" });
        const acked: { version: number; kind: "put" | "patch"; writer: number }[] = [];
        let failed = 0;
        await Promise.all([0, 1, 2, 3].map(async (writer) => {
          const mine = tierOf(weed, { casAttempts: 200 });
          for (let i = 0; i < 50; i++) {
            const kind = (i + writer) % 3 === 0 ? "put" : "patch";
            try {
              const r: VersionRecord = kind === "put"
                ? await mine.put(key, enc.encode(`w${writer}-${i}`), { kind: "opaque" })
                : await mine.patch(key, enc.encode(`w${writer}-${i}`));
              acked.push({ version: r.version, kind, writer });
            } catch (err) {
              assert.ok(isRetryable(err), `only retryable failures: ${err}`);
              failed++;
            }
          }
        }));
        const versions = acked.map((a) => a.version);
        assert.equal(new Set(versions).size, versions.length, "no version handed out twice");
        assert.ok(acked.length >= 190, `${acked.length} acknowledged, ${failed} failed`);
        const final = (await tier.head(key))!.record;
        assert.equal(final.version, Math.max(...versions));
        assert.equal(final.version, 1 + acked.length, "every acknowledged write took exactly one version");
        const lastPut = Math.max(1, ...acked.filter((a) => a.kind === "put").map((a) => a.version));
        assert.equal(final.base!.version, lastPut);
        assert.deepEqual(
          final.patches.map((p) => p.version),
          acked.filter((a) => a.kind === "patch" && a.version > lastPut).map((a) => a.version).sort((a, b) =>
            a - b
          ),
          "the record lists exactly the acknowledged patches after the last put",
        );
        for (const p of final.patches) await tier.readBlob(p);
      },
    );

    await t.step(
      "a record write whose answer is lost: success when it landed, UNAVAILABLE when not",
      async () => {
        const proxy = startDropProxy(weed.s3Endpoint);
        try {
          const lossy = new Tier({
            bucket: new S3Bucket({
              endpoint: proxy.endpoint,
              bucket: weed.bucket,
              credentials: weed.credentials,
            }),
            prefix: "fc/",
            retireDelayMs: 0,
          });
          const key = "app/lossy/obj";
          const first = await lossy.put(key, enc.encode("one"), { kind: "opaque" });
          proxy.arm("reply"); // the write lands, its answer is lost
          const landed = await lossy.patch(key, enc.encode("two"));
          assert.equal(proxy.dropped(), 1);
          assert.equal(landed.version, first.version + 1);
          const head = (await tier.head(key))!.record;
          assert.equal(head.version, landed.version, "the version the caller got is the committed one");
          assert.equal(head.patches.at(-1)?.blob, landed.patches.at(-1)?.blob);
          // The HTTP client may resend the dropped write, whose copy then answers 412: the patch must still
          // be applied once, not again at a new version.
          assert.equal(head.patches.length, 1, JSON.stringify(head.patches));
          proxy.arm("request", 1000); // the write never reaches the store, however often it is sent
          const err = await rejectsWith(() => lossy.patch(key, enc.encode("three")), TierUnavailableError);
          proxy.disarm();
          assert.ok(proxy.dropped() >= 2);
          assert.equal(err.code, 14);
          assert.deepEqual((await tier.head(key))!.record, head, "nothing changed");
          // Its blob was left for gc (the write might still have been in flight): gc removes it.
          assert.equal((await listKeys(s3, "fc/data/app/lossy/obj/")).length, 3);
          await new Promise((r) => setTimeout(r, 1100));
          assert.equal(await tier.gc(0, "app/lossy"), 1);
          assert.equal((await listKeys(s3, "fc/data/app/lossy/obj/")).length, 2);
          const next = await lossy.patch(key, enc.encode("four"));
          assert.equal(next.version, head.version + 1);
        } finally {
          await proxy.close();
        }
      },
    );

    await t.step(
      "SeaweedFS down: retryable UNAVAILABLE, and nothing half-written after it is back",
      async () => {
        const key = "app/outage/obj";
        const before = await tier.put(key, enc.encode("committed"), { kind: "opaque" });
        const quick = tierOf(weed);
        // A large put in flight when the store stops.
        let sent = 0;
        let stopped: Promise<void> | undefined;
        const body = new ReadableStream<Uint8Array>({
          async pull(c) {
            if (sent >= 64 * MIB) return c.close();
            if (sent === 12 * MIB) stopped = weed.stop();
            if (sent >= 12 * MIB) await new Promise((r) => setTimeout(r, 20));
            c.enqueue(new Uint8Array(MIB).fill(7));
            sent += MIB;
          },
        });
        const err = await rejectsWith(() => quick.put(key, body, { kind: "opaque" }), TierUnavailableError);
        assert.equal(err.code, 14);
        await stopped;
        assert.ok(isRetryable(await quick.head(key).catch((e) => e)));
        assert.ok(isRetryable(await quick.patch(key, enc.encode("p")).catch((e) => e)));
        assert.ok(isRetryable(await quick.delete(key).catch((e) => e)));
        await weed.start();
        const after = (await tier.head(key))!.record;
        assert.deepEqual(after, before, "the record is exactly the last acknowledged one");
        assert.equal(new TextDecoder().decode(await tier.readBlob(after.base!)), "committed");
        const next = await tier.patch(key, enc.encode("p"));
        assert.equal(next.version, before.version + 1);
        await tier.gc(0, "app/outage"); // anything the interrupted upload left behind
        await new Promise((r) => setTimeout(r, 1100));
        await tier.gc(0, "app/outage");
        assert.equal((await listKeys(s3, "fc/data/app/outage/")).length, 2);
      },
    );
  } finally {
    await tier.flush();
    await weed.close();
  }
});
