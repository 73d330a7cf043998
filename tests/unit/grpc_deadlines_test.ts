import assert from "node:assert/strict";
import { DeadlineTimer } from "../../src/grpc/deadlines.ts";

/** Wait until `done()` holds (bounded), so a slow machine only makes the test slower, not wrong. */
async function until(done: () => boolean, limitMs = 5000): Promise<void> {
  const end = Date.now() + limitMs;
  while (!done()) {
    if (Date.now() > end) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 5));
  }
}

Deno.test("DeadlineTimer fires due deadlines in time order, never removed ones", async () => {
  const timer = new DeadlineTimer();
  const fired: string[] = [];
  timer.add(1000, () => fired.push("late"));
  const removed = timer.add(20, () => fired.push("removed"));
  // earlier than what the timer is armed for: it must re-arm
  timer.add(10, () => fired.push("early"));
  timer.remove(removed);
  assert.equal(timer.size, 2);
  await until(() => fired.length >= 1);
  assert.deepEqual(fired, ["early"]);
  await until(() => fired.length >= 2);
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
  timer.add(60_000, () => fired.push("never"));
  await until(() => fired.length >= 2);
  assert.deepEqual(fired, ["first", "chained"]);
  timer.stop();
  assert.equal(timer.size, 0);
});
