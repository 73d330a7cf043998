/** Credential resolution: environment first, then the shared files and profiles; clear errors when none. */
import assert from "node:assert/strict";
import { resolveCredentials } from "../../src/tier/credentials.ts";
import { TierConfigError } from "../../src/tier/errors.ts";
import { rejectsWith } from "./rejects.ts";

const envOf = (vars: Record<string, string>) => (name: string) => vars[name];

Deno.test("credentials: the environment wins", async () => {
  const c = await resolveCredentials(envOf({
    AWS_ACCESS_KEY_ID: "AKENV",
    AWS_SECRET_ACCESS_KEY: "secret-env",
    AWS_SESSION_TOKEN: "tok",
    HOME: "/nonexistent",
  }));
  assert.deepEqual(c, {
    accessKeyId: "AKENV",
    secretAccessKey: "secret-env",
    sessionToken: "tok",
    source: "environment",
  });
});

Deno.test("credentials: half of a key pair in the environment is an error naming the missing variable", async () => {
  const err = await rejectsWith(
    () => resolveCredentials(envOf({ AWS_ACCESS_KEY_ID: "AKENV", HOME: "/nonexistent" })),
    TierConfigError,
  );
  assert.match(err.message, /AWS_SECRET_ACCESS_KEY is not/);
  assert.ok(!err.message.includes("AKENV"));
});

Deno.test("credentials: shared credentials and config files, by profile", async () => {
  const home = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${home}/.aws`);
    await Deno.writeTextFile(
      `${home}/.aws/credentials`,
      "[default]\naws_access_key_id = AKDEF\naws_secret_access_key = sdef\n\n[team]\naws_access_key_id=AKTEAM\n" +
        "aws_secret_access_key=steam\naws_session_token=tteam\n",
    );
    await Deno.writeTextFile(
      `${home}/.aws/config`,
      "[profile cfgonly]\naws_access_key_id = AKCFG\naws_secret_access_key = scfg\nregion = eu-west-1\n",
    );
    const def = await resolveCredentials(envOf({ HOME: home }));
    assert.equal(def.accessKeyId, "AKDEF");
    assert.equal(def.source, `${home}/.aws/credentials (profile default)`);
    const team = await resolveCredentials(envOf({ HOME: home, AWS_PROFILE: "team" }));
    assert.equal(team.secretAccessKey, "steam");
    assert.ok(team.sessionToken);
    const cfg = await resolveCredentials(envOf({ HOME: home, AWS_PROFILE: "cfgonly" }));
    assert.equal(cfg.accessKeyId, "AKCFG");
    assert.equal(cfg.source, `${home}/.aws/config (profile cfgonly)`);
    await Deno.writeTextFile(
      `${home}/elsewhere`,
      "[default]\naws_access_key_id=AKX\naws_secret_access_key=sx\n",
    );
    const moved = await resolveCredentials(
      envOf({ HOME: home, AWS_SHARED_CREDENTIALS_FILE: `${home}/elsewhere` }),
    );
    assert.equal(moved.accessKeyId, "AKX");
    const err = await rejectsWith(
      () => resolveCredentials(envOf({ HOME: home, AWS_PROFILE: "missing" })),
      TierConfigError,
    );
    assert.match(err.message, /profile "missing"/);
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("credentials: none anywhere is a configuration error that says where it looked", async () => {
  const home = await Deno.makeTempDir();
  try {
    const err = await rejectsWith(() => resolveCredentials(envOf({ HOME: home })), TierConfigError);
    assert.equal(err.code, 3);
    assert.match(err.message, /AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY/);
    assert.ok(err.message.includes(`${home}/.aws/credentials`), err.message);
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});
