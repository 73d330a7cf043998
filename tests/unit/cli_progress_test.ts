/** The admin CLI's progress line (src/cli/progress.ts) and tables (src/cli/admin_format.ts). */
import assert from "node:assert/strict";
import { renderProgress } from "../../src/cli/progress.ts";
import { formatList, formatTable } from "../../src/cli/admin_format.ts";

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
