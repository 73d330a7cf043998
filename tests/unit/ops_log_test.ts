/**
 * Credentials never reach the log: secret-named fields and credentials inside
 * text are redacted by the JSON replacer of `log`.
 */
import assert from "node:assert/strict";
import { redact, redactText } from "../../src/log.ts";

const line = (fields: Record<string, unknown>) => JSON.stringify(fields, redact);

Deno.test("redact: secret-named fields, at any depth and any spelling", () => {
  const out = line({
    headers: { authorization: "Bearer s3cr3t-token-value", "x-request-id": "r1", Cookie: "sid=abc" },
    token: "t0k3n",
    access_token: "a1",
    "Proxy-Authorization": "Basic dXNlcjpwYXNz",
    password: "hunter2",
    credentials: { username: "u", password: "p" },
  });
  for (const secret of ["s3cr3t", "t0k3n", 'a1"', "dXNlcjpwYXNz", "hunter2", "sid=abc", '"p"']) {
    assert.ok(!out.includes(secret), `${secret} leaked: ${out}`);
  }
  assert.ok(out.includes('"x-request-id":"r1"'));
});

Deno.test("redact: non-secret values of secret-like names are kept (counts, switches)", () => {
  const out = JSON.parse(line({ auth: "on", tokens: 3, token: null, users: 2 }));
  assert.deepEqual(out, { auth: "on", tokens: 3, token: null, users: 2 });
});

Deno.test("redactText: credentials inside messages and errors", () => {
  const cases: [string, string][] = [
    ["authorization: Bearer abcdef123456", "authorization: [redacted]"],
    ["got Bearer abc.def.ghi from peer", "got Bearer [redacted] from peer"],
    ["Basic dXNlcjpwYXNzd29yZA==", "Basic [redacted]"],
    ["invalid token: tok_9f8e7d", "invalid token: [redacted]"],
    ['{"password":"hunter2"}', '{"password":"[redacted]"}'],
    ["Handshake needs Basic credentials", "Handshake needs Basic credentials"],
    ["object app/s/o not found", "object app/s/o not found"],
  ];
  for (const [input, want] of cases) assert.equal(redactText(input), want);
  assert.ok(!line({ error: new Error("bad header authorization=Bearer xyz789") }).includes("xyz789"));
  assert.ok(!line({ msg: "Bearer qwerty12345" }).includes("qwerty12345"));
});
