/**
 * `flame-cache`: the Flight object cache server and its admin commands.
 *
 * @module
 */
import { ConfigError } from "./src/config/mod.ts";
import { parseCommand } from "./src/cli/args.ts";
import { type RunningServer, startServer } from "./src/server/mod.ts";
import { log } from "./src/log.ts";
import { missingPermissionLine } from "./src/cli/permissions.ts";

async function main(): Promise<number> {
  const missing = missingPermissionLine(Deno.args);
  if (missing) {
    console.error(missing);
    return 2;
  }
  let command;
  try {
    command = parseCommand(Deno.args);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`flame-cache: ${err.message}`);
      return 2;
    }
    throw err;
  }
  switch (command.name) {
    case "help":
    case "version":
      console.log(command.text);
      return 0;
    case "migrate": {
      const { migrate } = await import("./src/cluster/migrate.ts");
      try {
        const summary = await migrate(command.config);
        return summary.failed > 0 ? 1 : 0;
      } catch (err) {
        console.error(`flame-cache: ${(err as Error).message}`);
        return 2;
      }
    }
    case "admin": {
      const { runAdmin } = await import("./src/cli/admin.ts");
      return await runAdmin(command);
    }
    case "serve": {
      // Listen for signals before starting: a SIGTERM that arrives while the
      // server starts must still end in an orderly exit 0.
      const running: { server?: RunningServer } = {};
      let stopping = false;
      const stop = async (signal: string) => {
        if (stopping) return;
        stopping = true;
        log("info", "shutting down", { signal });
        await running.server?.close(10_000);
        log("info", "stopped");
        Deno.exit(0);
      };
      Deno.addSignalListener("SIGTERM", () => stop("SIGTERM"));
      Deno.addSignalListener("SIGINT", () => stop("SIGINT"));
      try {
        running.server = await startServer(command.config);
      } catch (err) {
        // Start-up failures the operator must fix (storage folder, address in use, tier, etcd): one line, exit 2.
        if (!(err instanceof ConfigError)) throw err;
        console.error(`flame-cache: ${err.message}`);
        return 2;
      }
      await new Promise(() => {}); // serve until a signal
      return 0;
    }
  }
}

if (import.meta.main) {
  try {
    Deno.exit(await main());
  } catch (err) {
    console.error(`flame-cache: ${(err as Error)?.stack ?? err}`);
    Deno.exit(1);
  }
}
