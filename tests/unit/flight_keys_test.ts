import assert from "node:assert/strict";
import { newObjectKey, parseObjectKey, parsePutPath, parseSelector } from "../../src/flight/keys.ts";
import { parseTicket, parseVersion } from "../../src/flight/tickets.ts";
import { CacheError, Status } from "../../src/errors.ts";

const enc = new TextEncoder();

function code(f: () => unknown): number {
  try {
    f();
  } catch (err) {
    assert.ok(err instanceof CacheError, `expected CacheError, got ${err}`);
    return err.code;
  }
  return 0;
}

Deno.test("object keys: valid three- and two-part keys", () => {
  assert.equal(parseObjectKey("app/ssn/obj"), "app/ssn/obj");
  assert.equal(parseObjectKey("ssn/obj"), "ssn/obj");
  assert.equal(parseObjectKey("my app/ssn é/a.tar.gz"), "my app/ssn é/a.tar.gz");
  assert.equal(parseObjectKey("app/s*s/o*"), "app/s*s/o*", "only a whole '*' part is a wildcard");
  assert.equal(parseObjectKey("app/s/" + "x".repeat(200)), "app/s/" + "x".repeat(200));
  assert.equal(
    code(() => parseObjectKey("app/s", true)),
    Status.INVALID_ARGUMENT,
    "patches need three parts",
  );
});

Deno.test("object keys: invalid ones are INVALID_ARGUMENT", () => {
  for (
    const bad of [
      "",
      "app",
      "a/b/c/d",
      "app//obj",
      "app/ssn/",
      "app/../x",
      "app/ss..n/x",
      "app/s\\n/x",
      "app/s/o:1",
      "app/./x",
      "app/.hidden/x",
      ".staging/s/x",
      "app/s/obj.deltas",
      "app/t.deltas/0",
      "app/s/\u0000",
      "app/s/\u007f",
      "app/*/x",
      "app/s/*",
      "app/s/" + "x".repeat(201),
      ("a".repeat(200) + "/").repeat(5) + "x",
    ]
  ) {
    assert.equal(code(() => parseObjectKey(bad)), Status.INVALID_ARGUMENT, JSON.stringify(bad));
  }
});

Deno.test("put paths: prefix, explicit key, seed session; no wildcard", () => {
  assert.deepEqual(parsePutPath("app/ssn"), { prefix: "app/ssn" });
  assert.deepEqual(parsePutPath("app/ssn/o"), { prefix: "app/ssn", key: "app/ssn/o" });
  assert.deepEqual(parsePutPath("session"), { prefix: "session" });
  assert.equal(code(() => parsePutPath("app/*")), Status.INVALID_ARGUMENT);
  assert.equal(code(() => parsePutPath("a/b/c/d")), Status.INVALID_ARGUMENT);
  const key = newObjectKey("app/ssn");
  assert.match(key, /^app\/ssn\/[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
});

Deno.test("selectors: exact, session, app wildcard, single segment", () => {
  assert.deepEqual(parseSelector("a/b/c"), { value: "a/b/c", exact: true });
  assert.deepEqual(parseSelector("a/b"), { value: "a/b", exact: false });
  assert.deepEqual(parseSelector("a/*"), { value: "a", exact: false });
  assert.deepEqual(parseSelector("a"), { value: "a", exact: false });
  assert.equal(code(() => parseSelector("a/*/c")), Status.INVALID_ARGUMENT);
  assert.equal(code(() => parseSelector("*/b")), Status.INVALID_ARGUMENT);
  assert.equal(code(() => parseSelector("")), Status.INVALID_ARGUMENT);
});

Deno.test("tickets: key, key:version, Rust-style errors", () => {
  assert.deepEqual(parseTicket(enc.encode("a/b/c")), { key: "a/b/c", version: 0 });
  assert.deepEqual(parseTicket(enc.encode("a/b/c:0")), { key: "a/b/c", version: 0 });
  assert.deepEqual(parseTicket(enc.encode("a/b/c:17")), { key: "a/b/c", version: 17 });
  assert.deepEqual(parseTicket(enc.encode("a/b/c:+3")), { key: "a/b/c", version: 3 });
  assert.equal(parseVersion("18446744073709551615"), Infinity);
  assert.throws(() => parseVersion(""), /cannot parse integer from empty string/);
  assert.throws(() => parseVersion("abc"), /invalid digit found in string/);
  assert.throws(() => parseVersion("-1"), /invalid digit/);
  assert.throws(() => parseVersion("18446744073709551616"), /too large/);
  assert.equal(code(() => parseTicket(new Uint8Array([0xff, 0xfe]))), Status.INVALID_ARGUMENT);
  assert.equal(code(() => parseTicket(enc.encode("a/b/c:1:2"))), Status.INVALID_ARGUMENT);
});
