/**
 * Authentication abuse: a handshake flood by one user must not evict another
 * user's token or grow the server's memory, and password guessing is rate
 * limited (RESOURCE_EXHAUSTED). Figures are printed for the record.
 */
import assert from "node:assert/strict";
import { FlameCacheClient } from "../../src/client/mod.ts";
import { startServer, type TestServer } from "../helpers/server.ts";

const KiB = 1024;

function rssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(Deno.readTextFileSync(`/proc/${pid}/status`));
  if (!m) throw new Error("no VmRSS");
  return Number(m[1]) * KiB;
}

async function authServer(): Promise<{ server: TestServer; dir: string }> {
  const dir = await Deno.makeTempDir();
  const cfg = `${dir}/flame-cluster.yaml`;
  await Deno.writeTextFile(
    cfg,
    "cache:\n  auth:\n    tokens_per_user: 64\n    users:\n      - username: alice\n        password: wonderland\n" +
      "      - username: bob\n        password: builder\n",
  );
  return { server: await startServer(["--config", cfg]), dir };
}

/** Status name of a client error (its class carries the gRPC code). */
function codeOf(err: unknown): string {
  const e = err as { code?: number; name?: string };
  return e.name ?? String(e.code);
}

/**
 * Run `total` handshakes with `workers` concurrent loops, each on its own
 * connection, stopping at `deadlineMs`. Returns outcomes by status.
 */
async function flood(
  endpoint: string,
  user: string,
  password: string,
  total: number,
  workers: number,
  deadlineMs: number,
): Promise<{ ok: number; refused: Record<string, number>; ms: number; tried: number; tokens: string[] }> {
  const started = performance.now();
  let next = 0;
  let ok = 0;
  const tokens: string[] = [];
  const refused: Record<string, number> = {};
  const loops = Array.from({ length: workers }, async () => {
    const client = await FlameCacheClient.connect(endpoint, { cache: false });
    try {
      while (next < total && performance.now() - started < deadlineMs) {
        next++;
        try {
          tokens.push(await client.handshake(user, password));
          ok++;
        } catch (err) {
          const c = codeOf(err);
          refused[c] = (refused[c] ?? 0) + 1;
        }
      }
    } finally {
      await client.close();
    }
  });
  await Promise.all(loops);
  return { ok, refused, ms: performance.now() - started, tried: next, tokens };
}

Deno.test({
  name: "auth abuse: 20,000 handshakes by one user keep another user's token valid and RSS bounded",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const { server, dir } = await authServer();
    try {
      const bob = await FlameCacheClient.connect(server.endpoint, { cache: false });
      try {
        await bob.handshake("bob", "builder");
        const first = await FlameCacheClient.connect(server.endpoint, { cache: false });
        const aliceFirst = await first.handshake("alice", "wonderland");
        await first.close();
        await bob.putObject("bobapp/s", new TextEncoder().encode("before"));
        const rssBefore = rssBytes(server.child.pid);
        const a = await flood(server.endpoint, "alice", "wonderland", 10_000, 8, 150_000);
        const rssHalf = rssBytes(server.child.pid);
        const b = await flood(server.endpoint, "alice", "wonderland", 10_000, 8, 150_000);
        const rssAfter = rssBytes(server.child.pid);
        const issued = [...a.tokens, ...b.tokens];
        // Which of alice's tokens still work: her first ones and the last 100 issued.
        const probe = await FlameCacheClient.connect(server.endpoint, { cache: false });
        const valid = async (token: string) => {
          probe.token = token;
          try {
            await probe.list("aliceapp");
            return true;
          } catch (err) {
            assert.equal(codeOf(err), "UnauthenticatedError");
            return false;
          }
        };
        let firstKept = 0;
        for (const t of [aliceFirst, ...issued.slice(0, 9)]) if (await valid(t)) firstKept++;
        let lastKept = 0;
        for (const t of issued.slice(-100)) if (await valid(t)) lastKept++;
        await probe.close();
        const mib = (n: number) => (n / 2 ** 20).toFixed(1);
        console.log(
          `handshake flood: ${a.tried + b.tried} tried in ${Math.round(a.ms + b.ms)} ms, ${
            issued.length + 1
          } ` +
            `tokens issued, refused ${JSON.stringify(a.refused)} + ${
              JSON.stringify(b.refused)
            }; alice's tokens ` +
            `kept: ${lastKept} of the last 100, ${firstKept} of the first 10; RSS ${mib(rssBefore)} -> ` +
            `${mib(rssHalf)} (10k) -> ${mib(rssAfter)} MiB (20k)`,
        );
        assert.equal(a.tried + b.tried, 20_000, "the flood finished within its time bound");
        assert.ok(
          issued.length > 100,
          "more handshakes succeeded than the per-user cap, so the cap was exercised",
        );
        assert.equal(lastKept, 64, "alice keeps exactly tokens_per_user live tokens");
        assert.equal(firstKept, 0, "alice's oldest tokens were dropped");
        // Bob's token survives alice's flood.
        await bob.putObject("bobapp/s", new TextEncoder().encode("after"));
        // Memory: the second half of the flood must not keep growing the server.
        assert.ok(
          rssAfter - rssHalf < 48 * 2 ** 20,
          `RSS grew by ${mib(rssAfter - rssHalf)} MiB in the 2nd half`,
        );
      } finally {
        await bob.close();
      }
    } finally {
      await server.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "auth abuse: password guessing is rate limited per address and per user",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const { server, dir } = await authServer();
    try {
      const r = await flood(server.endpoint, "alice", "guess", 100_000, 8, 3_000);
      const guessesPerS = (r.tried - (r.refused["ResourceExhaustedError"] ?? 0)) / (r.ms / 1000);
      console.log(
        `password guessing: ${r.tried} tries in ${Math.round(r.ms)} ms, ${JSON.stringify(r.refused)}; ` +
          `${guessesPerS.toFixed(1)} checked guesses/s`,
      );
      assert.ok(guessesPerS < 50, `${guessesPerS.toFixed(1)} guesses/s checked`);
      assert.ok((r.refused["ResourceExhaustedError"] ?? 0) > 0);
    } finally {
      await server.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
