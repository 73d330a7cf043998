/**
 * Runs the client SDK's `@example` blocks (`deno test --doc src/client/mod.ts`) against a real
 * flame-cache server on 127.0.0.1 (storage none), started here and stopped afterwards.
 *
 * ```sh
 * deno task test:doc
 * ```
 *
 * @module
 */
import { startServer } from "../tests/helpers/server.ts";

const server = await startServer();
let code = 1;
try {
  const run = await new Deno.Command(Deno.execPath(), {
    args: ["test", "--doc", "--allow-net", "--allow-env", "src/client/mod.ts"],
    cwd: new URL("../", import.meta.url).pathname,
    env: { FLAME_CACHE_ENDPOINT: `grpc://${server.address}` },
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  code = run.code;
} finally {
  await server.stop();
}
Deno.exit(code);
