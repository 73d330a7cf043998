/**
 * Start-up failures the operator has to fix (storage folder, listen addresses),
 * turned into a {@link ConfigError} that names the setting and the path or
 * address: `main.ts` prints it as one line and exits 2, without a stack trace.
 *
 * @module
 */
import { ConfigError, formatHost } from "../config/mod.ts";

/** An error's message without Deno's `(os error N)` suffix and permission-flag hints. */
function reason(err: unknown): string {
  return String((err as Error)?.message ?? err)
    .replace(/,? run again with the --allow-[a-z]+ flag/, "")
    .replace(/ \(os error \d+\)/, "")
    .replace(/: (mkdir|open|stat) '.*'$/, "")
    .trim();
}

/**
 * Make sure the fs storage root is a folder this process can create and write.
 *
 * @param key the setting the path came from (`--storage`, `cache.storage`, ...)
 * @throws {ConfigError} naming `key` and `root`
 */
export function checkStorageFolder(root: string, key: string): void {
  let info: Deno.FileInfo | undefined;
  try {
    info = Deno.statSync(root);
  } catch (err) {
    if (err instanceof Deno.errors.NotCapable) throw new ConfigError(key, `not permitted to read ${root}`);
    if (!(err instanceof Deno.errors.NotFound)) {
      throw new ConfigError(key, `cannot use ${root}: ${reason(err)}`);
    }
  }
  if (info && !info.isDirectory) throw new ConfigError(key, `${root} is a file, not a folder`);
  try {
    if (!info) Deno.mkdirSync(root, { recursive: true });
    // Creating a file is the only sure test (permissions, read-only mounts, ACLs).
    Deno.removeSync(Deno.makeTempFileSync({ dir: root, prefix: ".write-check-" }));
  } catch (err) {
    if (err instanceof Deno.errors.NotCapable) throw new ConfigError(key, `not permitted to write ${root}`);
    if (err instanceof Deno.errors.PermissionDenied) {
      throw new ConfigError(key, `${root} is not writable (permission denied)`);
    }
    throw new ConfigError(key, `cannot create or write ${root}: ${reason(err)}`);
  }
}

/**
 * The error to report when listening on `address` failed: a {@link ConfigError}
 * naming `key` for the usual causes, the original error otherwise.
 */
export function listenError(err: unknown, key: string, address: string): unknown {
  if (err instanceof Deno.errors.AddrInUse) return new ConfigError(key, `${address} is already in use`);
  if (err instanceof Deno.errors.AddrNotAvailable) {
    return new ConfigError(key, `${address} is not an address of this machine`);
  }
  if (err instanceof Deno.errors.PermissionDenied || err instanceof Deno.errors.NotCapable) {
    return new ConfigError(key, `not permitted to listen on ${address}`);
  }
  const code = (err as { code?: string })?.code;
  if (code === "EADDRINUSE") return new ConfigError(key, `${address} is already in use`);
  if (code === "EADDRNOTAVAIL") return new ConfigError(key, `${address} is not an address of this machine`);
  if (code === "EACCES") return new ConfigError(key, `not permitted to listen on ${address}`);
  return err;
}

/** `host:port`, IPv6 hosts bracketed. */
export function formatHostPort(a: { host: string; port: number }): string {
  return `${formatHost(a.host)}:${a.port}`;
}
