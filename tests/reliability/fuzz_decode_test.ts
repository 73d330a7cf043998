/**
 * Hostile input, in process: >= 100,000 fast-check cases (property-based and
 * mutation fuzzing) against the server's decoders - FlightData / Descriptor /
 * Action / Ticket / Handshake protobuf, keys and selectors, authorization and
 * grpc-timeout headers, gRPC framing, the GOAWAY filter, IPC headers, record
 * batches against their bodies, opaque rows, whole IPC streams and files, and
 * whole DoPut uploads (readUpload) built from valid seeds (opaque, nulls,
 * patches, two batches, native with dictionary/list/struct, ZSTD files from
 * Flame) then mutated (bit flips, lying int32/int64 lengths and offsets,
 * truncation, dropped/duplicated/reordered messages, hostile keys).
 *
 * The runner is a child process with a 1 GiB heap cap and a watchdog: a hang
 * or a heap blow-up fails this test instead of hanging the suite.
 * Set FUZZ_SCALE (default 1 = ~139k cases) and FUZZ_SEED to reproduce a run.
 */
import assert from "node:assert/strict";
import { HERE, MiB } from "./helpers.ts";

const WATCHDOG_MS = 150_000;

Deno.test({
  name: "fuzz: >=100k hostile inputs to the decoders end in success or a client-error CacheError",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const scale = Deno.env.get("FUZZ_SCALE") ?? "1";
    const seed = Deno.env.get("FUZZ_SEED") ?? String(Math.floor(Math.random() * 2 ** 31));
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--v8-flags=--max-old-space-size=1024", `${HERE}fuzz_runner.ts`, scale, seed],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const timer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
    }, WATCHDOG_MS);
    let out: Deno.CommandOutput;
    try {
      out = await child.output();
    } finally {
      clearTimeout(timer);
    }
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(
      out.code,
      0,
      `fuzz runner (seed ${seed}) died with code ${out.code} signal ${out.signal} (hang or heap blow-up?):\n${
        stderr.slice(-4000)
      }`,
    );
    const report = JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").pop()!);
    const summary = Object.entries(
      report.groups as Record<string, { runs: number; ok: number; maxMs: number }>,
    )
      .map(([g, s]) => `${g}=${s.runs}(ok ${s.ok}, max ${s.maxMs.toFixed(1)} ms)`).join(" ");
    console.log(
      `fuzz: ${report.total} cases in ${report.ms} ms, seed ${report.seed}, peak RSS ${
        (report.hwmBytes / MiB).toFixed(0)
      } MiB\n  ${summary}`,
    );
    assert.deepEqual(report.failures, [], `contract violations (seed ${report.seed})`);
    if (Number(scale) >= 1) assert.ok(report.total >= 100_000, `only ${report.total} cases ran`);
    assert.ok(report.hwmBytes < 1024 * MiB, `fuzzing peaked at ${report.hwmBytes} bytes RSS`);
  },
});
