/**
 * A Flight client for tests built from independent parts: grpc-js with
 * proto-loader (protobuf from proto/Flight.proto) and apache-arrow (IPC).
 * Nothing here shares code with the server.
 *
 * @module
 */
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import {
  Binary,
  Message,
  RecordBatchReader,
  Table,
  tableFromArrays,
  tableToIPC,
  Uint64,
  Utf8,
} from "apache-arrow";
import * as arrow from "apache-arrow";

const PROTO = new URL("../../proto/Flight.proto", import.meta.url).pathname;
const definition = protoLoader.loadSync(PROTO, {
  keepCase: true,
  longs: String,
  enums: Number,
  defaults: true,
});
// deno-lint-ignore no-explicit-any
const pkg = grpc.loadPackageDefinition(definition) as any;

/** Unbounded message sizes and big windows, as Flame's clients use. */
export const CLIENT_OPTIONS: grpc.ClientOptions = {
  "grpc.max_receive_message_length": -1,
  "grpc.max_send_message_length": -1,
};

// deno-lint-ignore no-explicit-any
export type FlightClient = any;

/** Connect to `address` (host:port). */
export function connect(address: string, options: grpc.ClientOptions = {}): FlightClient {
  return new pkg.arrow.flight.protocol.FlightService(address, grpc.credentials.createInsecure(), {
    ...CLIENT_OPTIONS,
    ...options,
  });
}

/** A FlightData as plain fields (Buffers). */
export interface FlightDataMsg {
  flight_descriptor?: { type: number; cmd?: Uint8Array; path?: string[] } | null;
  data_header?: Uint8Array;
  app_metadata?: Uint8Array;
  data_body?: Uint8Array;
}

/** Split an IPC stream (apache-arrow output) into FlightData header/body pairs. */
export function ipcStreamToFlightData(stream: Uint8Array): FlightDataMsg[] {
  const out: FlightDataMsg[] = [];
  const view = new DataView(stream.buffer, stream.byteOffset, stream.byteLength);
  let pos = 0;
  while (pos + 8 <= stream.length) {
    let len = view.getInt32(pos, true);
    pos += 4;
    if (len === -1) {
      len = view.getInt32(pos, true);
      pos += 4;
    }
    if (len === 0) break;
    const header = stream.subarray(pos, pos + len);
    pos += len;
    const msg = Message.decode(header);
    const bodyLength = Number(msg.bodyLength);
    out.push({ data_header: header, data_body: stream.subarray(pos, pos + bodyLength) });
    pos += bodyLength;
  }
  return out;
}

/** FlightData messages of an opaque `{version: uint64, data: binary}` upload. */
export function opaqueFlightData(rows: Uint8Array[]): FlightDataMsg[] {
  const table = tableFromArrays({
    version: BigUint64Array.from(rows.map(() => 0n)),
  });
  const data = arrow.vectorFromArray(rows, new Binary());
  const t = new Table({ version: table.getChild("version")!, data });
  return ipcStreamToFlightData(tableToIPC(t, "stream"));
}

/** Encode a table as IPC stream messages. */
export function tableFlightData(table: Table): FlightDataMsg[] {
  return ipcStreamToFlightData(tableToIPC(table, "stream"));
}

/** Reassemble FlightData messages into an apache-arrow Table. */
export function flightDataToTable(messages: FlightDataMsg[]): Table {
  const parts: Uint8Array[] = [];
  for (const m of messages) {
    const header = m.data_header ?? new Uint8Array(0);
    if (header.length === 0) continue;
    const pad = (8 - ((header.length + 8) % 8)) % 8;
    const prefix = new Uint8Array(8);
    const dv = new DataView(prefix.buffer);
    dv.setInt32(0, -1, true);
    dv.setInt32(4, header.length + pad, true);
    parts.push(prefix, header, new Uint8Array(pad), m.data_body ?? new Uint8Array(0));
  }
  parts.push(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]));
  let n = 0;
  for (const p of parts) n += p.length;
  const all = new Uint8Array(n);
  let off = 0;
  for (const p of parts) {
    all.set(p, off);
    off += p.length;
  }
  const reader = RecordBatchReader.from(all);
  return new Table(reader.readAll());
}

/** A row of the read schema. */
export interface ReadRow {
  version: bigint;
  kind: string;
  data: Uint8Array;
}

/** Rows of a DoGet reply in the `{version, kind, data}` schema. */
export function readRows(table: Table): ReadRow[] {
  const rows: ReadRow[] = [];
  const v = table.getChild("version")!;
  const k = table.getChild("kind")!;
  const d = table.getChild("data")!;
  for (let i = 0; i < table.numRows; i++) {
    rows.push({ version: v.get(i) as bigint, kind: k.get(i) as string, data: d.get(i) as Uint8Array });
  }
  return rows;
}

/** Run DoPut with the given messages; resolves with the PutResult app_metadata list. */
export function doPut(client: FlightClient, messages: FlightDataMsg[]): Promise<Uint8Array[]> {
  return new Promise((resolve, reject) => {
    const results: Uint8Array[] = [];
    const call = client.DoPut();
    call.on("data", (r: { app_metadata: Uint8Array }) => results.push(r.app_metadata));
    call.on("error", reject);
    call.on("end", () => resolve(results));
    for (const m of messages) call.write(m);
    call.end();
  });
}

/** Collect a server-streaming call's messages. */
export function collect<T>(call: grpc.ClientReadableStream<T>): Promise<T[]> {
  return new Promise((resolve, reject) => {
    const out: T[] = [];
    call.on("data", (m: T) => out.push(m));
    call.on("error", reject);
    call.on("end", () => resolve(out));
  });
}

/** DoGet a ticket; resolves with the FlightData messages. */
export function doGet(client: FlightClient, ticket: string): Promise<FlightDataMsg[]> {
  return collect(client.DoGet({ ticket: new TextEncoder().encode(ticket) }));
}

/** Call a unary method as a promise. */
export function unary<T>(client: FlightClient, method: string, request: unknown): Promise<T> {
  return new Promise((resolve, reject) => {
    client[method](request, (err: Error | null, res: T) => (err ? reject(err) : resolve(res)));
  });
}

/** DoAction; resolves with result bodies. */
export async function doAction(
  client: FlightClient,
  type: string,
  body: string | Uint8Array,
): Promise<Uint8Array[]> {
  const b = typeof body === "string" ? new TextEncoder().encode(body) : body;
  const results = await collect<{ body: Uint8Array }>(client.DoAction({ type, body: b }));
  return results.map((r) => r.body);
}

/** The gRPC status code of a failed call. */
export async function statusOf(p: Promise<unknown>): Promise<{ code: number; details: string }> {
  try {
    await p;
  } catch (err) {
    const e = err as { code?: number; details?: string };
    return { code: e.code ?? -1, details: e.details ?? String(err) };
  }
  return { code: 0, details: "" };
}

export { grpc, Uint64, Utf8 };
