/**
 * The shape of a command-line flag, shared by the configuration (whose settings declare their flags) and
 * the CLI (which parses them and prints the help); it lives here so the CLI depends on the configuration
 * and never the other way round.
 *
 * @module
 */

/** A command-line flag of `flame-cache`. */
export interface FlagSpec {
  /** Long name without dashes, e.g. `max-memory`. */
  name: string;
  /** One-letter alias, e.g. `c` for `-c`. */
  short?: string;
  type: "string" | "boolean";
  /** Placeholder for the value in help, e.g. `SIZE`. */
  arg?: string;
  /** Which commands accept it. */
  scope: "serve" | "admin" | "all";
  help: string;
  /** Default shown in help. */
  default?: string;
  /** Environment variable that sets the same thing. */
  env?: string;
  /** Help and default shown in the admin section when they differ there. */
  admin?: { help: string; default?: string };
}
