/**
 * The client over TLS against real servers: `grpc+tls://` and `grpcs://` with a
 * CA given as PEM bytes, refusal of an untrusted server, and mutual TLS with a
 * client certificate. Certificates are made with openssl in a temp directory.
 */
import assert from "node:assert/strict";
import { FlameCacheClient, UnavailableError } from "../../src/client/mod.ts";
import { startServer } from "../helpers/server.ts";

async function openssl(dir: string, args: string[]): Promise<void> {
  const out = await new Deno.Command("openssl", { args, cwd: dir, stdout: "null", stderr: "piped" }).output();
  if (out.code !== 0) throw new Error(`openssl ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
}

/**
 * A CA, a server certificate for 127.0.0.1/localhost and a client certificate,
 * all signed by the CA. Both leaves get extensions, which makes them X.509 v3:
 * Deno's TLS (rustls) refuses v1 certificates ("UnsupportedCertVersion").
 */
async function makeCerts(dir: string): Promise<void> {
  const days = ["-days", "2"];
  await openssl(dir, [
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
    ...days,
    "-subj",
    "/CN=test-ca",
  ]);
  await Deno.writeTextFile(`${dir}/server.ext`, "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  await Deno.writeTextFile(`${dir}/client.ext`, "extendedKeyUsage=clientAuth\n");
  for (const who of ["server", "client"]) {
    await openssl(dir, [
      "req",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      `${who}.key`,
      "-out",
      `${who}.csr`,
      "-subj",
      `/CN=${who}`,
    ]);
    const ext = ["-extfile", `${who}.ext`];
    await openssl(dir, [
      "x509",
      "-req",
      "-in",
      `${who}.csr`,
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      `${who}.pem`,
      ...days,
      ...ext,
    ]);
  }
}

Deno.test({
  name: "client TLS: server certificates and mutual TLS",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      await makeCerts(dir);
      const ca = await Deno.readFile(`${dir}/ca.pem`);
      const tlsSection =
        `cache:\n  tls:\n    cert_file: ${dir}/server.pem\n    key_file: ${dir}/server.key\n`;
      await Deno.writeTextFile(`${dir}/tls.yaml`, tlsSection);
      await Deno.writeTextFile(`${dir}/mtls.yaml`, `${tlsSection}    ca_file: ${dir}/ca.pem\n`);

      const server = await startServer(["--config", `${dir}/tls.yaml`]);
      try {
        assert.match(server.endpoint, /^grpc\+tls:\/\//);
        for (const scheme of ["grpc+tls", "grpcs"]) {
          const c = await FlameCacheClient.connect(`${scheme}://127.0.0.1:${server.port}`, { tls: { ca } });
          try {
            const ref = await c.putObject("app/tls", new TextEncoder().encode("secret"));
            assert.equal(ref.endpoint, server.endpoint);
            const got = await c.getObject(ref);
            assert.equal(got.kind === "opaque" && new TextDecoder().decode(got.base), "secret");
          } finally {
            await c.close();
          }
        }
        // Untrusted server certificate (system roots only).
        const bad = await FlameCacheClient.connect(`grpc+tls://127.0.0.1:${server.port}`).catch((e) => e);
        assert.ok(bad instanceof UnavailableError, String(bad));
        // Plaintext client against a TLS server.
        const plain = await FlameCacheClient.connect(`grpc://127.0.0.1:${server.port}`, {
          connectTimeoutMs: 5000,
        }).then(async (c) => {
          try {
            return await c.list();
          } finally {
            await c.close();
          }
        }).catch((e) => e);
        assert.ok(plain instanceof UnavailableError || plain instanceof Error, String(plain));
      } finally {
        await server.stop();
      }

      const mserver = await startServer(["--config", `${dir}/mtls.yaml`]);
      try {
        const uri = `grpc+tls://127.0.0.1:${mserver.port}`;
        const noCert = await FlameCacheClient.connect(uri, { tls: { ca } })
          .then(async (c) => {
            try {
              return await c.list();
            } finally {
              await c.close();
            }
          })
          .catch((e) => e);
        assert.ok(noCert instanceof UnavailableError, `client without certificate refused: ${noCert}`);
        const c = await FlameCacheClient.connect(uri, {
          tls: {
            ca,
            cert: await Deno.readFile(`${dir}/client.pem`),
            key: await Deno.readFile(`${dir}/client.key`),
          },
        });
        try {
          const ref = await c.putObject("app/mtls", new Uint8Array([1, 2, 3]));
          assert.equal((await c.getObject(ref)).version, 1);
        } finally {
          await c.close();
        }
      } finally {
        await mserver.stop();
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
