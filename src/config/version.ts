/**
 * The flame-cache version string.
 *
 * @module
 */

/** Version of flame-cache, printed by `flame-cache --version`. Keep in sync with `deno.json` "version". */
export const VERSION: string = "0.1.0";
