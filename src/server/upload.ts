/**
 * Decoding a DoPut stream into what to store: the target (from the first
 * descriptor) and an opaque payload or a native table. Every IPC message is
 * validated by our own checks before anything reads its buffers.
 *
 * Opaque payloads are collected by a {@link PayloadBuilder}: in memory while
 * small, in a staging file on disk once large (when the engine can stage), and
 * an object sent as one huge gRPC message is streamed out of the message
 * instead of buffered ({@link readLargeFlightData}).
 *
 * @module
 */
import {
  type BatchInfo,
  dictionarySchema,
  IpcError,
  isNativeSchema,
  isOpaqueSchema,
  opaqueRows,
  parseMessage,
  type SchemaInfo,
  validateRecordBatch,
} from "../arrow/mod.ts";
import { CacheError, invalidArgument, Status } from "../errors.ts";
import type { IncomingMessage } from "../grpc/mod.ts";
import { LargeMessage } from "../grpc/large_message.ts";
import type { IpcPart, NativeBody, ObjectBody, StagedPayload } from "../store/types.ts";
import { decodeFlightData, decodeUtf8, type FlightDescriptor } from "../flight/messages.ts";
import { parseObjectKey, parsePutPath } from "../flight/keys.ts";
import { PayloadBuilder, type Stager } from "./payload.ts";
import { readLargeFlightData } from "./large_upload.ts";

/** A decoded upload. */
export interface Upload {
  descriptor: FlightDescriptor;
  /** Set for `PATCH:<key>` commands. */
  patchKey?: string;
  body: ObjectBody | StagedPayload;
}

/** Limits and helpers applied while decoding. */
export interface UploadOptions {
  maxObjectBytes: number;
  /** Where large opaque payloads are staged (disk engines only). */
  stager?: Stager;
}

const PATCH_PREFIX = "PATCH:";

/** Run an IPC check, turning its errors into INVALID_ARGUMENT. */
function ipc<T>(what: string, f: () => T): T {
  try {
    return f();
  } catch (err) {
    if (err instanceof IpcError) throw invalidArgument(`${what}: ${err.message}`);
    throw err;
  }
}

/** Read a whole DoPut request stream. */
export async function readUpload(
  messages: AsyncIterable<IncomingMessage>,
  options: UploadOptions,
): Promise<Upload> {
  let payload: PayloadBuilder | undefined;
  try {
    const state = new UploadState(options);
    for await (const incoming of messages) {
      let message: Uint8Array;
      if (incoming instanceof LargeMessage) {
        payload ??= state.payload();
        const opaque = state.schema && !state.native ? state.schema : undefined;
        const large = await readLargeFlightData(
          incoming,
          opaque,
          (piece) => state.addPayload(piece),
          (bytes) => state.payload().expect(bytes, (n) => incoming.reserveMemory(n)),
          (d) => state.noteDescriptor(d),
        );
        if (large.streamed) {
          state.noteDescriptor(large.fd.descriptor);
          state.batches++;
          state.rows += large.rows;
          continue;
        }
        message = large.message;
      } else {
        message = incoming;
      }
      const fd = decodeFlightData(message);
      state.noteDescriptor(fd.descriptor);
      if (fd.dataHeader.length === 0) continue; // metadata-only message
      payload ??= state.payload();
      await state.add(fd.dataHeader, fd.dataBody);
    }
    payload ??= state.payload();
    return await state.finish();
  } catch (err) {
    await payload?.abort();
    throw err;
  }
}

/** What has been received so far. */
class UploadState {
  descriptor?: FlightDescriptor;
  schema?: SchemaInfo;
  schemaHeader?: Uint8Array;
  native = false;
  batches = 0;
  rows = 0;
  private builder?: PayloadBuilder;
  private readonly parts: IpcPart[] = [];
  private nativeRows = 0;
  private nativeBytes = 0;

  constructor(private readonly options: UploadOptions) {}

  noteDescriptor(d: FlightDescriptor | undefined): void {
    if (!this.descriptor && d) this.descriptor = d;
  }

  /** The payload builder; patches stay in memory (they are small and appended whole). */
  payload(): PayloadBuilder {
    const isPatch = this.descriptor ? patchTarget(this.descriptor) !== undefined : false;
    this.builder ??= new PayloadBuilder(isPatch ? undefined : this.options.stager, () => this.target());
    return this.builder;
  }

  /** What the upload is for, as the client named it (key, prefix or PATCH command), for error messages. */
  target(): string {
    const d = this.descriptor;
    if (!d) return "(no descriptor yet)";
    if (d.path.length > 0) return d.path.join("/");
    return decodeUtf8(d.cmd, "Descriptor command");
  }

  async addPayload(piece: Uint8Array): Promise<void> {
    const builder = this.payload();
    if (builder.length + piece.length > this.options.maxObjectBytes) {
      throw this.tooLarge(builder.length + piece.length);
    }
    await builder.add(piece);
  }

  /** One IPC message (not streamed). */
  async add(header: Uint8Array, body: Uint8Array): Promise<void> {
    const msg = ipc("Invalid IPC message", () => parseMessage(header));
    if (msg.kind === "schema") {
      if (this.schema) throw invalidArgument("Invalid upload: more than one schema message");
      const schema = msg.schema;
      this.schema = schema;
      this.schemaHeader = header.slice();
      this.native = isNativeSchema(schema);
      if (!this.native && !isOpaqueSchema(schema)) {
        const got = schema.fields.map((f) => `${f.name}: ${f.typeName}`).join(", ");
        throw invalidArgument(
          `Invalid upload schema: expected columns {version: UInt64, data: Binary} or a table tagged ` +
            `flame.cache.format=arrow-table-v1, got (${got})`,
        );
      }
      return;
    }
    const schema = this.schema;
    if (!schema) throw invalidArgument("Invalid upload: record batch before schema");
    if (body.length < msg.bodyLength) {
      throw invalidArgument(
        `Invalid IPC message: body has ${body.length} bytes, header says ${msg.bodyLength}`,
      );
    }
    const batch: BatchInfo = msg.batch;
    // A dictionary batch is a one-column batch of its dictionary's value type.
    const against = msg.kind === "dictionaryBatch"
      ? ipc("Invalid dictionary batch", () => dictionarySchema(schema, msg.id))
      : schema;
    ipc("Invalid record batch", () => validateRecordBatch(against, batch, body));
    if (this.native) {
      this.nativeBytes += body.length;
      if (this.nativeBytes > this.options.maxObjectBytes) throw this.tooLarge(this.nativeBytes);
      this.parts.push({ header, body, isDictionary: msg.kind === "dictionaryBatch" });
      if (msg.kind === "recordBatch") {
        this.nativeRows += batch.length;
        this.batches++;
      }
      return;
    }
    if (msg.kind !== "recordBatch") {
      throw invalidArgument("Invalid upload: dictionary batch in an opaque object");
    }
    this.batches++;
    const rows = ipc(
      "Invalid record batch",
      () => opaqueRows(schema, batch, body, this.options.maxObjectBytes),
    );
    this.rows += rows.length;
    for (const row of rows) await this.addPayload(row);
  }

  async finish(): Promise<Upload> {
    const descriptor = this.descriptor;
    if (!descriptor) throw invalidArgument("key must be provided in descriptor path or command");
    if (this.batches === 0 && !this.schema) throw invalidArgument("No data received");
    const patchKey = patchTarget(descriptor);
    if (this.native) {
      if (patchKey) throw invalidArgument("Invalid PATCH: patches must be opaque {version, data} rows");
      const body: NativeBody = {
        type: "native",
        schemaHeader: this.schemaHeader!,
        messages: this.parts,
        rows: this.nativeRows,
      };
      return { descriptor, body };
    }
    if (this.batches === 0) throw invalidArgument("No data received");
    if (this.rows === 0) throw invalidArgument("Expected at least one row");
    const result = await this.payload().finish();
    const body = result.type === "memory" ? { type: "opaque" as const, data: result.data } : result.staged;
    return { descriptor, patchKey, body };
  }

  private tooLarge(bytes: number): CacheError {
    return new CacheError(
      Status.RESOURCE_EXHAUSTED,
      `object larger than the server limit of ${this.options.maxObjectBytes} bytes (received ${bytes} so far)`,
    );
  }
}

/**
 * The existing key a DoPut writes, from its first message (read before the rest arrives, to route the
 * call): the key of a patch or of a put that names its object. Undefined for a put to a prefix (the server
 * picks a new id), and when the message names nothing usable (the upload itself then reports why).
 */
export function uploadKey(first: IncomingMessage): string | undefined {
  if (first instanceof LargeMessage) return undefined;
  try {
    const d = decodeFlightData(first).descriptor;
    if (!d) return undefined;
    const patchKey = patchTarget(d);
    if (patchKey !== undefined) return parseObjectKey(patchKey, true);
    if (d.path.length === 0) return undefined;
    return parsePutPath(d.path[0]).key;
  } catch {
    return undefined;
  }
}

/** The key of a `PATCH:<key>` command, if the descriptor is one. */
function patchTarget(d: FlightDescriptor): string | undefined {
  if (d.cmd.length === 0) return undefined;
  const cmd = decodeUtf8(d.cmd, "Descriptor command");
  return cmd.startsWith(PATCH_PREFIX) ? cmd.slice(PATCH_PREFIX.length) : undefined;
}
