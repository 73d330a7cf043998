/**
 * Authentication limits without a server: per-user Handshake tokens with a cap,
 * token buckets per address and per user, bounded bookkeeping, and the
 * address keys (IPv4, IPv6 /64) the limits are counted by.
 */
import assert from "node:assert/strict";
import { AUTH_LIMITS, Authenticator } from "../../src/auth/auth.ts";
import { addressKey, KeyedBuckets } from "../../src/auth/rate_limit.ts";
import { SessionTokens } from "../../src/auth/sessions.ts";
import { CacheError, Status } from "../../src/errors.ts";

const users = [
  { username: "alice", password: "wonderland" },
  { username: "bob", password: "builder" },
];
const unlimited = { perSecond: 1e9, burst: 1e9 };
const noLimits = {
  ...AUTH_LIMITS,
  handshakePerAddress: unlimited,
  handshakePerUser: unlimited,
  failedLoginPerAddress: unlimited,
  failedLoginPerUser: unlimited,
  failedBearerPerAddress: unlimited,
};

function codeOf(fn: () => unknown): number | "ok" {
  try {
    fn();
    return "ok";
  } catch (err) {
    assert.ok(err instanceof CacheError, String(err));
    return err.code;
  }
}

Deno.test("sessions: 20,000 logins by one user keep 64 of hers and never touch another user's", () => {
  const auth = new Authenticator({ tokens: [], users, tokensPerUser: 64 }, { limits: noLimits });
  const bob = auth.login("bob", "builder", "10.0.0.2:1").token;
  const first = auth.login("alice", "wonderland", "10.0.0.1:1").token;
  let last = "";
  for (let i = 0; i < 20_000; i++) last = auth.login("alice", "wonderland", "10.0.0.1:1").token;
  assert.equal(auth.tokensOf("alice"), 64);
  assert.equal(auth.tokensOf("bob"), 1);
  assert.equal(auth.authenticate(`Bearer ${bob}`).name, "bob");
  assert.equal(auth.authenticate(`Bearer ${last}`).name, "alice");
  assert.equal(codeOf(() => auth.authenticate(`Bearer ${first}`)), Status.UNAUTHENTICATED);
});

Deno.test("sessions: tokens expire and expired ones are purged at the next login", () => {
  let now = 1_000_000;
  const s = new SessionTokens(8, 1000, () => now);
  const p = { name: "alice" };
  const t = s.issue(p);
  assert.deepEqual(s.lookup(t), p);
  now += 1001;
  assert.equal(s.lookup(t), "expired");
  assert.equal(s.lookup(t), undefined);
  for (let i = 0; i < 5; i++) s.issue(p);
  now += 1001;
  s.issue(p); // the 5 expired ones go
  assert.equal(s.countFor("alice"), 1);
  assert.equal(s.size, 1);
});

Deno.test("buckets: burst, refill, retry hint and a bounded number of keys", () => {
  let now = 0;
  const b = new KeyedBuckets({ perSecond: 2, burst: 3 }, 100, () => now);
  assert.ok(b.take("a") && b.take("a") && b.take("a"));
  assert.equal(b.take("a"), false);
  assert.equal(b.retryAfterSeconds("a"), 1);
  now += 500; // one token back
  assert.equal(b.take("a"), true);
  assert.equal(b.take("a"), false);
  for (let i = 0; i < 10_000; i++) b.take(`10.0.${i >> 8}.${i & 255}`);
  assert.equal(b.size, 100);
});

Deno.test("login limits: failed passwords get RESOURCE_EXHAUSTED per address and per user", () => {
  let now = 0;
  const auth = new Authenticator({ tokens: [], users }, { now: () => now });
  const burst = AUTH_LIMITS.failedLoginPerAddress.burst;
  for (let i = 0; i < burst; i++) {
    assert.equal(codeOf(() => auth.login("alice", `guess${i}`, "10.0.0.1:5")), Status.UNAUTHENTICATED);
  }
  // Over the limit the password is not even checked: the right one is refused too.
  assert.equal(codeOf(() => auth.login("alice", "wonderland", "10.0.0.1:5")), Status.RESOURCE_EXHAUSTED);
  // Another address is also refused for alice (per-user bucket), but may log in as bob.
  assert.equal(codeOf(() => auth.login("alice", "wonderland", "10.0.0.9:5")), Status.RESOURCE_EXHAUSTED);
  assert.equal(codeOf(() => auth.login("bob", "builder", "10.0.0.9:5")), "ok");
  // Unknown names share one bucket, so inventing names neither adds buckets nor gets around the limit.
  for (let i = 0; i < burst; i++) {
    assert.equal(codeOf(() => auth.login(`nobody${i}`, "x", `10.1.0.${i}:5`)), Status.UNAUTHENTICATED);
  }
  assert.equal(codeOf(() => auth.login("nobody-else", "x", "10.2.0.1:5")), Status.RESOURCE_EXHAUSTED);
  // The buckets refill: after a while alice logs in again.
  now += burst * 1000;
  assert.equal(codeOf(() => auth.login("alice", "wonderland", "10.0.0.1:5")), "ok");
});

Deno.test("login limits: handshakes per address, and invalid bearer tokens per address", () => {
  const now = 0;
  const limits = {
    ...AUTH_LIMITS,
    handshakePerAddress: { perSecond: 1, burst: 3 },
    failedBearerPerAddress: { perSecond: 1, burst: 2 },
  };
  const auth = new Authenticator({ tokens: [{ token: "tok", name: "t" }], users }, {
    limits,
    now: () => now,
  });
  for (let i = 0; i < 3; i++) auth.login("alice", "wonderland", "10.0.0.1:1");
  assert.equal(codeOf(() => auth.login("alice", "wonderland", "10.0.0.1:2")), Status.RESOURCE_EXHAUSTED);
  assert.equal(codeOf(() => auth.login("alice", "wonderland", "10.0.0.2:1")), "ok");
  assert.equal(codeOf(() => auth.authenticate("Bearer bad1", "10.0.0.3:1")), Status.UNAUTHENTICATED);
  assert.equal(codeOf(() => auth.authenticate("Bearer bad2", "10.0.0.3:1")), Status.UNAUTHENTICATED);
  assert.equal(codeOf(() => auth.authenticate("Bearer tok", "10.0.0.3:1")), Status.RESOURCE_EXHAUSTED);
  assert.equal(auth.authenticate("Bearer tok", "10.0.0.4:1").name, "t");
});

Deno.test("address keys: IPv4 without the port, IPv6 by /64, mapped IPv4 as IPv4", () => {
  assert.equal(addressKey("127.0.0.1:5000"), "127.0.0.1");
  assert.equal(addressKey("::1:5000"), "0:0:0:0::/64");
  assert.equal(addressKey("[2001:db8:1:2:aaaa::1]:443"), "2001:db8:1:2::/64");
  assert.equal(addressKey("2001:db8:1:2:bbbb::9:443"), "2001:db8:1:2::/64");
  assert.equal(addressKey("::ffff:10.1.2.3:80"), "10.1.2.3");
});
