/**
 * Streaming a DoGet reply into a sink without holding the object: Flame's
 * servers send a whole object as ONE gRPC message, so large messages are taken
 * apart while they arrive. The FlightData protobuf prefix (descriptor, IPC
 * header, body tag) is parsed from the first bytes; for an uncompressed one-row
 * `{version, kind, data}` batch the small buffers before the data are read and
 * checked, then the data bytes go straight to the sink. Native tables are
 * written as an Arrow IPC stream, message bodies passed through as they come.
 * Anything else (e.g. ZSTD bodies) is buffered per message and decoded
 * normally.
 *
 * @module
 */
import { EOS_MARKER } from "../arrow/encode.ts";
import {
  type BatchInfo,
  frameMessage,
  type IpcMessage,
  isNativeSchema,
  parseMessage,
  type SchemaInfo,
  validateRecordBatch,
} from "../arrow/mod.ts";
import { badReply, CacheClientError, Status } from "./errors.ts";
import { ByteBuffer } from "../bytes.ts";
import { readVarint } from "../flight/protobuf.ts";
import { decodeFlightDataReply } from "./flight.ts";
import type { MessageEvent } from "../grpc/mod.ts";
import { type ReplyRow, replyRows, type RowLayout, rowLayout } from "./rows.ts";
import { nativeVersion } from "./reply.ts";

/** Where the object's bytes go. */
export interface ByteSink {
  /** Take `data` (a view valid only until the promise settles); awaited for backpressure. */
  write(data: Uint8Array): Promise<void>;
}

/** Outcome of a streamed reply. */
export interface StreamedObject {
  /** Opaque bytes, or a native table written as an Arrow IPC stream. */
  kind: "opaque" | "native";
  /** The object's version. */
  version: number;
  /** Bytes written to the sink. */
  bytes: number;
}

/** Options of {@link streamReply}. */
export interface StreamReplyOptions {
  /** Called as data is written: bytes so far and, when known, the total. */
  onProgress?: (bytes: number, total?: number) => void;
  /** Cap on decompressed buffers (buffered path). */
  maxBytes?: number;
}

/** Messages above this size are taken apart while they arrive. */
export const STREAM_ABOVE = 1024 * 1024;
/** Largest FlightData prefix (descriptor + IPC header) or row prefix accepted while streaming. */
const MAX_HEAD = 16 * 1024 * 1024;

/** A varint of a reply prefix; an overlong one is a malformed reply. */
function varint(buf: Uint8Array, pos: number, end: number): [number, number] | null {
  try {
    return readVarint(buf, pos, end);
  } catch {
    throw badReply("FlightData varint longer than 10 bytes");
  }
}

/** How the body of the current large message is handled. */
type BodyMode =
  | { type: "skip" }
  | { type: "buffer"; body: Uint8Array; fill: number }
  | { type: "native"; framed: boolean }
  | { type: "row"; plan: RowPlan; prefix: ByteBuffer; pos: number; start: number; end: number };

/** Where the pieces of a one-row batch are, and what the prefix must contain. */
interface RowPlan {
  /** Body offset where the data values buffer starts (everything before is read). */
  valuesOffset: number;
  valuesLength: number;
  batch: BatchInfo;
}

/** Consumes reply events and writes the object to a sink. */
class ReplyStreamer {
  private schema: SchemaInfo | undefined;
  private layout: RowLayout | null = null;
  private native = false;
  private version = 0;
  private bytes = 0;
  private batches = 0;
  private sawBase = false;
  private total: number | undefined;
  // Large-message state.
  private head: ByteBuffer | null = null;
  private header: Uint8Array | undefined;
  private msg: IpcMessage | undefined;
  private bodyLeft = -1;
  private mode: BodyMode | null = null;

  constructor(private readonly sink: ByteSink, private readonly options: StreamReplyOptions) {}

  async event(e: MessageEvent): Promise<void> {
    switch (e.type) {
      case "message": {
        const fd = decodeFlightDataReply(e.data);
        if (fd.dataHeader.length === 0) return;
        const msg = this.parse(fd.dataHeader);
        await this.wholeMessage(fd.dataHeader, msg, fd.dataBody);
        return;
      }
      case "begin":
        this.head = new ByteBuffer();
        this.header = undefined;
        this.msg = undefined;
        this.bodyLeft = -1;
        this.mode = null;
        return;
      case "chunk":
        await this.chunk(e.data);
        return;
      case "end":
        if (this.bodyLeft > 0) throw badReply("FlightData message ended inside its body");
        if (this.bodyLeft < 0 && this.head && this.parseHead() === -1) {
          throw badReply("FlightData message ended inside a field");
        }
        await this.endMessage();
        this.head = null;
        this.mode = null;
        return;
    }
  }

  finish(): StreamedObject {
    if (!this.schema) throw badReply("no schema message");
    if (!this.native && !this.sawBase) {
      throw new CacheClientError(Status.INTERNAL, "the server sent no base row for a full read");
    }
    return { kind: this.native ? "native" : "opaque", version: this.version, bytes: this.bytes };
  }

  /** Finish a large message whose body was empty or absent. */
  private async endMessage(): Promise<void> {
    const mode = this.mode;
    if (!this.header || !this.msg) return; // metadata-only message
    if (this.bodyLeft < 0 || mode?.type === "skip") {
      await this.wholeMessage(this.header, this.msg, new Uint8Array(0));
    } else if (mode?.type === "buffer" && mode.body.length === 0) {
      await this.wholeMessage(this.header, this.msg, mode.body);
    } else if (mode?.type === "native" && !mode.framed) {
      await this.out(frameMessage(this.header));
    }
  }

  private parse(header: Uint8Array): IpcMessage {
    try {
      return parseMessage(header);
    } catch (err) {
      throw badReply("IPC message header", err);
    }
  }

  private async out(data: Uint8Array): Promise<void> {
    if (data.length === 0) return;
    await this.sink.write(data);
    this.bytes += data.length;
    this.options.onProgress?.(this.bytes, this.total);
  }

  /** Handle a complete message (small, or buffered). */
  private async wholeMessage(header: Uint8Array, msg: IpcMessage, body: Uint8Array): Promise<void> {
    if (msg.kind === "schema") return await this.onSchema(header, msg.schema);
    const schema = this.requireSchema();
    if (this.native) {
      if (msg.bodyLength !== body.length) throw badReply("native batch body length");
      await this.out(frameMessage(header));
      await this.out(body);
      return;
    }
    let rows: ReplyRow[];
    try {
      if (msg.kind !== "recordBatch") throw new Error("dictionary batch in a row reply");
      validateRecordBatch(schema, msg.batch, body);
      rows = replyRows(
        this.layout!,
        schema,
        msg.batch,
        body,
        this.options.maxBytes ?? 2 ** 31,
        this.batches++ === 0 ? "base" : "patch",
      );
    } catch (err) {
      throw badReply("record batch", err);
    }
    for (const r of rows) {
      this.checkRow(r.version, r.kind);
      this.total = this.bytes + r.data.length;
      await this.out(r.data);
    }
  }

  private requireSchema(): SchemaInfo {
    if (!this.schema) throw badReply("record batch before the schema");
    return this.schema;
  }

  private async onSchema(header: Uint8Array, schema: SchemaInfo): Promise<void> {
    if (this.schema) throw badReply("more than one schema message");
    this.schema = schema;
    this.native = isNativeSchema(schema);
    if (this.native) {
      this.version = nativeVersion(schema);
      await this.out(frameMessage(header));
      return;
    }
    this.layout = rowLayout(schema);
    if (!this.layout) throw badReply("unexpected reply schema");
  }

  /** Refuse patch rows: a file is the base object only (like flamepy and flame-rs downloads). */
  private checkRow(version: number, kind: "base" | "patch"): void {
    if (kind === "patch" || this.sawBase) {
      throw new CacheClientError(
        Status.FAILED_PRECONDITION,
        "the object has patches; download writes whole objects only (use getObject to read base and patches)",
      );
    }
    this.sawBase = true;
    this.version = version;
  }

  private async chunk(data: Uint8Array): Promise<void> {
    let pos = 0;
    while (pos < data.length) {
      if (this.bodyLeft < 0) {
        // Still reading the FlightData prefix.
        const take = Math.min(data.length - pos, MAX_HEAD);
        this.head!.push(data.subarray(pos, pos + take));
        pos += take;
        const consumed = this.parseHead();
        if (consumed < 0) {
          if (this.head!.length > MAX_HEAD) throw badReply("FlightData prefix too large");
          continue;
        }
        // Bytes after the body tag already received belong to the body.
        const extra = this.head!.view().subarray(consumed);
        this.head = null;
        const inBody = extra.subarray(0, Math.min(extra.length, this.bodyLeft));
        if (inBody.length > 0) await this.body(inBody);
        continue;
      }
      if (this.bodyLeft === 0) {
        // Fields after the body: ignored (app_metadata), must fit the message.
        return;
      }
      const take = Math.min(data.length - pos, this.bodyLeft);
      await this.body(data.subarray(pos, pos + take));
      pos += take;
    }
  }

  /**
   * Parse the prefix: returns the offset where the body starts, -1 when the bytes
   * stop inside a field, -2 when they stop between fields (no body yet).
   */
  private parseHead(): number {
    const buf = this.head!.view();
    let pos = 0;
    while (pos < buf.length) {
      const tag = varint(buf, pos, buf.length);
      if (!tag) return -1;
      const field = Math.floor(tag[0] / 8);
      const wire = tag[0] % 8;
      let p = tag[1];
      if (wire === 0) {
        const v = varint(buf, p, buf.length);
        if (!v) return -1;
        pos = v[1];
        continue;
      }
      if (wire !== 2) throw badReply(`FlightData field ${field} has wire type ${wire}`);
      const len = varint(buf, p, buf.length);
      if (!len) return -1;
      p = len[1];
      if (field === 1000) {
        if (!this.header) throw badReply("FlightData body before its header");
        this.startBody(len[0]);
        return p;
      }
      if (p + len[0] > buf.length) return -1;
      if (field === 2) {
        this.header = buf.slice(p, p + len[0]);
        this.msg = this.parse(this.header);
      }
      pos = p + len[0];
    }
    return -2;
  }

  private startBody(length: number): void {
    const msg = this.msg!;
    this.bodyLeft = length;
    if (msg.kind === "schema") {
      this.mode = { type: "skip" };
      return;
    }
    if (msg.bodyLength !== length) throw badReply("IPC body length differs from its header");
    this.requireSchema();
    if (this.native) {
      this.mode = { type: "native", framed: false };
      return;
    }
    const plan = msg.kind === "recordBatch" ? this.rowPlan(msg.batch, length) : null;
    if (plan) {
      this.mode = { type: "row", plan, prefix: new ByteBuffer(), pos: 0, start: -1, end: -1 };
    } else {
      this.mode = { type: "buffer", body: new Uint8Array(length), fill: 0 };
    }
  }

  /** Can this batch's data be streamed? Needs a one-row, uncompressed, null-free batch, data last. */
  private rowPlan(batch: BatchInfo, bodyLength: number): RowPlan | null {
    const l = this.layout!;
    if (batch.compression !== "none" || batch.length !== 1) return null;
    if (batch.nodes.some((n) => n.nullCount !== 0 || n.length !== 1)) return null;
    if (batch.buffers.some((b) => b.offset > bodyLength || b.length > bodyLength - b.offset)) {
      throw badReply("record batch buffer outside its body");
    }
    const values = batch.buffers[l.firstBuffer[l.data] + 2];
    if (!values) return null;
    const before = [l.firstBuffer[l.version] + 1, l.firstBuffer[l.data] + 1];
    if (l.kind >= 0) before.push(l.firstBuffer[l.kind] + 1, l.firstBuffer[l.kind] + 2);
    for (const i of before) {
      const b = batch.buffers[i];
      if (!b || b.offset + b.length > values.offset) return null;
    }
    if (values.offset > MAX_HEAD) return null;
    return { valuesOffset: values.offset, valuesLength: values.length, batch };
  }

  private async body(data: Uint8Array): Promise<void> {
    this.bodyLeft -= data.length;
    if (this.bodyLeft < 0) throw badReply("FlightData body overflow");
    const mode = this.mode!;
    switch (mode.type) {
      case "skip":
        break;
      case "native":
        if (!mode.framed) {
          mode.framed = true;
          await this.out(frameMessage(this.header!));
        }
        await this.out(data);
        break;
      case "buffer":
        mode.body.set(data, mode.fill);
        mode.fill += data.length;
        if (this.bodyLeft === 0) await this.wholeMessage(this.header!, this.msg!, mode.body);
        break;
      case "row":
        await this.rowBytes(mode, data);
        break;
    }
  }

  private async rowBytes(mode: Extract<BodyMode, { type: "row" }>, data: Uint8Array): Promise<void> {
    let off = 0;
    if (mode.pos < mode.plan.valuesOffset) {
      const take = Math.min(data.length, mode.plan.valuesOffset - mode.pos);
      mode.prefix.push(data.subarray(0, take));
      mode.pos += take;
      off = take;
      if (mode.pos === mode.plan.valuesOffset) this.readRowPrefix(mode);
    }
    if (off >= data.length) return;
    // Body positions [mode.pos, mode.pos + rest) relative to the values buffer.
    const rest = data.subarray(off);
    const at = mode.pos - mode.plan.valuesOffset;
    const from = Math.max(mode.start, at);
    const to = Math.min(mode.end, at + rest.length);
    if (to > from) await this.out(rest.subarray(from - at, to - at));
    mode.pos += rest.length;
  }

  /** Read version, kind and data offsets from the bytes before the values buffer. */
  private readRowPrefix(mode: Extract<BodyMode, { type: "row" }>): void {
    const l = this.layout!;
    const prefix = mode.prefix.view();
    const b = mode.plan.batch.buffers;
    const dv = new DataView(prefix.buffer, prefix.byteOffset, prefix.byteLength);
    const vbuf = b[l.firstBuffer[l.version] + 1];
    if (vbuf.length < 8) throw badReply("version buffer too short");
    const version = dv.getBigUint64(vbuf.offset, true);
    if (version > BigInt(Number.MAX_SAFE_INTEGER)) throw badReply("row version beyond 2^53");
    const wide = (i: number) => l.fields[i].typeName === "LargeBinary";
    const offsets = (col: number): [number, number] => {
      const ob = b[l.firstBuffer[col] + 1];
      const w = wide(col) ? 8 : 4;
      if (ob.length < 2 * w) throw badReply("offsets buffer too short");
      const o0 = w === 4 ? dv.getInt32(ob.offset, true) : Number(dv.getBigInt64(ob.offset, true));
      const o1 = w === 4 ? dv.getInt32(ob.offset + w, true) : Number(dv.getBigInt64(ob.offset + w, true));
      return [o0, o1];
    };
    let kind: "base" | "patch" = this.batches === 0 ? "base" : "patch";
    if (l.kind >= 0) {
      const [k0, k1] = offsets(l.kind);
      const kb = b[l.firstBuffer[l.kind] + 2];
      if (k0 < 0 || k1 < k0 || k1 > kb.length) throw badReply("kind offsets outside their values");
      const text = new TextDecoder().decode(prefix.subarray(kb.offset + k0, kb.offset + k1));
      if (text !== "base" && text !== "patch") throw badReply(`unknown row kind '${text}'`);
      kind = text;
    }
    this.batches++;
    const [d0, d1] = offsets(l.data);
    if (d0 < 0 || d1 < d0 || d1 > mode.plan.valuesLength) throw badReply("data offsets outside their values");
    this.checkRow(Number(version), kind);
    mode.start = d0;
    mode.end = d1;
    this.total = this.bytes + (d1 - d0);
  }
}

/**
 * Read a DoGet reply from `events` (set the call to stream messages above
 * {@link STREAM_ABOVE}) and write the object to `sink`: an opaque object's base
 * bytes (patch rows are refused with FAILED_PRECONDITION), or a native table as
 * an Arrow IPC stream.
 */
export async function streamReply(
  events: AsyncIterable<MessageEvent>,
  sink: ByteSink,
  options: StreamReplyOptions = {},
): Promise<StreamedObject> {
  const s = new ReplyStreamer(sink, options);
  for await (const e of events) await s.event(e);
  const result = s.finish();
  if (result.kind === "native") {
    await sink.write(EOS_MARKER);
    result.bytes += EOS_MARKER.length;
  }
  return result;
}
