/**
 * Start a real flame-cache server process on 127.0.0.1 for integration tests,
 * and stop it (SIGTERM, then SIGKILL) when done.
 *
 * @module
 */

/** A running server process. */
export interface TestServer {
  port: number;
  endpoint: string;
  address: string;
  child: Deno.ChildProcess;
  /** Everything the server wrote to stderr so far. */
  logs(): string;
  /** Stop it; SIGKILL after `graceMs`. Resolves with the exit status. */
  stop(graceMs?: number): Promise<Deno.CommandStatus>;
  /** SIGKILL now. */
  kill(): Promise<Deno.CommandStatus>;
}

const ROOT = new URL("../../", import.meta.url).pathname;

/** Start `main.ts serve` with extra flags; waits for the start-up log line. */
export async function startServer(
  flags: string[] = [],
  options: { env?: Record<string, string>; storage?: string; timeoutMs?: number } = {},
): Promise<TestServer> {
  const args = ["run", "--allow-all", `${ROOT}main.ts`, "serve", "--listen", "127.0.0.1:0"];
  if (!flags.includes("--storage")) args.push("--storage", options.storage ?? "none");
  args.push(...flags);
  const child = new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
    env: { FLAME_LOG: "info", ...options.env },
  }).spawn();
  let text = "";
  const decoder = new TextDecoder();
  let resolveStarted: (line: Record<string, unknown>) => void;
  const started = new Promise<Record<string, unknown>>((r) => (resolveStarted = r));
  const pump = (async () => {
    for await (const chunk of child.stderr) {
      text += decoder.decode(chunk, { stream: true });
      for (const line of text.split("\n")) {
        if (!line.includes('"flame-cache started"')) continue;
        try {
          resolveStarted!(JSON.parse(line));
        } catch { /* partial line */ }
      }
    }
  })();
  const timeout = options.timeoutMs ?? 30_000;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const status = child.status;
  const info = await Promise.race([
    started,
    status.then((s) => {
      throw new Error(`server exited with ${s.code} before starting:\n${text}`);
    }),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`server did not start in ${timeout} ms:\n${text}`)), timeout);
    }),
  ]).finally(() => clearTimeout(timer));
  const listen = String(info.listen);
  const port = Number(listen.slice(listen.lastIndexOf(":") + 1));
  let done: Deno.CommandStatus | undefined;
  const finished = status.then(async (s) => {
    done = s;
    await pump.catch(() => {});
    return s;
  });
  return {
    port,
    endpoint: String(info.endpoint),
    address: `127.0.0.1:${port}`,
    child,
    logs: () => text,
    async stop(graceMs = 10_000) {
      if (done) return done;
      try {
        child.kill("SIGTERM");
      } catch { /* gone */ }
      const t = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch { /* gone */ }
      }, graceMs);
      const s = await finished;
      clearTimeout(t);
      return s;
    },
    async kill() {
      if (done) return done;
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
      return await finished;
    },
  };
}
