/**
 * Index aggregation per application and session (src/ops/_snapshot.ts).
 */
import assert from "node:assert/strict";
import { aggregate, groupsOf } from "../../src/ops/_snapshot.ts";
import { stat } from "../helpers/ops_snapshot.ts";

Deno.test("aggregate: totals per application and session, largest first; seed keys", () => {
  const t = aggregate([stat("a/s1/o1", 100), stat("a/s2/o2", 300), stat("b/s1/o1", 7), stat("seed/o", 5)]);
  assert.equal(t.bytes, 412);
  assert.equal(t.objects, 4);
  assert.deepEqual(t.apps.map((g) => [g.name, g.bytes, g.objects]), [["a", 400, 2], ["b", 7, 1], [
    "(no app)",
    5,
    1,
  ]]);
  assert.deepEqual(t.sessions.map((g) => g.name), ["a/s2", "a/s1", "b/s1", "seed"]);
  assert.deepEqual(groupsOf("x"), { app: "(no app)", session: "(no session)" });
});
