/**
 * `KEY=VALUE` files such as `scripts/cluster.sh`'s `cluster.env`.
 *
 * @module
 */

/** The variables of a `KEY=VALUE` text (one per line; other lines ignored). */
export function parseEnvLines(text: string): Map<string, string> {
  const env = new Map<string, string>();
  for (const line of text.split("\n")) {
    const eq = line.indexOf("=");
    if (eq > 0) env.set(line.slice(0, eq), line.slice(eq + 1));
  }
  return env;
}

/** The variables of the `KEY=VALUE` file at `path`. */
export function readEnvFile(path: string): Map<string, string> {
  return parseEnvLines(Deno.readTextFileSync(path));
}
