import assert from "node:assert/strict";
import { ConfigError, formatBytes, parseByteSize } from "../../src/config/mod.ts";

Deno.test("parseByteSize: binary units, case-insensitive, decimals, trimming", () => {
  const cases: [string, number][] = [
    ["1G", 1073741824],
    ["1g", 2 ** 30],
    ["1GB", 2 ** 30],
    ["1gi", 2 ** 30],
    ["1GiB", 2 ** 30],
    ["512M", 512 * 2 ** 20],
    ["512mb", 512 * 2 ** 20],
    ["1.5G", 1.5 * 2 ** 30],
    ["1000", 1000],
    ["0", 0],
    ["64KiB", 64 * 1024],
    ["64k", 64 * 1024],
    ["10GB", 10 * 2 ** 30],
    ["2T", 2 * 2 ** 40],
    ["1P", 2 ** 50],
    ["100B", 100],
    ["100b", 100],
    ["  8G  ", 8 * 2 ** 30],
    ["1 G", 2 ** 30],
    [".5K", 512],
    ["1.5", 1],
  ];
  for (const [text, bytes] of cases) assert.equal(parseByteSize(text, "k"), bytes, text);
});

Deno.test("parseByteSize: 1G is exactly 2^30 (no Flame decimal round-trip inflation)", () => {
  assert.equal(parseByteSize("1G", "cache.eviction.max_memory"), 1073741824);
  assert.equal(parseByteSize("512M", "cache.eviction.max_memory"), 536870912);
});

Deno.test("parseByteSize: rejects empty, negative, garbage and unknown units naming the key", () => {
  for (
    const bad of [
      "",
      "   ",
      "-1",
      "-1G",
      "abc",
      "G",
      "1X",
      "1GG",
      "1e9",
      "1,5G",
      "1.2.3",
      "0x10",
      "NaN",
      "Infinity",
    ]
  ) {
    assert.throws(
      () => parseByteSize(bad, "--max-memory"),
      (e: unknown) =>
        e instanceof ConfigError && e.key === "--max-memory" && e.message.startsWith("--max-memory:"),
      JSON.stringify(bad),
    );
  }
});

Deno.test("parseByteSize: the error message includes the bad value", () => {
  assert.throws(() => parseByteSize("12 parsecs", "FLAME_CACHE_MAX_MEMORY"), /12 parsecs|parsecs/);
});

Deno.test("parseByteSize: sizes beyond 2^53 are rejected", () => {
  assert.throws(
    () => parseByteSize("100000P", "k"),
    (e: unknown) => e instanceof ConfigError && /too large/.test(e.message),
  );
});

Deno.test("formatBytes: human sizes with binary units", () => {
  assert.equal(formatBytes(0), "0 B");
  assert.equal(formatBytes(512), "512 B");
  assert.equal(formatBytes(1023), "1023 B");
  assert.equal(formatBytes(1024), "1 KiB");
  assert.equal(formatBytes(1536), "1.5 KiB");
  assert.equal(formatBytes(2 ** 20), "1 MiB");
  assert.equal(formatBytes(1.5 * 2 ** 30), "1.5 GiB");
  assert.equal(formatBytes(2 ** 40), "1 TiB");
  assert.equal(formatBytes(2 ** 20 - 1), "1 MiB");
  assert.equal(formatBytes(-2048), "-2 KiB");
});

Deno.test("formatBytes and parseByteSize round-trip for whole units", () => {
  for (const n of [1024, 2 ** 20, 3 * 2 ** 30]) assert.equal(parseByteSize(formatBytes(n), "k"), n);
});
