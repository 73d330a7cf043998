/**
 * The forwarder's decisions (src/cluster/forward.ts): who serves a write, never twice, not from a replica
 * whose lease may have lapsed; and an owner nobody listens for is served here instead. The relay itself
 * runs between real replicas in tests/cluster/forward_test.ts.
 */
import assert from "node:assert/strict";
import { FORWARDED_HEADER, Forwarder, type ForwardingView, sessionOf } from "../../src/cluster/forward.ts";
import type { Member } from "../../src/cluster/membership.ts";
import { CacheError, Status } from "../../src/errors.ts";
import type { GrpcCall } from "../../src/grpc/mod.ts";
import { freePort } from "../helpers/services.ts";

function member(id: string, endpoint = `grpc://127.0.0.1:1`): Member {
  return { id, endpoint, started: "2026-12-06T00:00:00Z" };
}

function view(over: Partial<ForwardingView> = {}): ForwardingView {
  const members = [member("a"), member("b")];
  return {
    self: "a",
    ownerOf: (session) => session.endsWith("-b") ? members[1] : members[0],
    members: () => members,
    isFresh: () => true,
    ...over,
  };
}

Deno.test("sessionOf: the first two segments of a key, prefix or selector", () => {
  assert.equal(sessionOf("app/ssn/obj"), "app/ssn");
  assert.equal(sessionOf("app/ssn"), "app/ssn");
  assert.equal(sessionOf("app"), "app");
});

Deno.test("target: another member's session goes to it; our own, or a stale view, stays here", () => {
  const f = new Forwarder(view(), {});
  assert.equal(f.target("app/s-b", {})?.id, "b");
  assert.equal(f.target("app/s-a", {}), undefined);
  const stale = new Forwarder(view({ isFresh: () => false }), {});
  assert.equal(
    stale.target("app/s-b", {}),
    undefined,
    "a replica whose lease may have lapsed serves it itself",
  );
});

Deno.test("target: a forwarded call is served where it arrives, and refused by a stale replica", () => {
  const f = new Forwarder(view(), {});
  assert.equal(f.target("app/s-b", { [FORWARDED_HEADER]: "b" }), undefined, "never forwarded twice");
  const stale = new Forwarder(view({ isFresh: () => false }), {});
  assert.throws(
    () => stale.target("app/s-b", { [FORWARDED_HEADER]: "b" }),
    (err) => err instanceof CacheError && err.code === Status.UNAVAILABLE,
  );
});

Deno.test("relay: an owner nobody listens for is reported unreachable, nothing consumed", async () => {
  const port = freePort();
  const f = new Forwarder(view(), {});
  let pulled = 0;
  const messages = (async function* () {
    pulled++;
    yield new Uint8Array([1]);
  })();
  const call = { headers: {}, signal: new AbortController().signal, path: "/x" } as unknown as GrpcCall;
  try {
    assert.equal(await f.relay(call, "DoPut", member("b", `grpc://127.0.0.1:${port}`), messages), false);
    assert.equal(pulled, 0, "the caller still has every request message");
    assert.equal(f.counters.servedHereOwnerUnreachable, 1);
  } finally {
    await f.close();
  }
});
