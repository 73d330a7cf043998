/**
 * Shared pieces of the reliability suite: process probes (/proc), an
 * independent protobuf / FlightData / IPC toolkit (nothing here imports the
 * server's encoders), raw HTTP/2 and gRPC calls through `node:http2`, and a
 * `withServer` wrapper that always kills the server it started.
 *
 * @module
 */
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import http2 from "node:http2";
import net from "node:net";
import { Binary, Table, tableToIPC, Uint64, vectorFromArray } from "apache-arrow";
import { BSON } from "bson";
import { startServer, type TestServer } from "../helpers/server.ts";

export const ROOT = new URL("../../", import.meta.url).pathname;
export const HERE = new URL("./", import.meta.url).pathname;
export const FLIGHT = "/arrow.flight.protocol.FlightService/";
export const MiB = 1024 * 1024;
export const enc = new TextEncoder();
export const dec = new TextDecoder();

/** gRPC status codes (grpc-js's table: the tests do not borrow the server's constants). */
export const S = grpc.status;

/** Status codes a client error may legitimately produce (never INTERNAL / UNKNOWN / DATA_LOSS). */
export const CLIENT_ERROR_CODES: ReadonlySet<number> = new Set([
  S.INVALID_ARGUMENT,
  S.NOT_FOUND,
  S.PERMISSION_DENIED,
  S.RESOURCE_EXHAUSTED,
  S.FAILED_PRECONDITION,
  S.OUT_OF_RANGE,
  S.UNIMPLEMENTED,
  S.UNAUTHENTICATED,
  S.DEADLINE_EXCEEDED,
  S.ALREADY_EXISTS,
]);

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

// ------------------------------------------------------------------ /proc probes

/** One field of /proc/<pid>/status in bytes (kB fields) or as a number. */
export function procStatus(pid: number, field: string): number {
  const text = Deno.readTextFileSync(`/proc/${pid}/status`);
  const m = new RegExp(`^${field}:\\s+(\\d+)`, "m").exec(text);
  if (!m) throw new Error(`no ${field} in /proc/${pid}/status`);
  return /kB/.test(text.slice(m.index, text.indexOf("\n", m.index))) ? Number(m[1]) * 1024 : Number(m[1]);
}

/** Resident set size of `pid` in bytes. */
export function rss(pid: number): number {
  return procStatus(pid, "VmRSS");
}

/** Open file descriptors of `pid`. */
export function fdCount(pid: number): number {
  let n = 0;
  for (const _ of Deno.readDirSync(`/proc/${pid}/fd`)) n++;
  return n;
}

/** True while `pid` exists and is not a zombie. */
export function alive(pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(Deno.readTextFileSync(`/proc/${pid}/status`));
  } catch {
    return false;
  }
}

/** A TCP port that was free a moment ago (for TLS servers, whose endpoint must name the port). */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** Format bytes as MiB with one decimal. */
export function fmtMiB(n: number): string {
  return `${(n / MiB).toFixed(1)} MiB`;
}

// ------------------------------------------------------------------ servers

/**
 * Start a server, run `fn`, and always stop it (SIGTERM, then SIGKILL after
 * `graceMs`). Returns what `fn` returns; the server's exit status is checked
 * by `fn`'s caller through `server.stop()` if needed.
 */
export async function withServer<T>(
  flags: string[],
  options: { env?: Record<string, string>; storage?: string },
  fn: (server: TestServer) => Promise<T>,
): Promise<T> {
  const server = await startServer(flags, options);
  try {
    return await fn(server);
  } finally {
    await server.stop(5_000).catch(() => server.kill());
  }
}

/** The log lines of a server (JSON per line), parsed. */
export function logLines(server: TestServer): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const line of server.logs().split("\n")) {
    if (!line.startsWith("{")) continue;
    try {
      out.push(JSON.parse(line));
    } catch { /* partial */ }
  }
  return out;
}

/** Crash markers in server output (nghttp2 assertion, V8 OOM, panics). */
export function crashMarkers(logs: string): string[] {
  const bad = [
    "Assertion",
    "out of memory",
    "Fatal JavaScript",
    "panicked",
    "Uncaught",
    "Segmentation",
    "FATAL",
  ];
  return bad.filter((b) => logs.includes(b));
}

// ------------------------------------------------------------------ protobuf (independent encoder)

export function concat(parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** Varint bytes of a non-negative number (up to 2^64-1 via bigint). */
export function varint(value: number | bigint): number[] {
  let v = BigInt.asUintN(64, BigInt(value));
  const out: number[] = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return out;
}

/** A length-delimited protobuf field. */
export function pbBytes(field: number, bytes: Uint8Array): Uint8Array {
  return concat([new Uint8Array([...varint(field * 8 + 2), ...varint(bytes.length)]), bytes]);
}

/** A varint protobuf field. */
export function pbVarint(field: number, value: number | bigint): Uint8Array {
  return new Uint8Array([...varint(field * 8), ...varint(value)]);
}

/** FlightDescriptor bytes. */
export function descriptor(d: { type?: number; cmd?: Uint8Array; path?: string[] }): Uint8Array {
  const parts: Uint8Array[] = [];
  if (d.type) parts.push(pbVarint(1, d.type));
  if (d.cmd && d.cmd.length) parts.push(pbBytes(2, d.cmd));
  for (const p of d.path ?? []) parts.push(pbBytes(3, enc.encode(p)));
  return concat(parts);
}

/** FlightData bytes (fields 1, 2, 3, 1000). */
export function flightData(m: {
  descriptor?: Uint8Array;
  header?: Uint8Array;
  appMetadata?: Uint8Array;
  body?: Uint8Array;
}): Uint8Array {
  const parts: Uint8Array[] = [];
  if (m.descriptor) parts.push(pbBytes(1, m.descriptor));
  if (m.header && m.header.length) parts.push(pbBytes(2, m.header));
  if (m.appMetadata && m.appMetadata.length) parts.push(pbBytes(3, m.appMetadata));
  if (m.body && m.body.length) parts.push(pbBytes(1000, m.body));
  return concat(parts);
}

/** Ticket / Criteria / any message with one bytes field 1. */
export function bytesMessage(b: Uint8Array): Uint8Array {
  return b.length ? pbBytes(1, b) : new Uint8Array(0);
}

/** Action bytes. */
export function action(type: string, body: Uint8Array | string): Uint8Array {
  return concat([
    pbBytes(1, enc.encode(type)),
    pbBytes(2, typeof body === "string" ? enc.encode(body) : body),
  ]);
}

/** The 5-byte gRPC prefix plus the message. */
export function grpcFrame(msg: Uint8Array, compressed = 0): Uint8Array {
  const out = new Uint8Array(5 + msg.length);
  out[0] = compressed;
  new DataView(out.buffer).setUint32(1, msg.length);
  out.set(msg, 5);
  return out;
}

/** Split a buffer of gRPC frames into messages (for responses). */
export function grpcMessages(data: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let pos = 0;
  while (pos + 5 <= data.length) {
    const len = dv.getUint32(pos + 1);
    if (pos + 5 + len > data.length) break;
    out.push(data.subarray(pos + 5, pos + 5 + len));
    pos += 5 + len;
  }
  return out;
}

/** Read the fields of a protobuf message (minimal, for responses). */
export function pbFields(
  buf: Uint8Array,
): { field: number; wire: number; value: bigint; bytes: Uint8Array }[] {
  const out: { field: number; wire: number; value: bigint; bytes: Uint8Array }[] = [];
  let pos = 0;
  const rd = () => {
    let v = 0n;
    let shift = 0n;
    while (true) {
      const b = buf[pos++];
      v |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
      shift += 7n;
    }
  };
  while (pos < buf.length) {
    const tag = Number(rd());
    const field = tag >>> 3;
    const wire = tag & 7;
    if (wire === 0) out.push({ field, wire, value: rd(), bytes: new Uint8Array(0) });
    else if (wire === 2) {
      const len = Number(rd());
      out.push({ field, wire, value: BigInt(len), bytes: buf.subarray(pos, pos + len) });
      pos += len;
    } else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else break;
  }
  return out;
}

/** The key of an ObjectRef (BSON) or legacy JSON metadata answer. */
export function refKey(meta: Uint8Array): string | undefined {
  try {
    return String(BSON.deserialize(meta).key);
  } catch { /* not BSON */ }
  try {
    return String(JSON.parse(dec.decode(meta)).key);
  } catch {
    return undefined;
  }
}

// ------------------------------------------------------------------ IPC via apache-arrow

/** A tiny flatbuffer accessor (table field positions), independent of the server's reader. */
export function fbTable(dv: DataView, pos: number): (field: number) => number {
  const vt = pos - dv.getInt32(pos, true);
  const vlen = dv.getUint16(vt, true);
  return (i: number) => {
    const o = 4 + 2 * i;
    if (o >= vlen) return 0;
    const f = dv.getUint16(vt + o, true);
    return f ? pos + f : 0;
  };
}

/** Body length declared by a Message flatbuffer. */
export function messageBodyLength(header: Uint8Array): number {
  const dv = new DataView(header.buffer, header.byteOffset, header.byteLength);
  const m = fbTable(dv, dv.getUint32(0, true));
  const at = m(3);
  return at ? Number(dv.getBigInt64(at, true)) : 0;
}

/** Split an IPC stream (or a file's stream part, from `start`) into header/body pairs. */
export function ipcMessages(bytes: Uint8Array, start = 0): { header: Uint8Array; body: Uint8Array }[] {
  const out: { header: Uint8Array; body: Uint8Array }[] = [];
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = start;
  while (pos + 8 <= bytes.length) {
    let len = dv.getInt32(pos, true);
    pos += 4;
    if (len === -1) {
      len = dv.getInt32(pos, true);
      pos += 4;
    }
    if (len <= 0) break;
    const header = bytes.subarray(pos, pos + len);
    pos += len;
    const bodyLength = messageBodyLength(header);
    out.push({ header, body: bytes.subarray(pos, pos + bodyLength) });
    pos += bodyLength;
  }
  return out;
}

/** IPC stream of an opaque `{version: UInt64, data: Binary}` table with `rows`. */
export function opaqueStream(rows: Uint8Array[]): Uint8Array {
  const t = new Table({
    version: vectorFromArray(rows.map(() => 0n), new Uint64()),
    data: vectorFromArray(rows, new Binary()),
  });
  return tableToIPC(t, "stream");
}

/** FlightData messages (protobuf bytes) of an opaque upload to `path`, optionally with a command. */
export function opaqueUpload(path: string | null, rows: Uint8Array[], cmd?: string): Uint8Array[] {
  const msgs = ipcMessages(opaqueStream(rows));
  const d = path === null && cmd === undefined
    ? undefined
    : descriptor({ type: cmd ? 2 : 1, cmd: cmd ? enc.encode(cmd) : undefined, path: path ? [path] : [] });
  return msgs.map((m, i) =>
    flightData({ descriptor: i === 0 ? d : undefined, header: m.header, body: m.body })
  );
}

// ------------------------------------------------------------------ node:http2 calls

/** Outcome of one raw HTTP/2 gRPC call. */
export interface H2Result {
  httpStatus?: number;
  grpcStatus?: number;
  grpcMessage?: string;
  headers?: http2.IncomingHttpHeaders;
  rstCode?: number;
  /** Response DATA bytes (kept only when `keep` is set). */
  data?: Uint8Array;
  bytes: number;
  error?: string;
  /** Time to stream close. */
  ms: number;
  /** Time until the grpc-status arrived (headers or trailers), if it did. */
  statusMs?: number;
}

/** Open a cleartext HTTP/2 session to 127.0.0.1:port. */
export function h2connect(port: number, settings: http2.Settings = {}): Promise<http2.ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const s = http2.connect(`http://127.0.0.1:${port}`, { settings });
    s.once("connect", () => {
      s.on("error", () => {}); // later session errors end the calls on it; never crash the runner
      resolve(s);
    });
    s.once("error", reject);
  });
}

/**
 * One gRPC call: `body` is written as-is (already framed, or deliberately not).
 * Resolves on stream close; never rejects. Times out after `timeoutMs` (stream cancelled).
 */
export function h2call(
  session: http2.ClientHttp2Session,
  path: string,
  body: Uint8Array | Uint8Array[],
  options: {
    headers?: http2.OutgoingHttpHeaders;
    timeoutMs?: number;
    end?: boolean;
    keep?: boolean;
  } = {},
): Promise<H2Result> {
  const started = performance.now();
  return new Promise((resolve) => {
    const res: H2Result = { bytes: 0, ms: 0 };
    const chunks: Uint8Array[] = [];
    let req: http2.ClientHttp2Stream;
    try {
      req = session.request({
        ":method": "POST",
        ":path": path,
        "content-type": "application/grpc",
        te: "trailers",
        ...options.headers,
      });
    } catch (err) {
      res.error = `request: ${(err as Error).message}`;
      res.ms = performance.now() - started;
      resolve(res);
      return;
    }
    const timer = setTimeout(() => {
      res.error = "timeout";
      try {
        req.close(http2.constants.NGHTTP2_CANCEL);
      } catch { /* closed */ }
    }, options.timeoutMs ?? 15_000);
    const takeStatus = (h: http2.IncomingHttpHeaders) => {
      if (h["grpc-status"] !== undefined) {
        res.grpcStatus = Number(h["grpc-status"]);
        res.statusMs ??= performance.now() - started;
        // The answer is in: stop waiting for a request half we may never have ended.
        if (options.end === false) {
          setTimeout(() => !req.closed && req.close(http2.constants.NGHTTP2_CANCEL), 50);
        }
      }
      if (h["grpc-message"] !== undefined) res.grpcMessage = decodeURIComponent(String(h["grpc-message"]));
    };
    req.on("response", (h) => {
      res.headers = h;
      res.httpStatus = Number(h[":status"]);
      takeStatus(h);
    });
    req.on("trailers", takeStatus);
    req.on("data", (d: Uint8Array) => {
      res.bytes += d.length;
      if (options.keep) chunks.push(d);
    });
    req.on("error", (err) => (res.error ??= err.message));
    req.on("close", () => {
      clearTimeout(timer);
      res.rstCode = req.rstCode;
      res.ms = performance.now() - started;
      if (options.keep) res.data = concat(chunks);
      resolve(res);
    });
    const parts = Array.isArray(body) ? body : [body];
    for (const p of parts) req.write(p);
    if (options.end !== false) req.end();
  });
}

/** Close a session without waiting forever. */
export async function h2close(session: http2.ClientHttp2Session): Promise<void> {
  if (session.destroyed) return;
  await Promise.race([new Promise<void>((r) => session.close(() => r())), sleep(2_000)]);
  session.destroy();
}

/** Store a `size`-byte opaque object at `key` through a node:http2 DoPut. */
export async function putObject(port: number, key: string, size: number): Promise<void> {
  const s = await h2connect(port, { initialWindowSize: 16 * MiB });
  try {
    const data = new Uint8Array(size);
    for (let i = 0; i < size; i += 4096) data[i] = i & 0xff;
    const r = await h2call(s, FLIGHT + "DoPut", opaqueUpload(key, [data]).map((m) => grpcFrame(m)), {
      timeoutMs: 60_000,
    });
    assert.equal(r.grpcStatus, 0, `put ${key}: ${JSON.stringify(r)}`);
  } finally {
    await h2close(s);
  }
}

/** A ListActions call on a fresh connection succeeds; resolves with its latency in ms. */
export async function callWorks(port: number): Promise<number> {
  const s = await h2connect(port);
  try {
    const t0 = performance.now();
    const r = await h2call(s, FLIGHT + "ListActions", grpcFrame(new Uint8Array(0)), { timeoutMs: 10_000 });
    assert.equal(r.grpcStatus, 0, `ListActions: ${JSON.stringify(r)}`);
    return performance.now() - t0;
  } finally {
    await h2close(s);
  }
}

/** Keys listed by ListFlights (all apps), via one raw call. */
export async function listKeys(port: number, session?: http2.ClientHttp2Session): Promise<string[]> {
  const s = session ?? (await h2connect(port));
  try {
    const r = await h2call(s, FLIGHT + "ListFlights", grpcFrame(new Uint8Array(0)), { keep: true });
    if (r.grpcStatus !== 0) throw new Error(`ListFlights failed: ${JSON.stringify(r)}`);
    const keys: string[] = [];
    for (const info of grpcMessages(r.data!)) {
      for (const f of pbFields(info)) {
        if (f.field !== 2) continue;
        for (const d of pbFields(f.bytes)) if (d.field === 3) keys.push(dec.decode(d.bytes));
      }
    }
    return keys;
  } finally {
    if (!session) await h2close(s);
  }
}

/** A raw TCP socket to the server (node:net), resolved once connected. */
export function tcpConnect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: "127.0.0.1", port }, () => resolve(s));
    s.once("error", reject);
  });
}

/** HTTP/2 client connection preface. */
export const PREFACE = enc.encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

/** One HTTP/2 frame. */
export function h2frame(
  type: number,
  flags: number,
  stream: number,
  payload: Uint8Array = new Uint8Array(0),
) {
  const out = new Uint8Array(9 + payload.length);
  out[0] = (payload.length >>> 16) & 0xff;
  out[1] = (payload.length >>> 8) & 0xff;
  out[2] = payload.length & 0xff;
  out[3] = type;
  out[4] = flags;
  new DataView(out.buffer).setUint32(5, stream & 0x7fffffff);
  out.set(payload, 9);
  return out;
}

/** HPACK: literal header fields without indexing, no Huffman (names/values < 127 bytes). */
export function hpack(headers: [string, string][]): Uint8Array {
  const out: number[] = [];
  for (const [name, value] of headers) {
    const n = enc.encode(name);
    const v = enc.encode(value);
    if (n.length > 126 || v.length > 126) throw new Error("hpack helper: header too long");
    out.push(0x00, n.length, ...n, v.length, ...v);
  }
  return new Uint8Array(out);
}

/** HEADERS payload of a gRPC request on `path`. */
export function grpcRequestHeaders(path: string, extra: [string, string][] = []): Uint8Array {
  return hpack([
    [":method", "POST"],
    [":scheme", "http"],
    [":path", path],
    [":authority", "127.0.0.1"],
    ["content-type", "application/grpc"],
    ["te", "trailers"],
    ...extra,
  ]);
}

/** Frame types. */
export const FRAME = {
  DATA: 0,
  HEADERS: 1,
  RST_STREAM: 3,
  SETTINGS: 4,
  PING: 6,
  GOAWAY: 7,
  WINDOW_UPDATE: 8,
} as const;

/** A raw HTTP/2 peer on a TCP socket: write frames, observe the server's frames. */
export class RawH2 {
  /** Frames received (DATA payloads are not kept: see `dataBytes`). */
  readonly frames: { type: number; flags: number; stream: number; payload: Uint8Array }[] = [];
  /** DATA bytes received per stream. */
  readonly dataBytes = new Map<number, number>();
  closed = false;
  private buf = new Uint8Array(0);
  private waiters: (() => void)[] = [];

  private constructor(readonly socket: net.Socket) {
    socket.on("data", (d: Uint8Array) => {
      this.buf = concat([this.buf, d]);
      while (this.buf.length >= 9) {
        const len = (this.buf[0] << 16) | (this.buf[1] << 8) | this.buf[2];
        if (this.buf.length < 9 + len) break;
        const type = this.buf[3];
        const f = {
          type,
          flags: this.buf[4],
          stream: new DataView(this.buf.buffer, this.buf.byteOffset).getUint32(5) & 0x7fffffff,
          payload: type === FRAME.DATA ? new Uint8Array(0) : this.buf.slice(9, 9 + len),
        };
        if (type === FRAME.DATA) this.dataBytes.set(f.stream, (this.dataBytes.get(f.stream) ?? 0) + len);
        this.buf = this.buf.slice(9 + len);
        this.frames.push(f);
        if (f.type === FRAME.SETTINGS && !(f.flags & 1)) socket.write(h2frame(FRAME.SETTINGS, 1, 0));
      }
      this.wake();
    });
    socket.on("close", () => {
      this.closed = true;
      this.wake();
    });
    socket.on("error", () => {});
  }

  private wake() {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Connect, send the preface and SETTINGS (initial window `window`). */
  static async open(port: number, window = 65535): Promise<RawH2> {
    const socket = await tcpConnect(port);
    socket.setNoDelay(true);
    const raw = new RawH2(socket);
    const settings = new Uint8Array(6);
    new DataView(settings.buffer).setUint16(0, 4);
    new DataView(settings.buffer).setUint32(2, window);
    socket.write(concat([PREFACE, h2frame(FRAME.SETTINGS, 0, 0, settings)]));
    return raw;
  }

  write(bytes: Uint8Array): void {
    if (!this.closed) this.socket.write(bytes);
  }

  /** Wait until `pred` holds or `timeoutMs` passes; returns whether it held. */
  async until(pred: () => boolean, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!pred()) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await Promise.race([new Promise<void>((r) => this.waiters.push(r)), sleep(Math.min(left, 200))]);
    }
    return true;
  }

  /** RST_STREAM error codes received per stream. */
  resets(): Map<number, number> {
    const m = new Map<number, number>();
    for (const f of this.frames) {
      if (f.type === FRAME.RST_STREAM) m.set(f.stream, new DataView(f.payload.buffer).getUint32(0));
    }
    return m;
  }

  /** GOAWAY error code received, if any. */
  goaway(): number | undefined {
    const f = this.frames.find((x) => x.type === FRAME.GOAWAY);
    return f ? new DataView(f.payload.buffer).getUint32(4) : undefined;
  }

  /** Open stream `id` with a gRPC request on `path` and send `body` (ending the stream if `end`). */
  request(id: number, path: string, body: Uint8Array, end = true, extra: [string, string][] = []): void {
    this.write(h2frame(FRAME.HEADERS, 4, id, grpcRequestHeaders(path, extra)));
    if (body.length || end) this.write(h2frame(FRAME.DATA, end ? 1 : 0, id, body));
  }

  /** Grant `n` more bytes of flow-control window to stream `id` and to the connection. */
  grant(id: number, n: number): void {
    const p = new Uint8Array(4);
    new DataView(p.buffer).setUint32(0, n);
    this.write(concat([h2frame(FRAME.WINDOW_UPDATE, 0, 0, p), h2frame(FRAME.WINDOW_UPDATE, 0, id, p)]));
  }

  /** True once the server ended stream `id` (END_STREAM on HEADERS/DATA, or RST_STREAM). */
  ended(id: number): boolean {
    return this.frames.some((f) =>
      f.stream === id &&
      (f.type === FRAME.RST_STREAM || ((f.type === FRAME.HEADERS || f.type === FRAME.DATA) && (f.flags & 1)))
    );
  }

  destroy(): void {
    this.socket.destroy();
  }
}
