/**
 * Cluster settings that cannot work stop start-up with one line naming the setting, exit code 2: a bad
 * `s3://` URL, no credentials, a tier nobody answers on, credentials the tier refuses, etcd unreachable.
 */
import assert from "node:assert/strict";
import { freePort, haveWeed, startWeed } from "../helpers/services.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
/** Variables that would let credentials leak in from the developer's environment. */
const CLEAN_ENV = { HOME: "/nonexistent", AWS_ACCESS_KEY_ID: "", AWS_SECRET_ACCESS_KEY: "", AWS_PROFILE: "" };

async function serve(
  flags: string[],
  env: Record<string, string>,
): Promise<{ code: number; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      `${ROOT}main.ts`,
      "serve",
      "--listen",
      "127.0.0.1:0",
      "--storage",
      "none",
      ...flags,
    ],
    env: { ...CLEAN_ENV, ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

/** The last stderr line (the error), with the whole output for assertion messages. */
function lastLine(stderr: string): string {
  return stderr.trim().split("\n").at(-1) ?? "";
}

Deno.test("a bad s3:// URL is a configuration error naming the flag", async () => {
  const r = await serve(["--remote", "s3://Not_A_Bucket/x"], {});
  assert.equal(r.code, 2, r.stderr);
  assert.match(lastLine(r.stderr), /^flame-cache: --remote: /);
  assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
});

Deno.test("no credentials for the tier: exit 2 naming cache.remote and the variables", async () => {
  const port = freePort();
  const r = await serve(
    ["--remote", "s3://flame-cache/x", "--remote-endpoint", `http://127.0.0.1:${port}`],
    {},
  );
  assert.equal(r.code, 2, r.stderr);
  assert.match(lastLine(r.stderr), /cache\.remote.*AWS_ACCESS_KEY_ID/);
});

Deno.test("a tier nobody answers on: exit 2 naming the remote URL", async () => {
  const port = freePort();
  const r = await serve(
    [
      "--remote",
      "s3://flame-cache/x",
      "--remote-endpoint",
      `http://127.0.0.1:${port}`,
      "--remote-path-style",
    ],
    { AWS_ACCESS_KEY_ID: "id", AWS_SECRET_ACCESS_KEY: "secret-value-xyz" },
  );
  assert.equal(r.code, 2, r.stderr);
  assert.match(lastLine(r.stderr), /cache\.remote: the shared tier s3:\/\/flame-cache\/x is not usable/);
  assert.doesNotMatch(r.stderr, /secret-value-xyz/, "credentials never appear in output");
});

Deno.test({
  name: "credentials the tier refuses, and etcd unreachable: exit 2 with one line each",
  ignore: !haveWeed(),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const weed = await startWeed();
    try {
      const tier = [
        "--remote",
        "s3://flame-cache/x",
        "--remote-endpoint",
        weed.s3Endpoint,
        "--remote-path-style",
      ];
      const refused = await serve(tier, {
        AWS_ACCESS_KEY_ID: "nobody",
        AWS_SECRET_ACCESS_KEY: "wrong-secret-123",
      });
      assert.equal(refused.code, 2, refused.stderr);
      assert.match(lastLine(refused.stderr), /cache\.remote: the shared tier/);
      assert.doesNotMatch(refused.stderr, /wrong-secret-123/);

      const etcdPort = freePort();
      const noEtcd = await serve(
        [...tier, "--cluster-etcd", `http://127.0.0.1:${etcdPort}`, "--cluster-id", "r0"],
        {
          AWS_ACCESS_KEY_ID: weed.credentials.accessKeyId,
          AWS_SECRET_ACCESS_KEY: weed.credentials.secretAccessKey,
        },
      );
      assert.equal(noEtcd.code, 2, noEtcd.stderr);
      assert.match(
        lastLine(noEtcd.stderr),
        new RegExp(`cache\\.cluster\\.etcd: cannot join .*127\\.0\\.0\\.1:${etcdPort}`),
      );
    } finally {
      await weed.close();
    }
  },
});
