import assert from "node:assert/strict";
import { DeadlineTimer } from "../../src/grpc/deadlines.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("DeadlineTimer fires due deadlines in time order, never removed ones", async () => {
  const timer = new DeadlineTimer();
  const fired: string[] = [];
  timer.add(60, () => fired.push("late"));
  const removed = timer.add(20, () => fired.push("removed"));
  // earlier than what the timer is armed for: it must re-arm
  timer.add(10, () => fired.push("early"));
  timer.remove(removed);
  assert.equal(timer.size, 2);
  await sleep(35);
  assert.deepEqual(fired, ["early"]);
  await sleep(60);
  assert.deepEqual(fired, ["early", "late"]);
  assert.equal(timer.size, 0);
  timer.stop();
});

Deno.test("DeadlineTimer: a deadline added from a firing callback fires too; stop() drops the rest", async () => {
  const timer = new DeadlineTimer();
  const fired: string[] = [];
  timer.add(5, () => {
    fired.push("first");
    timer.add(5, () => fired.push("chained"));
  });
  timer.add(10_000, () => fired.push("never"));
  await sleep(50);
  assert.deepEqual(fired, ["first", "chained"]);
  timer.stop();
  assert.equal(timer.size, 0);
});
