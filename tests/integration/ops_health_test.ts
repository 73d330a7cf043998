/**
 * gRPC health checking (grpc.health.v1.Health Check and Watch) on the Flight
 * port, through grpc-js + proto-loader and proto/health.proto:
 *
 * - in process, with a store whose index load is held back: NOT_SERVING and
 *   Flight UNAVAILABLE "starting" while it loads, SERVING after, NOT_SERVING
 *   (and Watch ended) on close, /healthz 503 while draining;
 * - against a real server process: SERVING, and NOT_SERVING pushed to a Watch
 *   on SIGTERM.
 *
 * Whatever watches a server shut down runs in Node (a raw node:http2 client,
 * {@link NODE_WATCHER}): the server's GOAWAY would hit Deno's own node:http2
 * client assertion (denoland/deno#36788) and abort the test process. The
 * Deno-side grpc-js clients are closed before each shutdown.
 */
import assert from "node:assert/strict";
import * as protoLoader from "@grpc/proto-loader";
import { connect, doGet, grpc, statusOf } from "../helpers/flight_client.ts";
import { startServer as startProcess } from "../helpers/server.ts";
import { parseCommand } from "../../src/cli/args.ts";
import { startServer } from "../../src/server/mod.ts";
import { InThreadStore } from "../../src/store/mod.ts";
import { STARTING_MESSAGE } from "../../src/ops/mod.ts";

const definition = protoLoader.loadSync(new URL("../../proto/health.proto", import.meta.url).pathname, {
  keepCase: true,
  enums: Number,
  defaults: true,
});
// deno-lint-ignore no-explicit-any
const healthPkg = (grpc.loadPackageDefinition(definition) as any).grpc.health.v1;
const FLIGHT = "arrow.flight.protocol.FlightService";
const SERVING = 1;
const NOT_SERVING = 2;
const SERVICE_UNKNOWN = 3;

// deno-lint-ignore no-explicit-any
type HealthClient = any;

function healthClient(address: string): HealthClient {
  return new healthPkg.Health(address, grpc.credentials.createInsecure());
}

function check(client: HealthClient, service: string): Promise<number> {
  return new Promise((resolve, reject) => {
    client.Check(
      { service },
      { deadline: Date.now() + 5000 },
      (err: Error | null, res: { status: number }) => {
        if (err) reject(err);
        else resolve(res.status);
      },
    );
  });
}

/** A Watch stream: statuses as they arrive, and how it ended. */
function watch(client: HealthClient, service: string) {
  const statuses: number[] = [];
  const waiters: (() => void)[] = [];
  let seen = 0;
  const call = client.Watch({ service });
  const ended = new Promise<{ code: number }>((resolve) => {
    call.on("error", (e: { code: number }) => resolve({ code: e.code }));
    call.on("end", () => resolve({ code: 0 }));
  });
  call.on("data", (m: { status: number }) => {
    statuses.push(m.status);
    for (const w of waiters.splice(0)) w();
  });
  return {
    statuses,
    ended,
    cancel: () => call.cancel(),
    /** Wait for the next message with `status` (messages before it are skipped). */
    async until(status: number, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (true) {
        const i = statuses.indexOf(status, seen);
        if (i >= 0) {
          seen = i + 1;
          return;
        }
        if (Date.now() > deadline) throw new Error(`Watch(${service}) got [${statuses}], not ${status}`);
        await new Promise<void>((r) => {
          waiters.push(r);
          setTimeout(r, 100);
        });
      }
    },
  };
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** A store whose index load waits for `releaseOpen()`, and whose `get` can be held. */
class HeldStore extends InThreadStore {
  private releaseOpenFn!: () => void;
  private readonly openHeld = new Promise<void>((r) => (this.releaseOpenFn = r));
  private markOpenCalled!: () => void;
  /** Resolves when the server has started loading the index. */
  readonly openCalled = new Promise<void>((r) => (this.markOpenCalled = r));
  /** While set, `get` waits for it. */
  getHeld?: Promise<void>;
  getCalled?: () => void;

  constructor() {
    super({ storage: { kind: "none" }, limits: { policy: "lru", maxMemory: 1 << 30, maxObjects: Infinity } });
  }
  releaseOpen(): void {
    this.releaseOpenFn();
  }
  override async open(): Promise<string> {
    this.markOpenCalled();
    await this.openHeld;
    return super.open();
  }
  override async get(key: string) {
    this.getCalled?.();
    if (this.getHeld) await this.getHeld;
    return super.get(key);
  }
}

/**
 * Node script: on one HTTP/2 session, Watch("") and DoGet(ticket argv[2]);
 * prints one JSON event per line: {call, message(hex)} | {call, status} | {goaway}.
 */
const NODE_WATCHER = `
import http2 from "node:http2";
const [port, ticket] = process.argv.slice(1);
const emit = (e) => process.stdout.write(JSON.stringify(e) + "\\n");
const session = http2.connect("http://127.0.0.1:" + port);
session.on("error", (e) => emit({ sessionError: e.message }));
session.on("goaway", () => emit({ goaway: true }));
function call(name, path, field1) {
  const body = Buffer.concat([Buffer.from([0x0a, field1.length]), field1]);
  const frame = Buffer.alloc(5 + body.length);
  frame.writeUInt32BE(body.length, 1);
  body.copy(frame, 5);
  const req = session.request({ ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers" });
  let buf = Buffer.alloc(0);
  req.on("response", (h) => { if (h["grpc-status"] !== undefined) emit({ call: name, status: Number(h["grpc-status"]) }); });
  req.on("data", (chunk) => {
    buf = Buffer.concat([buf, chunk]);
    while (buf.length >= 5 && buf.length >= 5 + buf.readUInt32BE(1)) {
      const len = buf.readUInt32BE(1);
      emit({ call: name, message: buf.subarray(5, 5 + len).toString("hex") });
      buf = buf.subarray(5 + len);
    }
  });
  req.on("trailers", (t) => emit({ call: name, status: Number(t["grpc-status"]) }));
  req.on("error", (e) => emit({ call: name, error: e.message }));
  req.on("close", () => emit({ call: name, closed: true }));
  req.end(frame);
}
call("watch", "/grpc.health.v1.Health/Watch", Buffer.alloc(0));
setTimeout(() => call("get", "/arrow.flight.protocol.FlightService/DoGet", Buffer.from(ticket)), 100);
setTimeout(() => process.exit(0), 20000).unref();
process.stdin.resume();
process.stdin.on("end", () => { session.destroy(); process.exit(0); });
`;

/** Run {@link NODE_WATCHER}; events arrive in `events`. */
function nodeWatcher(port: number, ticket: string) {
  const child = new Deno.Command("node", {
    args: ["--input-type=module", "-e", NODE_WATCHER, String(port), ticket],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const events: Record<string, unknown>[] = [];
  const done = (async () => {
    let text = "";
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      text += chunk;
      const lines = text.split("\n");
      text = lines.pop()!;
      for (const l of lines) if (l) events.push(JSON.parse(l));
    }
  })();
  return {
    events,
    async until(pred: (e: Record<string, unknown>) => boolean, what: string, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (!events.some(pred)) {
        if (Date.now() > deadline) throw new Error(`node watcher: no ${what} in ${JSON.stringify(events)}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    async stop() {
      await child.stdin.close().catch(() => {});
      await child.status;
      await done;
    },
  };
}

// One server's life from start to close, checked phase by phase: kept as one function so it reads in order.
Deno.test({
  name:
    "health: NOT_SERVING and Flight UNAVAILABLE 'starting' while the index loads, SERVING after, NOT_SERVING on close",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const port = freePort();
    const httpPort = freePort();
    const command = parseCommand(
      [
        "serve",
        "--listen",
        `127.0.0.1:${port}`,
        "--storage",
        "none",
        "--http",
        `127.0.0.1:${httpPort}`,
        "--log-level",
        "error",
      ],
      {},
      undefined,
      Deno.cwd(),
    );
    if (command.name !== "serve") throw new Error("expected serve");
    const store = new HeldStore();
    const starting = startServer(command.config, { store });
    await store.openCalled;
    const address = `127.0.0.1:${port}`;
    const http = `http://127.0.0.1:${httpPort}`;
    const health = healthClient(address);
    const flight = connect(address);
    let server: Awaited<typeof starting> | undefined;
    try {
      // Index loading: the port answers, but not as SERVING.
      assert.equal(await check(health, ""), NOT_SERVING);
      assert.equal(await check(health, FLIGHT), NOT_SERVING);
      const w = watch(health, "");
      await w.until(NOT_SERVING);
      const early = await statusOf(doGet(flight, "app/s/o"));
      assert.equal(early.code, grpc.status.UNAVAILABLE);
      assert.equal(early.details, STARTING_MESSAGE);
      assert.match(early.details, /^starting/);
      let res = await fetch(`${http}/healthz`);
      assert.equal(res.status, 503);
      assert.equal(await res.text(), "starting\n");
      res = await fetch(`${http}/metrics`);
      assert.match(await res.text(), /^flame_cache_up 0$/m);

      // Loaded: SERVING, pushed to the watcher.
      store.releaseOpen();
      server = await starting;
      await w.until(SERVING);
      assert.deepEqual(w.statuses, [NOT_SERVING, SERVING]);
      assert.equal(await check(health, ""), SERVING);
      assert.equal(await check(health, FLIGHT), SERVING);
      assert.equal((await statusOf(doGet(flight, "app/s/o"))).code, grpc.status.NOT_FOUND);
      res = await fetch(`${http}/healthz`);
      assert.equal(res.status, 200);
      assert.equal(await res.text(), "ok\n");

      // Unknown service: Check says NOT_FOUND, Watch says SERVICE_UNKNOWN and stays open.
      const unknown = await check(health, "no.such.Service").then(() => -1, (e) => e.code);
      assert.equal(unknown, grpc.status.NOT_FOUND);
      const wUnknown = watch(health, "no.such.Service");
      await wUnknown.until(SERVICE_UNKNOWN);
      wUnknown.cancel();
      assert.equal((await wUnknown.ended).code, grpc.status.CANCELLED);
      w.cancel();
      await w.ended;
    } finally {
      health.close();
      flight.close();
    }
    if (!server) return;

    // Shutting down, watched from Node: a Watch stream and a DoGet held in the store.
    let releaseGet!: () => void;
    store.getHeld = new Promise((r) => (releaseGet = r));
    const getCalled = new Promise<void>((r) => (store.getCalled = r));
    const node = nodeWatcher(port, "app/s/o");
    try {
      await node.until((e) => e.call === "watch" && e.message === "0801", "SERVING");
      await getCalled;
      const t0 = performance.now();
      const closing = server.close(5000);
      // The watcher gets NOT_SERVING, then its stream ends with OK.
      await node.until((e) => e.call === "watch" && e.message === "0802", "NOT_SERVING");
      await node.until((e) => e.call === "watch" && e.status === 0, "end of Watch");
      // The held DoGet keeps the server draining: /healthz says so.
      const res = await fetch(`${http}/healthz`);
      assert.equal(res.status, 503);
      assert.equal(await res.text(), "shutting down\n");
      releaseGet();
      await node.until((e) => e.call === "get" && e.status !== undefined, "DoGet status");
      assert.equal(
        node.events.find((e) => e.call === "get" && e.status !== undefined)!.status,
        grpc.status.NOT_FOUND,
      );
      await closing;
      assert.ok(performance.now() - t0 < 4000, "close did not wait for the grace period");
      await assert.rejects(fetch(`${http}/healthz`), "the side port closes with the server");
    } finally {
      releaseGet();
      await node.stop();
    }
  },
});

Deno.test({
  name: "health: a real server process is SERVING and tells watchers NOT_SERVING on SIGTERM",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const server = await startProcess(["--http", "127.0.0.1:0"]);
    const health = healthClient(server.address);
    try {
      assert.equal(await check(health, ""), SERVING);
      assert.equal(await check(health, FLIGHT), SERVING);
    } finally {
      health.close();
    }
    const node = nodeWatcher(server.port, "app/s/o");
    try {
      await node.until((e) => e.call === "watch" && e.message === "0801", "SERVING");
      await node.until((e) => e.call === "get" && e.status !== undefined, "DoGet status");
      const stopping = server.stop();
      await node.until((e) => e.call === "watch" && e.message === "0802", "NOT_SERVING");
      assert.equal((await stopping).code, 0, server.logs());
    } finally {
      await node.stop();
      await server.stop();
    }
  },
});
