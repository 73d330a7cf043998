/**
 * The HTTP side port of a real server process (`--http 127.0.0.1:0`), with
 * auth on and debug logs: Prometheus `/metrics` parsed and checked after some
 * RPCs, `/healthz`, `/status.json`, `/`; per-call debug logs; and no token,
 * password or authorization header anywhere in the logs.
 */
import assert from "node:assert/strict";
import { BSON } from "bson";
import {
  connect,
  doAction,
  doGet,
  doPut,
  grpc,
  opaqueFlightData,
  statusOf,
  unary,
} from "../helpers/flight_client.ts";
import { startServer } from "../helpers/server.ts";

interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}
interface PromFamily {
  type: string;
  help: string;
  samples: PromSample[];
}

/** Parse the Prometheus text format strictly (throws on anything malformed). */
function parsePrometheus(text: string): Map<string, PromFamily> {
  const families = new Map<string, PromFamily>();
  const seen = new Set<string>();
  assert.ok(text.endsWith("\n"), "ends with a newline");
  for (const line of text.slice(0, -1).split("\n")) {
    let m;
    if ((m = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line))) {
      const f = families.get(m[1]);
      assert.ok(!f, `HELP for ${m[1]} after its TYPE or twice`);
      families.set(m[1], { type: "", help: m[2], samples: [] });
      continue;
    }
    if ((m = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line))) {
      const f = families.get(m[1]);
      assert.ok(f && f.type === "" && f.samples.length === 0, `TYPE for ${m[1]} must follow its HELP, once`);
      f.type = m[2];
      continue;
    }
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? ([^ ]+)$/.exec(line);
    assert.ok(m, `malformed line: ${JSON.stringify(line)}`);
    const [, name, labelText, valueText] = m;
    const labels: Record<string, string> = {};
    if (labelText) {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/y;
      let pos = 0;
      while (pos < labelText.length) {
        re.lastIndex = pos;
        const l = re.exec(labelText);
        assert.ok(l, `malformed labels: ${labelText}`);
        labels[l[1]] = l[2].replace(/\\(.)/g, (_s, c) => (c === "n" ? "\n" : c));
        pos = re.lastIndex;
      }
    }
    const value = valueText === "+Inf" ? Infinity : valueText === "-Inf" ? -Infinity : Number(valueText);
    assert.ok(!Number.isNaN(value) || valueText === "NaN", `bad value in ${line}`);
    let family = families.get(name);
    if (!family || family.type === "histogram") {
      const base = name.replace(/_(bucket|sum|count)$/, "");
      if (base !== name && families.get(base)?.type === "histogram") family = families.get(base);
    }
    assert.ok(family && family.type !== "", `sample ${name} before its TYPE`);
    const id = `${name}${JSON.stringify(labels)}`;
    assert.ok(!seen.has(id), `duplicate series ${id}`);
    seen.add(id);
    family.samples.push({ name, labels, value });
  }
  return families;
}

/** Value of the one sample of `name` whose labels include `labels`. */
function value(families: Map<string, PromFamily>, name: string, labels: Record<string, string> = {}): number {
  const base = name.replace(/_(bucket|sum|count)$/, "");
  const family = families.get(name) ?? families.get(base);
  assert.ok(family, `no family ${name}`);
  const matches = family.samples.filter((s) =>
    s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)
  );
  assert.equal(matches.length, 1, `${name}${JSON.stringify(labels)}: ${matches.length} samples`);
  return matches[0].value;
}

function httpAddress(logs: string): string {
  const line = logs.split("\n").find((l) => l.includes('"flame-cache started"'));
  assert.ok(line, logs);
  const http = JSON.parse(line).http;
  assert.match(http, /^127\.0\.0\.1:\d+$/);
  return `http://${http}`;
}

function withToken(token: string): grpc.ClientOptions {
  return {
    interceptors: [(options, next) =>
      new grpc.InterceptingCall(next(options), {
        start(metadata, listener, nextStart) {
          metadata.set("authorization", `Bearer ${token}`);
          nextStart(metadata, listener);
        },
      })],
  };
}

Deno.test({
  name:
    "metrics: /metrics after RPCs (counts, latency histograms, bytes, hits, misses, sizes); /healthz; status; no secrets in logs",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "flame-ops-metrics-" });
    const token = `tok-${crypto.randomUUID()}`;
    const wrongToken = `wrong-${crypto.randomUUID()}`;
    const password = `pw-${crypto.randomUUID()}`;
    const config = `${dir}/flame-cluster.yaml`;
    await Deno.writeTextFile(
      config,
      `cache:\n  auth:\n    token_env: FLAME_OPS_TEST_TOKEN\n    users:\n      - username: alice\n        password: "${password}"\n`,
    );
    const server = await startServer(
      ["--config", config, "--storage", `${dir}/data`, "--http", "127.0.0.1:0", "--log-level", "debug"],
      { env: { FLAME_OPS_TEST_TOKEN: token } },
    );
    const base = httpAddress(server.logs());
    const client = connect(server.address, withToken(token));
    const intruder = connect(server.address, withToken(wrongToken));
    try {
      // Some traffic: 2 puts, 2 reads, 1 missing read, 1 delete, 1 refused call, 1 failed login.
      const put = async (path: string, bytes: number) => {
        const msgs = opaqueFlightData([new Uint8Array(bytes).fill(7)]);
        msgs[0].flight_descriptor = { type: 1, path: [path] };
        return BSON.deserialize((await doPut(client, msgs))[0]);
      };
      const a = await put("app1/s1", 3000);
      const b = await put("app2/s2", 5000);
      assert.equal((await doGet(client, `${a.key}:0`)).length > 0, true);
      assert.equal((await doGet(client, `${a.key}:0`)).length > 0, true);
      assert.equal((await statusOf(doGet(client, "app1/s1/missing"))).code, grpc.status.NOT_FOUND);
      await doAction(client, "DELETE", b.key);
      assert.equal(
        (await statusOf(doAction(intruder, "DELETE", "app1/*"))).code,
        grpc.status.UNAUTHENTICATED,
      );
      const basic = `Basic ${btoa(`alice:${password}x`)}`;
      const login = new grpc.Metadata();
      login.set("authorization", basic);
      const hs = await statusOf(
        new Promise((resolve, reject) => {
          const call = client.Handshake(login);
          call.on("data", () => {});
          call.on("error", reject);
          call.on("end", resolve);
          call.write({ protocol_version: 0, payload: new Uint8Array(0) });
          call.end();
        }),
      );
      assert.equal(hs.code, grpc.status.UNAUTHENTICATED, "wrong password refused");
      await unary(client, "GetFlightInfo", { type: 1, path: [a.key] });

      // /metrics
      const res = await fetch(`${base}/metrics`);
      assert.equal(res.status, 200);
      assert.match(res.headers.get("content-type")!, /^text\/plain; version=0\.0\.4/);
      const m = parsePrometheus(await res.text());
      const flight = (method: string, code: string) => ({
        service: "arrow.flight.protocol.FlightService",
        method,
        code,
      });
      assert.equal(value(m, "flame_cache_rpc_requests_total", flight("DoPut", "OK")), 2);
      assert.equal(value(m, "flame_cache_rpc_requests_total", flight("DoGet", "OK")), 2);
      assert.equal(value(m, "flame_cache_rpc_requests_total", flight("DoGet", "NOT_FOUND")), 1);
      assert.equal(value(m, "flame_cache_rpc_requests_total", flight("DoAction", "OK")), 1);
      assert.equal(value(m, "flame_cache_rpc_requests_total", flight("DoAction", "UNAUTHENTICATED")), 1);
      assert.equal(value(m, "flame_cache_rpc_requests_total", flight("Handshake", "UNAUTHENTICATED")), 1);
      assert.equal(m.get("flame_cache_rpc_duration_seconds")!.type, "histogram");
      for (
        const [method, code, count] of [["DoGet", "OK", 2], ["DoPut", "OK", 2], [
          "DoGet",
          "NOT_FOUND",
          1,
        ]] as const
      ) {
        const buckets = m.get("flame_cache_rpc_duration_seconds")!.samples.filter((s) =>
          s.name === "flame_cache_rpc_duration_seconds_bucket" && s.labels.method === method &&
          s.labels.code === code
        );
        assert.ok(buckets.length > 10);
        const les = buckets.map((s) => (s.labels.le === "+Inf" ? Infinity : Number(s.labels.le)));
        assert.deepEqual(les, [...les].sort((x, y) => x - y), "buckets in ascending le");
        for (let i = 1; i < buckets.length; i++) {
          assert.ok(buckets[i].value >= buckets[i - 1].value, "cumulative");
        }
        assert.equal(buckets[buckets.length - 1].labels.le, "+Inf");
        assert.equal(buckets[buckets.length - 1].value, count);
        assert.equal(value(m, "flame_cache_rpc_duration_seconds_count", flight(method, code)), count);
        assert.ok(value(m, "flame_cache_rpc_duration_seconds_sum", flight(method, code)) > 0);
      }
      assert.ok(value(m, "flame_cache_received_bytes_total") >= 8000, "uploads counted");
      assert.ok(value(m, "flame_cache_sent_bytes_total") >= 6000, "two reads of 3000 bytes counted");
      assert.ok(value(m, "flame_cache_hits_total") >= 2);
      assert.equal(value(m, "flame_cache_misses_total"), 1);
      assert.equal(value(m, "flame_cache_store_operations_total", { op: "put" }), 2);
      assert.equal(value(m, "flame_cache_store_operations_total", { op: "delete" }), 1);
      assert.equal(value(m, "flame_cache_objects"), 1);
      assert.equal(value(m, "flame_cache_resident_objects"), 1);
      assert.equal(value(m, "flame_cache_resident_bytes"), 3000);
      assert.equal(value(m, "flame_cache_stored_bytes", { source: "index", storage: "fs" }), 3000);
      assert.equal(
        value(m, "flame_cache_evictions_total"),
        0,
        "3000 bytes fit the 1 GiB default: nothing evicted",
      );
      assert.ok(value(m, "flame_cache_connections") >= 1);
      assert.ok(value(m, "flame_cache_connections_accepted_total") >= 1);
      assert.equal(value(m, "flame_cache_up"), 1);
      assert.equal(value(m, "flame_cache_build_info", { storage: "fs" }), 1);
      assert.ok(value(m, "process_resident_memory_bytes") > 0);

      // /healthz, /status.json, / and unknown paths.
      let r = await fetch(`${base}/healthz`);
      assert.equal(r.status, 200);
      assert.equal(await r.text(), "ok\n");
      r = await fetch(`${base}/status.json`);
      const status = await r.json();
      assert.deepEqual(status.stored.apps.map((g: { name: string; bytes: number }) => [g.name, g.bytes]), [[
        "app1",
        3000,
      ]]);
      assert.equal(status.stored.sessions[0].name, "app1/s1");
      r = await fetch(`${base}/`);
      assert.match(r.headers.get("content-type")!, /^text\/html/);
      const html = await r.text();
      assert.ok(
        html.includes('id="totals"') && html.includes('id="throughput-chart"') && html.includes("app1/s1"),
      );
      r = await fetch(`${base}/nope`);
      assert.equal(r.status, 404);
      await r.body?.cancel();
      r = await fetch(`${base}/metrics`, { method: "POST" });
      assert.equal(r.status, 405);
      await r.body?.cancel();
    } finally {
      client.close();
      intruder.close();
      const status = await server.stop();
      await Deno.remove(dir, { recursive: true });
      assert.equal(status.code, 0, server.logs());
    }

    // Logs: per-call debug lines, JSON throughout, and never a credential.
    const logs = server.logs();
    const lines = logs.trim().split("\n").map((l) => JSON.parse(l));
    assert.ok(
      lines.some((l) => l.msg === "call" && l.level === "debug" && /DoGet$/.test(l.method)),
      "per-call debug logs",
    );
    assert.ok(lines.some((l) => l.msg === "call failed" && l.code === "UNAUTHENTICATED"));
    for (const secret of [token, wrongToken, password, btoa(`alice:${password}x`)]) {
      assert.ok(!logs.includes(secret), `a credential leaked into the logs:\n${logs}`);
    }
  },
});

Deno.test({
  name: "metrics: evictions_total counts payloads pushed out of a small memory budget",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "flame-ops-evict-" });
    const server = await startServer(
      ["--storage", `${dir}/data`, "--http", "127.0.0.1:0", "--max-memory", "4K"],
    );
    const client = connect(server.address);
    try {
      for (const session of ["s1", "s2", "s3"]) {
        const msgs = opaqueFlightData([new Uint8Array(3000).fill(7)]);
        msgs[0].flight_descriptor = { type: 1, path: [`evict/${session}`] };
        await doPut(client, msgs);
      }
      const m = parsePrometheus(await (await fetch(`${httpAddress(server.logs())}/metrics`)).text());
      // 3 payloads of 3000 bytes under a 4 KiB budget: at most one stays resident, two or more were evicted.
      assert.ok(value(m, "flame_cache_resident_objects") <= 1);
      assert.ok(
        value(m, "flame_cache_evictions_total") >= 2,
        `evictions ${value(m, "flame_cache_evictions_total")}`,
      );
      assert.equal(value(m, "flame_cache_objects"), 3, "evicted from memory, still stored");
    } finally {
      client.close();
      await server.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
