/**
 * Client building blocks without a server: endpoint parsing, status errors and
 * grpc-message decoding, the version-aware LRU, and the admin progress line.
 */
import assert from "node:assert/strict";
import {
  CacheClientError,
  decodeGrpcMessage,
  errorFromStatus,
  InvalidArgumentError,
  NotFoundError,
  ObjectCache,
  parseEndpoint,
  PermissionDeniedError,
  UnauthenticatedError,
  UnavailableError,
} from "../../src/client/mod.ts";
import { encodeGrpcMessage } from "../../src/grpc/mod.ts";
import { renderProgress } from "../../src/cli/progress.ts";
import { formatList, formatTable } from "../../src/cli/admin_format.ts";

Deno.test("parseEndpoint: schemes, aliases, IPv6, default port, errors", () => {
  assert.deepEqual(parseEndpoint("grpc://10.0.0.5:9090"), {
    uri: "grpc://10.0.0.5:9090",
    tls: false,
    host: "10.0.0.5",
    port: 9090,
    authority: "10.0.0.5:9090",
  });
  assert.equal(parseEndpoint("grpcs://cache.example:443").uri, "grpc+tls://cache.example:443");
  assert.equal(parseEndpoint("grpc+tls://cache.example:443").tls, true);
  assert.equal(parseEndpoint("grpc+tcp://h:1").uri, "grpc://h:1");
  // One parser with the config: http and https are accepted too.
  assert.equal(parseEndpoint("http://h:1").uri, "grpc://h:1");
  assert.equal(parseEndpoint("https://h").uri, "grpc+tls://h:9090");
  assert.equal(parseEndpoint("localhost:7000").uri, "grpc://localhost:7000");
  assert.equal(parseEndpoint("grpc://h").port, 9090);
  assert.equal(parseEndpoint("GRPC://h:5/").uri, "grpc://h:5");
  const v6 = parseEndpoint("grpc://[::1]:9090");
  assert.equal(v6.host, "::1");
  assert.equal(v6.authority, "[::1]:9090");
  for (
    const bad of ["ftp://h:1", "grpc://", "grpc://h:0", "grpc://h:70000", "grpc://::1:5", "grpc://h:1/x"]
  ) {
    assert.throws(() => parseEndpoint(bad), InvalidArgumentError, bad);
  }
});

Deno.test("errors: typed subclasses, names, percent-decoded messages", () => {
  const e = errorFromStatus(5, "object a/b/c not found");
  assert.ok(e instanceof NotFoundError && e instanceof CacheClientError);
  assert.equal(e.code, 5);
  assert.equal(e.codeName, "NOT_FOUND");
  assert.ok(errorFromStatus(16, "") instanceof UnauthenticatedError);
  assert.ok(errorFromStatus(7, "") instanceof PermissionDeniedError);
  assert.ok(errorFromStatus(14, "") instanceof UnavailableError);
  const other = errorFromStatus(13, "boom");
  assert.equal(other.constructor, CacheClientError);
  assert.equal(other.codeName, "INTERNAL");
  for (const text of ["plain", "50% done", "clé: 'ü' ✓", "line\nbreak", "%zz"]) {
    assert.equal(decodeGrpcMessage(encodeGrpcMessage(text)), text);
  }
  assert.equal(decodeGrpcMessage("bad %zz escape %4"), "bad %zz escape %4");
});

Deno.test("ObjectCache: LRU order, patch append rules, selector invalidation", () => {
  const c = new ObjectCache(2);
  const base = new Uint8Array([1]);
  c.set("e", "a/s/1", { kind: "opaque", version: 1, base, patches: [] });
  c.set("e", "a/s/2", { kind: "opaque", version: 1, base, patches: [] });
  c.get("e", "a/s/1"); // 1 is now most recent
  c.set("e", "a/t/3", { kind: "opaque", version: 1, base, patches: [] });
  assert.equal(c.get("e", "a/s/2"), undefined, "least recently used evicted");
  assert.ok(c.get("e", "a/s/1"));
  assert.equal(c.stats().evictions, 1);

  const p = [{ version: 2, data: new Uint8Array([2]) }];
  assert.equal(c.appendPatches("e", "a/s/1", 5, p, 2), undefined, "stale request: refetch");
  const next = c.appendPatches("e", "a/s/1", 1, p, 2);
  assert.equal(next?.version, 2);
  assert.equal(next?.kind === "opaque" && next.patches.length, 1);
  assert.equal(c.appendPatches("e", "a/s/1", 1, p, 2)?.version, 2, "already applied: no-op");
  const entry = c.get("e", "a/s/1");
  assert.equal(entry?.kind === "opaque" && entry.patches.length, 1);

  c.invalidateSelector("e", "a/*");
  assert.equal(c.size, 0);
  c.set("e", "a/s/1", { kind: "opaque", version: 1, base, patches: [] });
  c.set("other", "a/s/9", { kind: "opaque", version: 1, base, patches: [] });
  c.invalidateSelector("e", "a/s");
  assert.equal(c.get("e", "a/s/1"), undefined);
  assert.ok(c.get("other", "a/s/9"), "other endpoints untouched");
  c.invalidateSelector("other", "a/s/9");
  assert.equal(c.size, 0);
  assert.throws(() => new ObjectCache(0), RangeError);
});

Deno.test("progress line and admin tables", () => {
  const line = renderProgress({
    label: "get x",
    bytes: 32 << 20,
    total: 64 << 20,
    elapsedMs: 2000,
    columns: 100,
  });
  assert.match(line, /^get x \[#{10,}-{10,}\] {2}50% {4}32 MiB \/ 64 MiB {4}16 MiB\/s ETA 00:02$/);
  const unknown = renderProgress({ label: "put", bytes: 1024, elapsedMs: 1000, columns: 80 });
  assert.equal(unknown, "put 1 KiB 1 KiB/s");
  assert.ok(renderProgress({ label: "x", bytes: 1, total: 2, elapsedMs: 10, columns: 20 }).length < 20);
  assert.equal(formatTable(["A", "BB"], [["xyz", "1"]], new Set([1])), "A    BB\nxyz   1");
  const list = formatList([{ key: "a/s/1", size: 1536, records: 1, kind: "opaque" }]);
  assert.match(list, /a\/s\/1\s+-\s+opaque\s+1\.5 KiB\s+1/);
  assert.match(list, /1 object, 1\.5 KiB$/);
  assert.equal(formatList([]), "no objects");
});
