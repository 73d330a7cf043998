/**
 * Command-line parsing for the `flame-cache` executable: argv + environment + configuration file → `Command`.
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  type Interfaces,
  normalizeClientEndpoint,
  parseEndpointUri,
  parseHostPort,
} from "../config/endpoint.ts";
import { clusterFlagLayer } from "../config/cluster.ts";
import { ConfigError, show } from "../config/errors.ts";
import { parseHttpAuthMode } from "../config/http_auth.ts";
import type { Layer } from "../config/layer.ts";
import { loadConfig } from "../config/load.ts";
import { parseByteSize } from "../config/size.ts";
import { parseStorage } from "../config/storage.ts";
import type { AdminSub, Command } from "../config/types.ts";
import {
  parseDurability,
  parseDuration,
  parseHttp,
  parseLogLevel,
  parsePolicy,
  parsePositiveInt,
} from "../config/values.ts";
import { VERSION } from "../config/version.ts";
import { FLAGS, type FlagSpec, helpText } from "./help.ts";

/** Positional arguments each admin subcommand takes: [min, max, usage]. */
const ADMIN_ARITY: Record<AdminSub, [number, number, string]> = {
  ls: [0, 1, "ls [PREFIX]"],
  stat: [1, 1, "stat KEY"],
  get: [1, 1, "get KEY [-o FILE]"],
  put: [2, 2, "put APP/SESSION[/OBJECT] FILE"],
  rm: [1, 1, "rm KEY|PREFIX"],
};

const COMMANDS = new Set(["serve", "migrate", "help", "version", ...Object.keys(ADMIN_ARITY)]);

const PARSE_OPTIONS = Object.fromEntries(
  FLAGS.map((f) => [f.name, f.short ? { type: f.type, short: f.short } : { type: f.type }]),
) as Record<string, { type: "string" | "boolean"; short?: string }>;

const FLAG_BY_NAME = new Map<string, FlagSpec>(FLAGS.map((f) => [f.name, f]));

interface ParsedArgv {
  /** Last value of each flag given (booleans: true). */
  values: Map<string, { value: string | true; raw: string }>;
  positionals: string[];
  /** The first problem found (unknown flag, missing value); thrown unless help/version was asked for. */
  error?: ConfigError;
}

function tokenize(argv: string[]): ParsedArgv {
  // `deno task` appends user arguments after the task's own, so a `--` may show up anywhere: drop it.
  const args = argv.filter((a) => a !== "--");
  const { tokens } = parseArgs({
    args,
    options: PARSE_OPTIONS,
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  const values = new Map<string, { value: string | true; raw: string }>();
  const positionals: string[] = [];
  let error: ConfigError | undefined;
  const fail = (key: string, detail: string) => error ??= new ConfigError(key, detail);
  for (const t of tokens) {
    if (t.kind === "positional") positionals.push(t.value);
    if (t.kind !== "option") continue;
    const spec = FLAG_BY_NAME.get(t.name);
    if (!spec || (t.rawName.length === 2 && spec.short !== t.rawName[1])) {
      fail(t.rawName, `unknown flag ${t.rawName} (see flame-cache --help)`);
    } else if (spec.type === "boolean") {
      if (t.value !== undefined) fail(t.rawName, `flag ${t.rawName} does not take a value`);
      else values.set(spec.name, { value: true, raw: t.rawName });
    } else if (t.value === undefined || (!t.inlineValue && t.value.startsWith("--"))) {
      fail(t.rawName, `flag ${t.rawName} requires a value (${spec.arg})`);
    } else {
      values.set(spec.name, { value: t.value, raw: t.rawName });
    }
  }
  return { values, positionals, error };
}

/** Settings given by serve flags, validated, as the highest-precedence layer. */
function flagLayer(p: ParsedArgv, env: Record<string, string>, cwd: string): Layer {
  const layer: Layer = {};
  const str = (name: string): { v: string; key: string } | undefined => {
    const e = p.values.get(name);
    return e ? { v: e.value as string, key: `--${name}` } : undefined;
  };
  let f;
  if ((f = str("listen"))) layer.listen = { value: parseHostPort(f.v, f.key, true), key: f.key };
  if ((f = str("endpoint"))) layer.endpoint = { value: parseEndpointUri(f.v, f.key), key: f.key };
  if ((f = str("storage"))) {
    layer.storage = { value: parseStorage(f.v, f.key, cwd, env.FLAME_HOME), key: f.key };
  }
  if ((f = str("max-memory"))) layer.maxMemory = { value: parseByteSize(f.v, f.key), key: f.key };
  if ((f = str("max-objects"))) layer.maxObjects = { value: parsePositiveInt(f.v, f.key), key: f.key };
  if ((f = str("eviction-policy"))) layer.policy = { value: parsePolicy(f.v, f.key), key: f.key };
  if ((f = str("capacity"))) {
    const value = parseByteSize(f.v, f.key);
    if (value <= 0) throw new ConfigError(f.key, `capacity must be greater than 0, got ${show(f.v)}`);
    layer.capacity = { value, key: f.key };
  }
  if ((f = str("durability"))) layer.durability = { value: parseDurability(f.v, f.key), key: f.key };
  if ((f = str("flush-interval-ms"))) {
    layer.flushIntervalMs = { value: parsePositiveInt(f.v, f.key), key: f.key };
  }
  if ((f = str("idle-timeout"))) layer.idleTimeoutMs = { value: parseDuration(f.v, f.key), key: f.key };
  if ((f = str("http"))) layer.http = { value: parseHttp(f.v, f.key), key: f.key };
  if ((f = str("http-auth"))) layer.httpAuth = { value: parseHttpAuthMode(f.v, f.key), key: f.key };
  if ((f = str("log-level"))) layer.logLevel = { value: parseLogLevel(f.v, f.key), key: f.key };
  Object.assign(layer, clusterFlagLayer(p.values));
  return layer;
}

/**
 * Parse argv (`Deno.args`) + environment + configuration file into a `Command`.
 *
 * `flame-cache [serve] [flags]` runs the server; `ls [PREFIX]`, `stat KEY`, `get KEY [-o FILE]`,
 * `put APP/SESSION[/OBJECT] FILE`, `rm KEY|PREFIX` are admin commands; `--help`/`-h`/`help` and `--version`/`-V`/`version`
 * print text. A `--` anywhere is ignored. Precedence: flags > env > file > defaults.
 *
 * @param env defaults to `Deno.env.toObject()`
 * @param interfaces defaults to `node:os` `networkInterfaces()` (injectable for tests)
 * @param cwd base of relative paths; defaults to `Deno.cwd()`
 * @throws {ConfigError} with `key` naming the bad flag, environment variable or `cache.*` key
 */
export function parseCommand(
  argv: string[],
  env?: Record<string, string>,
  interfaces?: Interfaces,
  cwd?: string,
): Command {
  const p = tokenize(argv);
  const word = p.positionals[0];
  if (p.values.has("help") || word === "help") return { name: "help", text: helpText() };
  if (p.values.has("version") || word === "version") {
    return { name: "version", text: `flame-cache ${VERSION}` };
  }
  if (p.error) throw p.error;
  if (word !== undefined && !COMMANDS.has(word)) {
    throw new ConfigError(
      word,
      `unknown command ${show(word)} (expected serve, migrate, ls, stat, get, put or rm)`,
    );
  }
  const name = word ?? "serve";
  const args = p.positionals.slice(1);
  // `migrate` takes the server's settings (storage folder, remote tier), like serve.
  const isAdmin = name !== "serve" && name !== "migrate";

  for (const [flag, { raw }] of p.values) {
    const scope = FLAG_BY_NAME.get(flag)!.scope;
    if (scope !== "all" && (scope === "admin") !== isAdmin) {
      throw new ConfigError(raw, `flag ${raw} is not valid for the ${name} command`);
    }
  }

  const theEnv = env ?? Deno.env.toObject();
  const theCwd = cwd ?? Deno.cwd();
  const configPath = p.values.get("config")?.value as string | undefined;

  if (!isAdmin) {
    if (args.length > 0) throw new ConfigError(args[0], `unexpected argument ${show(args[0])} for ${name}`);
    const flags = flagLayer(p, theEnv, theCwd);
    const config = loadConfig({ flags, configPath, env: theEnv, interfaces, cwd: theCwd });
    return { name: name as "serve" | "migrate", config };
  }

  const sub = name as AdminSub;
  const [min, max, usage] = ADMIN_ARITY[sub];
  if (args.length < min || args.length > max) {
    throw new ConfigError(
      sub,
      `wrong number of arguments (${args.length}); usage: flame-cache ${usage}`,
    );
  }
  if (sub === "put") {
    const parts = args[0].split("/");
    if (parts.length < 2 || parts.length > 3 || parts.some((x) => x === "")) {
      throw new ConfigError(
        "put",
        `${show(args[0])} is not APP/SESSION or APP/SESSION/OBJECT; usage: flame-cache ${usage}`,
      );
    }
  }
  const output = p.values.get("output");
  if (output && sub !== "get") throw new ConfigError(output.raw, `flag ${output.raw} is only valid for get`);

  // Admin commands read the same configuration (for the default endpoint and TLS files); only --log-level applies.
  const logLevel = p.values.get("log-level")?.value as string | undefined;
  const flags: Layer = logLevel
    ? { logLevel: { value: parseLogLevel(logLevel, "--log-level"), key: "--log-level" } }
    : {};
  const config = loadConfig({ flags, configPath, env: theEnv, interfaces, cwd: theCwd });
  const endpointFlag = p.values.get("endpoint")?.value as string | undefined;
  const command: Command = {
    name: "admin",
    sub,
    args,
    endpoint: endpointFlag !== undefined
      ? normalizeClientEndpoint(endpointFlag, "--endpoint")
      : config.endpoint,
    json: p.values.has("json"),
    config,
  };
  if (output) command.output = output.value as string;
  return command;
}
