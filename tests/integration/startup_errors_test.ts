/**
 * Start-up failures the operator must fix print ONE line naming the setting and
 * the path or address, and exit 2: no stack trace, no `--allow-all` hint.
 */
import assert from "node:assert/strict";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;
const SERVE_PERMISSIONS = ["--allow-net", "--allow-read", "--allow-env", "--allow-sys=networkInterfaces"];

async function serve(
  flags: string[],
  options: { permissions?: string[]; env?: Record<string, string> } = {},
): Promise<{ code: number; stderr: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...(options.permissions ?? ["--allow-all"]), MAIN, "serve", ...flags],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
    env: { FLAME_CACHE_CONFIG: "", NO_COLOR: "1", ...options.env },
  }).spawn();
  // A server that starts after all would serve forever: stop it after 20 s.
  const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
  const out = await child.output().finally(() => clearTimeout(timer));
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

/** Exactly one line, starting `flame-cache: <setting>: `, matching `detail`. */
function assertOneLine(r: { code: number; stderr: string }, setting: string, detail: RegExp): void {
  assert.equal(r.code, 2, r.stderr);
  const lines = r.stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, r.stderr);
  assert.ok(lines[0].startsWith(`flame-cache: ${setting}: `), lines[0]);
  assert.match(lines[0], detail);
  assert.doesNotMatch(lines[0], /allow-all|\bat /);
}

Deno.test("startup: a storage path that is a file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/file`, "x");
    assertOneLine(
      await serve(["--listen", "127.0.0.1:0", "--storage", `${dir}/file`]),
      "--storage",
      new RegExp(`${dir}/file is a file, not a folder$`),
    );
    // The same from the environment names the variable.
    assertOneLine(
      await serve(["--listen", "127.0.0.1:0"], { env: { FLAME_CACHE_STORAGE: `${dir}/file` } }),
      "FLAME_CACHE_STORAGE",
      /is a file, not a folder$/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("startup: a storage path this process may not write", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // Not allowed by the process's permissions (as with a compiled binary limited to other folders).
    assertOneLine(
      await serve(["--listen", "127.0.0.1:0", "--storage", `${dir}/data`], {
        permissions: [...SERVE_PERMISSIONS, `--allow-write=${dir}/elsewhere`],
      }),
      "--storage",
      new RegExp(`not permitted to write ${dir}/data$`),
    );
    // Not writable for the OS user (root may write anywhere, so only without root).
    if (Deno.uid() !== 0) {
      await Deno.mkdir(`${dir}/ro`, { mode: 0o555 });
      assertOneLine(
        await serve(["--listen", "127.0.0.1:0", "--storage", `${dir}/ro/data`]),
        "--storage",
        /permission denied/,
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("startup: the Flight port or the HTTP port already in use", async () => {
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (taken.addr as Deno.NetAddr).port;
  try {
    assertOneLine(
      await serve(["--listen", `127.0.0.1:${port}`, "--storage", "none"]),
      "--listen",
      new RegExp(`127\\.0\\.0\\.1:${port} is already in use$`),
    );
    assertOneLine(
      await serve(["--listen", "127.0.0.1:0", "--http", `127.0.0.1:${port}`, "--storage", "none"]),
      "--http",
      new RegExp(`127\\.0\\.0\\.1:${port} is already in use$`),
    );
  } finally {
    taken.close();
  }
});
