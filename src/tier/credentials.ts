/**
 * S3 credentials from the standard places, in the AWS SDKs' order:
 * 1. `AWS_ACCESS_KEY_ID` + `AWS_SECRET_ACCESS_KEY` (+ `AWS_SESSION_TOKEN`);
 * 2. the profile `AWS_PROFILE` (default `default`) in the shared credentials file
 *    (`AWS_SHARED_CREDENTIALS_FILE`, default `~/.aws/credentials`), then in the shared config file
 *    (`AWS_CONFIG_FILE`, default `~/.aws/config`, where sections read `[profile NAME]`).
 * The files are parsed by AWS's own `@smithy/shared-ini-file-loader`.
 *
 * The result is never logged: {@link ResolvedCredentials.source} says where the keys came from, which is
 * what logs and errors may show. Missing credentials are a {@link TierConfigError} naming the places looked.
 *
 * @module
 */
import { loadSharedConfigFiles } from "@smithy/shared-ini-file-loader";
import { TierConfigError } from "./errors.ts";

/** Keys for SigV4 signing. */
export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** Credentials and a loggable description of where they came from. */
export interface ResolvedCredentials extends S3Credentials {
  source: string;
}

/** Reads an environment variable (injectable for tests). */
export type EnvLookup = (name: string) => string | undefined;

/** Find credentials (see the module doc for the order); throws {@link TierConfigError} when none. */
export async function resolveCredentials(
  env: EnvLookup = (n) => Deno.env.get(n),
): Promise<ResolvedCredentials> {
  const id = env("AWS_ACCESS_KEY_ID");
  const secret = env("AWS_SECRET_ACCESS_KEY");
  if (id && secret) {
    return {
      accessKeyId: id,
      secretAccessKey: secret,
      sessionToken: env("AWS_SESSION_TOKEN") || undefined,
      source: "environment",
    };
  }
  if (id || secret) {
    throw new TierConfigError(
      `tier credentials: ${id ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY"} is set but ${
        id ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID"
      } is not`,
    );
  }
  const profile = env("AWS_PROFILE") || "default";
  const home = env("HOME") ?? "";
  const credentialsFile = env("AWS_SHARED_CREDENTIALS_FILE") || `${home}/.aws/credentials`;
  const configFile = env("AWS_CONFIG_FILE") || `${home}/.aws/config`;
  const files = await loadSharedConfigFiles({
    filepath: credentialsFile,
    configFilepath: configFile,
    ignoreCache: true,
  });
  for (
    const [section, file] of [[files.credentialsFile[profile], credentialsFile], [
      files.configFile[profile],
      configFile,
    ]] as const
  ) {
    const keyId = section?.aws_access_key_id;
    const key = section?.aws_secret_access_key;
    if (keyId && key) {
      return {
        accessKeyId: keyId,
        secretAccessKey: key,
        sessionToken: section.aws_session_token || undefined,
        source: `${file} (profile ${profile})`,
      };
    }
  }
  throw new TierConfigError(
    `tier credentials not found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or profile "${profile}" in ` +
      `${credentialsFile} or ${configFile}`,
  );
}
