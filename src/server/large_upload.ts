/**
 * Streaming the payload out of a large FlightData message (an object sent as
 * one gRPC message, as Flame's clients do) without holding the message.
 *
 * FlightData puts its body (field 1000) after the IPC header (field 2), so by
 * the time the body starts we know where its buffers are. For an uncompressed
 * opaque `{version, data}` batch whose `data` values buffer comes last, the
 * small buffers in front (versions, offsets) are read and checked, and the
 * values are passed on piece by piece. Anything else (native tables,
 * compressed bodies, unusual layouts) is read whole, as before.
 *
 * @module
 */
import { concat } from "../bytes.ts";
import { IpcError, type IpcMessage, parseMessage, type SchemaInfo, TypeId } from "../arrow/mod.ts";
import { invalidArgument } from "../errors.ts";
import type { LargeMessage } from "../grpc/large_message.ts";
import {
  decodeDescriptor,
  decodeFlightData,
  type FlightData,
  type FlightDescriptor,
} from "../flight/messages.ts";
import { readVarint } from "../flight/protobuf.ts";

/** Largest non-body field or body prefix read into memory from a large message. */
const MAX_SMALL_PART = 16 * 1024 * 1024;

/** Result of reading a large message. */
export type LargeFlightData =
  /** The whole message was buffered: handle it like a small one. */
  | { streamed: false; message: Uint8Array }
  /** The payload was streamed to `sink`; the header and descriptor are here. */
  | { streamed: true; fd: FlightData; msg: IpcMessage; rows: number; payloadBytes: number };

/** A varint of `buf` at `pos`: [value, next], or null if incomplete; an overlong one is the client's error. */
function varint(buf: Uint8Array, pos: number): [number, number] | null {
  try {
    return readVarint(buf, pos);
  } catch {
    throw invalidArgument("Malformed FlightData message: varint longer than 10 bytes");
  }
}

/** The IPC message in a FlightData header; a malformed one is the client's error. */
function parseHeader(dataHeader: Uint8Array): IpcMessage {
  try {
    return parseMessage(dataHeader);
  } catch (err) {
    if (err instanceof IpcError) throw invalidArgument(`Invalid IPC message: ${err.message}`);
    throw err;
  }
}

/** Hand exactly `n` bytes of `large` to `sink`, as the views they arrived in. */
async function pipe(
  large: LargeMessage,
  n: number,
  sink: (piece: Uint8Array) => Promise<void>,
): Promise<void> {
  let remaining = n;
  while (remaining > 0) {
    const piece = await large.next();
    if (!piece) throw invalidArgument("gRPC message ended early");
    if (piece.length > remaining) {
      large.unshift(piece.subarray(remaining));
      await sink(piece.subarray(0, remaining));
      remaining = 0;
    } else {
      await sink(piece);
      remaining -= piece.length;
    }
  }
}

/**
 * Read `large`, streaming an opaque payload into `sink` when the layout allows
 * (schema = the upload's opaque schema, or undefined when not opaque).
 * `expect` hears the payload size before the payload; `onDescriptor` the
 * message's descriptor as soon as it is read.
 */
export async function readLargeFlightData(
  large: LargeMessage,
  opaqueSchema: SchemaInfo | undefined,
  sink: (piece: Uint8Array) => Promise<void>,
  expect: (bytes: number) => Promise<void> = async () => {},
  onDescriptor: (descriptor: FlightDescriptor) => void = () => {},
): Promise<LargeFlightData> {
  const consumed: Uint8Array[] = [];
  let consumedBytes = 0;
  let left = large.length;
  const take = (b: Uint8Array) => {
    consumed.push(b);
    consumedBytes += b.length;
    left -= b.length;
  };
  const fallback = async (): Promise<LargeFlightData> => {
    return { streamed: false, message: await large.readAll(concat(consumed, consumedBytes)) };
  };
  const fd: FlightData = {
    dataHeader: new Uint8Array(0),
    appMetadata: new Uint8Array(0),
    dataBody: new Uint8Array(0),
  };

  while (left > 0) {
    // Field tag and, for length-delimited fields, the length: at most 20 bytes.
    const peek = await large.read(Math.min(20, left));
    const tag = varint(peek, 0);
    if (!tag) throw invalidArgument("Malformed FlightData message: truncated field tag");
    const [tagValue, afterTag] = tag;
    const field = Math.floor(tagValue / 8);
    if (tagValue % 8 !== 2) {
      // Not a field FlightData has: let the ordinary decoder judge the whole message.
      large.unshift(peek);
      return await fallback();
    }
    const len = varint(peek, afterTag);
    if (!len) throw invalidArgument("Malformed FlightData message: truncated field length");
    const [length, afterLen] = len;
    large.unshift(peek.subarray(afterLen));
    take(peek.subarray(0, afterLen));
    if (length > left) {
      throw invalidArgument(`Malformed FlightData message: field ${field} overruns the message`);
    }
    if (field !== 1000) {
      if (length > MAX_SMALL_PART) return await fallback();
      const bytes = await large.read(length);
      take(bytes);
      if (field === 1) {
        fd.descriptor = decodeDescriptor(bytes);
        onDescriptor(fd.descriptor); // known before the body: staging errors can name the key
      } else if (field === 2) fd.dataHeader = bytes;
      else if (field === 3) fd.appMetadata = bytes;
      continue;
    }
    // The body. Stream it if we know its layout.
    if (!opaqueSchema || fd.dataHeader.length === 0) return await fallback();
    const msg = parseHeader(fd.dataHeader);
    if (msg.kind !== "recordBatch" || msg.batch.compression !== "none") return await fallback();
    if (msg.bodyLength !== length) {
      throw invalidArgument(
        `Invalid record batch: The message body is ${length} bytes but its header declares ${msg.bodyLength}.`,
      );
    }
    const plan = planOpaque(opaqueSchema, msg, length);
    if (!plan) return await fallback();
    const prefix = await large.read(plan.valuesOffset);
    take(prefix);
    const { start, end, rows } = opaqueRange(plan, prefix);
    await large.skip(start);
    await expect(end - start);
    await pipe(large, end - start, sink);
    await large.skip(length - plan.valuesOffset - end);
    left -= length - plan.valuesOffset;
    // Fields after the body are small (app_metadata at most).
    if (left > MAX_SMALL_PART) {
      throw invalidArgument("Malformed FlightData message: too much data after the body");
    }
    const tail = await large.read(left);
    left = 0;
    const rest = decodeFlightData(tail);
    if (rest.appMetadata.length) fd.appMetadata = rest.appMetadata;
    return { streamed: true, fd, msg, rows, payloadBytes: end - start };
  }
  return await fallback();
}

interface OpaquePlan {
  rows: number;
  width: 4 | 8;
  offsetsOffset: number;
  offsetsLength: number;
  valuesOffset: number;
  valuesLength: number;
}

/**
 * Where the offsets and values of the data column are, if the batch can be
 * streamed: no nulls in `data`, and every buffer other than the values lies
 * before the values buffer. Throws INVALID_ARGUMENT for inconsistent headers.
 */
function planOpaque(schema: SchemaInfo, msg: IpcMessage & { kind: "recordBatch" }, bodyLength: number) {
  const { batch } = msg;
  const bad = (why: string) => invalidArgument(`Invalid record batch: ${why}`);
  if (batch.nodes.length < 2 || batch.buffers.length < 5) throw bad("too few field nodes or buffers");
  for (const [i, b] of batch.buffers.entries()) {
    if (b.offset > bodyLength || b.length > bodyLength - b.offset) {
      throw bad(
        `buffer ${i} (offset ${b.offset}, length ${b.length}) lies outside the ${bodyLength}-byte body`,
      );
    }
  }
  const node = batch.nodes[1];
  if (node.length !== batch.length || batch.nodes[0].length !== batch.length) {
    throw bad("column lengths differ from the batch length");
  }
  if (node.nullCount !== 0 || batch.nodes.length !== 2 || batch.buffers.length !== 5) return null;
  const values = batch.buffers[4];
  for (let i = 0; i < 4; i++) {
    const b = batch.buffers[i];
    if (b.length > 0 && b.offset + b.length > values.offset) return null;
  }
  const width = schema.fields[1].typeId === TypeId.LargeBinary ? 8 : 4;
  const offsets = batch.buffers[3];
  if (offsets.length < (batch.length + 1) * width) throw bad("the data column's offsets buffer is too short");
  if (values.offset > MAX_SMALL_PART) return null;
  return {
    rows: batch.length,
    width,
    offsetsOffset: offsets.offset,
    offsetsLength: offsets.length,
    valuesOffset: values.offset,
    valuesLength: values.length,
  } satisfies OpaquePlan;
}

/** The payload range inside the values buffer: [offsets[0], offsets[n]). */
function opaqueRange(plan: OpaquePlan, prefix: Uint8Array): { start: number; end: number; rows: number } {
  const dv = new DataView(prefix.buffer, prefix.byteOffset + plan.offsetsOffset, plan.offsetsLength);
  const at = (i: number) => plan.width === 4 ? dv.getInt32(4 * i, true) : Number(dv.getBigInt64(8 * i, true));
  let prev = at(0);
  const start = prev;
  if (prev < 0 || prev > plan.valuesLength) {
    throw invalidArgument("Invalid record batch: the data column's first offset points outside its values");
  }
  for (let i = 1; i <= plan.rows; i++) {
    const next = at(i);
    if (next < prev || next > plan.valuesLength) {
      throw invalidArgument(
        "Invalid record batch: the data column's offsets decrease or point past its values",
      );
    }
    prev = next;
  }
  return { start, end: prev, rows: plan.rows };
}
