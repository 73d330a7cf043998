/**
 * The store's request/reply messages (src/store/_messages.ts) and their two deliveries: the worker
 * store and the in-thread store answer the same requests with the same results, and errors keep their
 * status across the worker boundary (anything that is not a CacheError becomes INTERNAL).
 */
import assert from "node:assert/strict";
import { CacheError, Status } from "../../src/errors.ts";
import { errorOfReply, replyError } from "../../src/store/_messages.ts";
import { StoreDispatcher } from "../../src/store/_dispatch.ts";
import { InThreadStore, type Store, type StoreOptions, WorkerStore } from "../../src/store/mod.ts";
import type { ObjectBody } from "../../src/store/types.ts";

const OPTIONS: StoreOptions = {
  storage: { kind: "none" },
  limits: { policy: "lru", maxMemory: 1 << 20, maxObjects: 100 },
};

function opaque(text: string): ObjectBody {
  return { type: "opaque", data: new TextEncoder().encode(text) };
}

/** The same sequence of operations; returns what each one answered. */
async function exercise(store: Store): Promise<unknown[]> {
  const out: unknown[] = [];
  out.push(await store.open());
  out.push((await store.put("app/s/a", opaque("one"))).version);
  out.push((await store.put("app/s/a", opaque("two"))).version);
  out.push((await store.patch("app/s/a", new TextEncoder().encode("+"))).version);
  const obj = await store.get("app/s/a");
  out.push([obj.baseVersion, obj.deltas.length]);
  out.push((await store.stat("app/s/a"))?.size);
  out.push(await store.stat("app/s/none"));
  out.push((await store.list({ value: "app", exact: false })).map((s) => s.key));
  const missing = await store.get("app/s/none").catch((e) => e);
  out.push([missing instanceof CacheError, missing.code, missing.message]);
  const badPatch = await store.patch("app/s/none", new Uint8Array(1)).catch((e) => e);
  out.push([badPatch instanceof CacheError, badPatch.code]);
  out.push(await store.delete({ value: "app/s", exact: false }));
  const usage = await store.usage();
  out.push([usage.objects, usage.counters.puts, usage.counters.patches, usage.counters.deletes]);
  return out;
}

Deno.test("worker store and in-thread store: same answers, errors keep their status", async () => {
  const local = new InThreadStore(OPTIONS);
  const worker = new WorkerStore(OPTIONS);
  try {
    const expected = await exercise(local);
    assert.deepEqual(expected.slice(1, 4), [1, 2, 3]);
    assert.deepEqual(expected[8], [true, Status.NOT_FOUND, "object app/s/none not found"]);
    assert.deepEqual(expected[9], [true, Status.NOT_FOUND]);
    assert.deepEqual(await exercise(worker), expected);
  } finally {
    await local.close();
    await worker.close();
  }
});

Deno.test("replyError: a CacheError keeps code and message; anything else is INTERNAL", () => {
  assert.deepEqual(replyError(new CacheError(Status.DATA_LOSS, "damaged")), {
    code: Status.DATA_LOSS,
    message: "damaged",
  });
  assert.deepEqual(replyError(new RangeError("boom")), {
    code: Status.INTERNAL,
    message: "store error: boom",
  });
  const back = errorOfReply(replyError(new CacheError(Status.RESOURCE_EXHAUSTED, "full")));
  assert.ok(back instanceof CacheError);
  assert.equal(back.code, Status.RESOURCE_EXHAUSTED);
  assert.equal(back.message, "full");
});

Deno.test("dispatcher: a request before init fails clearly", () => {
  const dispatcher = new StoreDispatcher();
  assert.throws(() => dispatcher.run({ op: "open" }), /store used before init/);
  dispatcher.run({ op: "init", options: OPTIONS });
  assert.match(String(dispatcher.run({ op: "open" })), /memory only/);
  assert.throws(
    () => dispatcher.run({ op: "bogus" } as never),
    /unknown store operation bogus/,
  );
});
