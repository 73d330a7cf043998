/**
 * Run from source without permissions (`deno run main.ts ls`), Deno would prompt
 * for each permission or die with a stack trace. This names the first missing
 * one in a single line and the task that grants them.
 *
 * @module
 */

/** Permissions every command needs: settings come from the environment and the config file, and all talk TCP. */
const NEEDED: Deno.PermissionDescriptor[] = [{ name: "env" }, { name: "read" }, { name: "net" }];

const ADMIN = new Set(["ls", "stat", "get", "put", "rm"]);

/** The one-line complaint when a needed permission is not granted, else undefined. */
export function missingPermissionLine(argv: string[]): string | undefined {
  if (argv.some((a) => ["help", "version", "--help", "-h", "--version", "-V"].includes(a))) return undefined;
  const command = argv.find((a) => ADMIN.has(a));
  const missing = NEEDED.filter((d) => Deno.permissions.querySync(d).state !== "granted");
  if (missing.length === 0) return undefined;
  const flags = missing.map((d) => `--allow-${d.name}`).join(", ");
  const task = command === undefined ? "deno task serve" : `deno task cli ${command}`;
  return `flame-cache: missing permission ${flags}; from source, run '${task} ...' (it grants what is needed)`;
}
