/**
 * The admin subcommands of `flame-cache`: `ls [PREFIX]`, `stat KEY`,
 * `get KEY [-o FILE]`, `put APP/SESSION[/OBJECT] FILE`, `rm KEY|PREFIX`, talking to a
 * running server through the TypeScript client. Human tables by default,
 * `--json` prints one JSON document on stdout. Transfers longer than a second
 * show a progress bar on stderr when it is a terminal.
 *
 * Exit codes: 0 ok, 1 server or I/O error (one line on stderr, e.g.
 * `flame-cache: object app/s/x not found (NOT_FOUND)`), 2 usage error.
 *
 * @module
 */
import { dirname } from "node:path";
import { CacheClientError, type FlameCacheClient } from "../client/mod.ts";
import { formatBytes } from "../config/mod.ts";
import { type AdminCommand, connectAdmin } from "./admin_connect.ts";
import { formatFields, formatList, formatStat } from "./admin_format.ts";
import { ProgressBar } from "./progress.ts";

export type { AdminCommand };

/** A problem found before talking to the server: usage (exit 2) or local I/O (exit 1). */
class PrecheckError extends Error {
  constructor(message: string, readonly exitCode: 1 | 2) {
    super(message);
  }
}

const enc = new TextEncoder();

function out(text: string): void {
  Deno.stdout.writeSync(enc.encode(text.endsWith("\n") ? text : `${text}\n`));
}

function json(value: unknown): void {
  out(JSON.stringify(value, null, 2));
}

/** One line on stderr for a failure. */
function errorLine(err: unknown): string {
  if (err instanceof CacheClientError) return `flame-cache: ${err.message} (${err.codeName})`;
  if (err instanceof Deno.errors.NotFound) return `flame-cache: ${err.message}`;
  return `flame-cache: ${(err as Error)?.message ?? String(err)}`;
}

async function ls(client: FlameCacheClient, cmd: AdminCommand): Promise<void> {
  const prefix = cmd.args[0] ?? "";
  const objects = (await client.list(prefix)).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  if (cmd.json) {
    json({ endpoint: client.endpoint, prefix, objects });
  } else {
    out(formatList(objects));
  }
}

async function stat(client: FlameCacheClient, cmd: AdminCommand): Promise<void> {
  const info = await client.stat(cmd.args[0]);
  if (cmd.json) json(info);
  else out(formatStat(info));
}

async function get(client: FlameCacheClient, cmd: AdminCommand): Promise<void> {
  const key = cmd.args[0];
  const bar = new ProgressBar(`get ${key}`);
  const onProgress = (p: { bytes: number; total?: number }) => bar.update(p.bytes, p.total);
  try {
    if (cmd.output !== undefined) {
      const r = await client.downloadFile(key, cmd.output, { onProgress });
      bar.done(r.bytes, r.bytes);
      const summary = { key, version: r.version, kind: r.kind, bytes: r.bytes, path: cmd.output };
      if (cmd.json) json(summary);
      else {
        Deno.stderr.writeSync(
          enc.encode(`wrote ${formatBytes(r.bytes)} to ${cmd.output} (version ${r.version})\n`),
        );
      }
      return;
    }
    const r = await client.streamObject(key, {
      write: async (data) => {
        let off = 0;
        while (off < data.length) off += await Deno.stdout.write(data.subarray(off));
      },
    }, { onProgress });
    bar.done(r.bytes, r.bytes);
  } finally {
    bar.done();
  }
}

async function put(client: FlameCacheClient, cmd: AdminCommand): Promise<void> {
  const [target, file] = cmd.args;
  const size = (await Deno.stat(file)).size;
  const bar = new ProgressBar(`put ${file}`);
  try {
    const ref = await client.uploadFile(target, file, { onProgress: (p) => bar.update(p.bytes, p.total) });
    bar.done(size, size);
    if (cmd.json) json({ ...ref, size });
    else {
      out(formatFields([
        ["key", ref.key],
        ["version", String(ref.version)],
        ["endpoint", ref.endpoint],
        ["size", `${formatBytes(size)} (${size} bytes)`],
      ]));
    }
  } finally {
    bar.done();
  }
}

/** True when DELETE `selector` (KEY, APP/SESSION, APP/* or APP; see protocol/keys.ts) removes `key`. */
function selects(selector: string, key: string): boolean {
  const parts = selector.split("/");
  if (key === selector || parts.length === 3) return key === selector;
  const prefix = parts.length === 2 && parts[1] === "*" ? parts[0] : selector;
  return key.startsWith(`${prefix}/`);
}

async function rm(client: FlameCacheClient, cmd: AdminCommand): Promise<void> {
  const selector = cmd.args[0];
  // The server answers DELETE with "OK" either way (deletes are idempotent), so count the matches first.
  const prefix = selector.endsWith("/*") ? selector.slice(0, -1) : selector;
  const matched = (await client.list(prefix)).filter((o) => selects(selector, o.key)).length;
  await client.deleteObjects(selector);
  if (cmd.json) json({ deleted: selector, matched, ok: true });
  else if (matched === 0) out(`nothing matched ${selector} (nothing to delete)`);
  else out(`deleted ${selector} (${matched} object${matched === 1 ? "" : "s"})`);
}

/** Checks that need no server: output targets and input files. */
async function precheck(cmd: AdminCommand): Promise<void> {
  if (cmd.sub === "get") {
    if (cmd.output === undefined) {
      if (cmd.json) {
        throw new PrecheckError("get --json needs -o FILE (the object itself goes to stdout otherwise)", 2);
      }
      if (Deno.stdout.isTerminal()) {
        throw new PrecheckError(
          "refusing to write binary data to a terminal; use -o FILE or redirect stdout (flame-cache get KEY > FILE)",
          2,
        );
      }
    } else {
      const dir = dirname(cmd.output);
      const info = await Deno.stat(dir).catch(() => null);
      if (!info?.isDirectory) {
        throw new PrecheckError(`cannot write ${cmd.output}: directory ${dir} does not exist`, 1);
      }
    }
  }
  if (cmd.sub === "put") {
    const file = cmd.args[1];
    const info = await Deno.stat(file).catch((err) => {
      const why = err instanceof Deno.errors.NotFound ? "no such file" : (err as Error).message;
      throw new PrecheckError(`cannot read ${file}: ${why}`, 1);
    });
    if (!info.isFile) throw new PrecheckError(`cannot read ${file}: not a regular file`, 1);
  }
}

const COMMANDS: Record<AdminCommand["sub"], (c: FlameCacheClient, cmd: AdminCommand) => Promise<void>> = {
  ls,
  stat,
  get,
  put,
  rm,
};

/** Run an admin subcommand; resolves with the process exit code (0, 1 or 2). */
export async function runAdmin(cmd: AdminCommand): Promise<number> {
  try {
    await precheck(cmd);
  } catch (err) {
    console.error(`flame-cache: ${(err as Error).message}`);
    return err instanceof PrecheckError ? err.exitCode : 1;
  }
  let client: FlameCacheClient | undefined;
  try {
    client = await connectAdmin(cmd);
    await COMMANDS[cmd.sub](client, cmd);
    return 0;
  } catch (err) {
    if (err instanceof Deno.errors.BrokenPipe) return 0; // e.g. `flame-cache get KEY | head`
    console.error(errorLine(err));
    return 1;
  } finally {
    await client?.close();
  }
}
