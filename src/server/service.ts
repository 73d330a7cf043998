/**
 * The Flight service `arrow.flight.protocol.FlightService`: every RPC of
 * Flight.proto, with Flame's object-cache semantics (see README, "Protocol").
 *
 * @module
 */
import { encodeSchemaForFlight, READ_SCHEMA_HEADER } from "../arrow/mod.ts";
import { CacheError, invalidArgument, Status, unimplemented } from "../errors.ts";
import type { GrpcCall, GrpcServer } from "../grpc/mod.ts";
import type { Store } from "../store/store.ts";
import type { ObjectBody, ObjectStat } from "../store/types.ts";
import {
  decodeAction,
  decodeBytesField,
  decodeDescriptor,
  decodeUtf8,
  encodeActionType,
  encodeBytesMessage,
  encodeFlightInfo,
  FLIGHT_SERVICE,
  type FlightDescriptor,
} from "../flight/messages.ts";
import { checkPart, newObjectKey, parseObjectKey, parsePutPath, parseSelector } from "../flight/keys.ts";
import { parseTicket } from "../flight/tickets.ts";
import { ListingEncoder } from "../flight/listing.ts";
import { encodeLegacyMetadata, encodeObjectRef } from "../flight/object_ref.ts";
import { readUpload, type Upload, uploadKey } from "./upload.ts";
import type { IncomingMessage } from "../grpc/mod.ts";
import { type Forwarder, sessionOf } from "../cluster/mod.ts";
import { discardStaged, type Stager } from "./payload.ts";
import { buildReply } from "./replies.ts";
import { log, logEnabled } from "../log.ts";
import { LargeMessage } from "../grpc/large_message.ts";
import { Authenticator, authorizeApp, mayAccess, type Principal } from "../auth/auth.ts";
import { decodeBasicAuth, decodeHandshakeRequest, encodeHandshakeResponse } from "../flight/messages.ts";

/** A Flight call: when authentication is on, the server's hook is the {@link Authenticator}'s. */
type FlightCall = GrpcCall<Principal>;

export { FLIGHT_SERVICE };

/** Settings the service needs. */
export interface ServiceOptions {
  /** Advertised endpoint URI (every ObjectRef and FlightInfo carries it). */
  endpoint: string;
  /** Largest object accepted. */
  maxObjectBytes: number;
  /** Set when authentication is on. */
  authenticator?: Authenticator;
  /** Stages large uploads on disk (disk storage only). */
  stager?: Stager;
  /** Cluster mode: relays a session's writes to the replica that owns the session. */
  forwarder?: Forwarder;
}

/** First key segment: the app (or the seed protocol's session), the unit of access scopes. */
function appOf(key: string): string {
  const slash = key.indexOf("/");
  return slash < 0 ? key : key.slice(0, slash);
}

const ACTIONS: [string, string][] = [
  ["DELETE", "Delete objects by key or prefix: 'app/session/object', 'app/session' or 'app/*'"],
  ["PUT", "Seed protocol: store '<session>:<base64 data>' as a new object; answers JSON metadata"],
  ["UPDATE", "Seed protocol: replace '<key>:<base64 data>'; answers JSON metadata"],
];

/** Listed in cluster mode only (the store keeps local copies of shared data). */
const FORGET_ACTION: [string, string] = [
  "FORGET",
  "Cluster: drop this replica's local copies under a key or prefix (peers send it after a delete)",
];

const OK = new TextEncoder().encode("OK");

/** Objects read from the store per step of a ListFlights reply. */
const LIST_PAGE = 1000;

/** Read the single request message of a unary or server-streaming call. */
async function single(call: FlightCall, what: string): Promise<Uint8Array> {
  let first: Uint8Array | undefined;
  for await (const m of call.messages()) {
    if (first) throw invalidArgument(`${what}: more than one request message`);
    first = m instanceof LargeMessage ? await m.readAll() : m;
  }
  if (!first) throw invalidArgument(`${what}: missing request message`);
  return first;
}

/** Implements Flight on top of a {@link Store}. */
export class FlightService {
  private listing?: ListingEncoder;

  constructor(private readonly store: Store, private readonly options: ServiceOptions) {}

  /** Cluster mode, once joined: relay each session's writes to its owner from now on. */
  forwardWith(forwarder: Forwarder | undefined): void {
    this.options.forwarder = forwarder;
  }

  /** Register every Flight method on `server`. */
  register(server: GrpcServer): void {
    const methods: Record<string, (call: FlightCall) => Promise<void>> = {
      Handshake: (c) => this.handshake(c),
      ListFlights: (c) => this.listFlights(c),
      GetFlightInfo: (c) => this.getFlightInfo(c),
      PollFlightInfo: () => Promise.reject(unimplemented("Poll flight info not implemented")),
      GetSchema: (c) => this.getSchema(c),
      DoGet: (c) => this.doGet(c),
      DoPut: (c) => this.doPut(c),
      DoExchange: () => Promise.reject(unimplemented("Do exchange not implemented")),
      DoAction: (c) => this.doAction(c),
      ListActions: (c) => this.listActions(c),
    };
    // The server's authenticate hook is the Authenticator's (see server.ts), so a principal is a Principal.
    for (const [name, fn] of Object.entries(methods)) {
      server.handle(FLIGHT_SERVICE + name, (c) => fn(c as FlightCall));
    }
  }

  private ref(stat: ObjectStat): Uint8Array {
    return encodeObjectRef({ endpoint: this.options.endpoint, key: stat.key, version: stat.version });
  }

  async doPut(call: FlightCall): Promise<void> {
    const incoming = call.messages()[Symbol.asyncIterator]();
    const first = await incoming.next();
    let messages = resumed([first], incoming);
    // Cluster mode: small writes to an existing key go to its session's owner. A put to a prefix makes a
    // new key, which no write can race and whose record needs no read, and a large body would cross the
    // network twice: both are written here, and this replica keeps the copy (docs/cluster.md, "Routing").
    const key = first.done || !this.options.forwarder ? undefined : uploadKey(first.value);
    if (key !== undefined) {
      const second = await incoming.next(); // the payload's first message: its size is known before its bytes
      messages = resumed([first, second], incoming);
      const large = [first, second].some((m) => !m.done && m.value instanceof LargeMessage);
      if (!large && await this.forwarded(call, "DoPut", key, messages)) return;
    }
    const upload = await readUpload(messages, {
      maxObjectBytes: this.options.maxObjectBytes,
      stager: this.options.stager,
    });
    let stat: ObjectStat;
    try {
      stat = await this.storeUpload(call, upload);
    } catch (err) {
      // A staged payload the store did not take (refused key, auth, tier or disk failure) must not
      // stay in the staging folder until the next start-up.
      if (upload.body.type === "staged") await discardStaged(upload.body);
      throw err;
    }
    if (logEnabled("debug")) log("debug", "put", { key: stat.key, version: stat.version, bytes: stat.size });
    await call.send([encodeBytesMessage(this.ref(stat))]);
  }

  /** Store a decoded upload: a patch, or a put to a key or to a prefix (the server picks the id). */
  private async storeUpload(call: FlightCall, upload: Upload): Promise<ObjectStat> {
    if (upload.patchKey !== undefined) {
      let key: string;
      try {
        key = parseObjectKey(upload.patchKey, true);
      } catch (err) {
        throw invalidArgument(`Invalid PATCH key '${upload.patchKey}': ${(err as Error).message}`);
      }
      if (upload.body.type !== "opaque") throw invalidArgument("Invalid PATCH: patches must be opaque");
      authorizeApp(call.principal, appOf(key), key);
      return await this.store.patch(key, upload.body.data, call.signal);
    }
    const d = upload.descriptor;
    if (d.path.length === 0) throw invalidArgument("key must be provided in descriptor path or command");
    const target = parsePutPath(d.path[0]);
    authorizeApp(call.principal, appOf(target.prefix), d.path[0]);
    if (target.key) return await this.store.put(target.key, upload.body, call.signal);
    return await this.store.put(newObjectKey(target.prefix), upload.body, call.signal, { fresh: true });
  }

  /**
   * Cluster mode: relay a write on `target` (a key, put prefix or selector) to its session's owner when
   * another replica owns it. True when the call was answered that way; false to serve it here.
   */
  private async forwarded(
    call: FlightCall,
    method: string,
    target: string,
    messages: AsyncIterator<IncomingMessage>,
  ): Promise<boolean> {
    const forwarder = this.options.forwarder;
    if (!forwarder) return false;
    authorizeApp(call.principal, appOf(target), target);
    const owner = forwarder.target(sessionOf(target), call.headers);
    return owner !== undefined && await forwarder.relay(call, method, owner, messages);
  }

  async doGet(call: FlightCall): Promise<void> {
    const ticket = parseTicket(decodeBytesField(await single(call, "DoGet"), 1, "Ticket"));
    authorizeApp(call.principal, appOf(ticket.key), ticket.key);
    const obj = await this.store.get(ticket.key);
    const reply = buildReply(obj, ticket.version);
    if (logEnabled("debug")) {
      log("debug", "get", { key: ticket.key, client: ticket.version, reply: reply.kind });
    }
    for (const m of reply.messages) await call.send(m);
  }

  async doAction(call: FlightCall): Promise<void> {
    const request = await single(call, "DoAction");
    const action = decodeAction(request);
    const body = decodeUtf8(action.body, "Invalid action body");
    switch (action.type) {
      case "DELETE": {
        const selector = parseSelector(body);
        authorizeApp(call.principal, appOf(selector.value), body);
        // A key or a session goes to the session's owner; a whole app spans owners and is served here.
        if (
          selector.value.includes("/") &&
          await this.forwarded(call, "DoAction", selector.value, only(request))
        ) return;
        const removed = await this.store.delete(selector);
        if (logEnabled("debug")) log("debug", "delete", { selector: body, removed });
        await call.send([encodeBytesMessage(OK)]);
        return;
      }
      case "FORGET": {
        // Cluster mode: a peer deleted these objects in the shared tier; drop this replica's copies.
        if (!this.store.forgetCopies) break;
        const selector = parseSelector(body);
        authorizeApp(call.principal, appOf(selector.value), body);
        await this.store.forgetCopies(selector);
        await call.send([encodeBytesMessage(OK)]);
        return;
      }
      case "PUT":
      case "UPDATE": {
        const colon = body.indexOf(":");
        if (colon < 0) throw invalidArgument(`Invalid ${action.type} body: expected '<key>:<base64 data>'`);
        const target = body.slice(0, colon);
        authorizeApp(call.principal, appOf(target), target);
        let key: string;
        if (action.type === "PUT") {
          checkPart(target, target);
          key = newObjectKey(target);
        } else {
          key = parseObjectKey(target);
        }
        if (action.type === "UPDATE" && await this.forwarded(call, "DoAction", target, only(request))) return;
        const data = decodeBase64(body.slice(colon + 1));
        const stat = await this.store.put(key, { type: "opaque", data } satisfies ObjectBody, call.signal, {
          fresh: action.type === "PUT",
        });
        const meta = encodeLegacyMetadata(
          { endpoint: this.options.endpoint, key, version: stat.version },
          stat.size,
        );
        await call.send([encodeBytesMessage(meta)]);
        return;
      }
    }
    throw invalidArgument(`Unknown action type: ${action.type}. Supported: DELETE, PUT, UPDATE.`);
  }

  /**
   * Flight Handshake. With auth on, trades credentials for a bearer token:
   * `authorization: Basic …` header (pyarrow's authenticate_basic_token; the
   * token comes back in the `authorization` response header) or a BasicAuth
   * payload (the token comes back in the response payload). Both are answered.
   */
  async handshake(call: FlightCall): Promise<void> {
    const auth = this.options.authenticator;
    if (!auth) {
      // Nothing to trade: answer each request with an empty response, so
      // clients that always handshake keep working.
      for await (const _ of call.messages()) await call.send([encodeHandshakeResponse(0, new Uint8Array(0))]);
      return;
    }
    const header = call.headers["authorization"];
    const basic = Authenticator.parseBasic(typeof header === "string" ? header : undefined);
    let token: string | undefined;
    if (basic) {
      token = auth.login(basic.username, basic.password, call.peer).token;
      call.setHeaders({ authorization: `Bearer ${token}` });
    }
    let answered = false;
    for await (const m of call.messages()) {
      const req = decodeHandshakeRequest(m instanceof LargeMessage ? await m.readAll() : m);
      if (req.payload.length > 0) {
        const creds = decodeBasicAuth(req.payload);
        if (creds.username !== "") token = auth.login(creds.username, creds.password, call.peer).token;
      }
      if (!token) throw new CacheError(Status.UNAUTHENTICATED, "Handshake needs Basic credentials");
      await call.send([encodeHandshakeResponse(req.protocolVersion, new TextEncoder().encode(token))]);
      answered = true;
    }
    if (!token) throw new CacheError(Status.UNAUTHENTICATED, "Handshake needs Basic credentials");
    if (!answered) await call.send([encodeHandshakeResponse(0, new TextEncoder().encode(token))]);
  }

  async listActions(call: FlightCall): Promise<void> {
    await single(call, "ListActions");
    const actions = this.store.forgetCopies ? [...ACTIONS, FORGET_ACTION] : ACTIONS;
    for (const [type, description] of actions) await call.send([encodeActionType(type, description)]);
  }

  async getFlightInfo(call: FlightCall): Promise<void> {
    const d = decodeDescriptor(await single(call, "GetFlightInfo"));
    if (d.path.length === 0) throw invalidArgument("Empty descriptor path");
    const key = d.path.join("/");
    const parts = key.split("/");
    if (parts.length > 3) throw invalidArgument(`Invalid key '${key}': expected '<app>/<session>/<object>'`);
    for (const p of parts) checkPart(p, key);
    authorizeApp(call.principal, appOf(key), key);
    // Like Flame, answer for keys not stored (yet): flamepy's local-storage mode
    // writes the file itself and asks only for the endpoint.
    const stat = parts.length >= 2 ? await this.store.stat(key) : null;
    const schema = stat ? await this.schemaOf(stat) : new Uint8Array(0);
    await call.send([encodeFlightInfo({
      schema,
      descriptor: { type: d.type, cmd: d.cmd, path: [key] },
      endpoints: [{ ticket: new TextEncoder().encode(key), locations: [this.options.endpoint] }],
      totalRecords: stat ? stat.rows + (stat.kind === "opaque" ? stat.deltaCount : 0) : -1,
      totalBytes: stat ? stat.size : -1,
      // The current version as an ObjectRef, for tools (Flame's clients ignore app_metadata).
      appMetadata: stat ? this.ref(stat) : undefined,
    })]);
  }

  async listFlights(call: FlightCall): Promise<void> {
    const prefix = decodeUtf8(decodeBytesField(await single(call, "ListFlights"), 1, "Criteria"), "Criteria");
    const sel = { value: listScope(prefix), exact: false };
    const readSchema = encodeSchemaForFlight(READ_SCHEMA_HEADER);
    const none = new Uint8Array(0);
    const encoder = (this.listing ??= new ListingEncoder(this.options.endpoint));
    // Read a page at a time and send it before reading the next: memory does not grow with the listing.
    // A store without pages (the shared tier, whose listing costs requests) is listed once and sent in pages.
    const store = this.store;
    const whole = store.listPage ? undefined : await store.list(sel);
    const page = (after: string | undefined, from: number) =>
      store.listPage
        ? store.listPage(sel, after, LIST_PAGE)
        : Promise.resolve(whole!.slice(from, from + LIST_PAGE));
    let after: string | undefined;
    for (let from = 0;; from += LIST_PAGE) {
      const stats = await page(after, from);
      const messages: Uint8Array[] = [];
      for (const stat of stats) {
        if (!stat.key.startsWith(prefix) || !mayAccess(call.principal, appOf(stat.key))) continue;
        messages.push(encoder.encode({
          key: stat.key,
          version: stat.version,
          schema: stat.kind === "opaque" ? readSchema : none,
          records: stat.rows + (stat.kind === "opaque" ? stat.deltaCount : 0),
          bytes: stat.size,
        }));
      }
      await call.sendMany(messages);
      if (stats.length < LIST_PAGE) return;
      after = stats[stats.length - 1].key;
    }
  }

  async getSchema(call: FlightCall): Promise<void> {
    const d: FlightDescriptor = decodeDescriptor(await single(call, "GetSchema"));
    let schema = encodeSchemaForFlight(READ_SCHEMA_HEADER);
    if (d.path.length > 0) {
      const key = d.path.join("/");
      const parts = key.split("/");
      if (parts.length === 3 || parts.length === 2) {
        for (const p of parts) checkPart(p, key);
        authorizeApp(call.principal, appOf(key), key);
        const stat = await this.store.stat(key);
        if (stat) schema = await this.schemaOf(stat);
      }
    }
    await call.send([encodeBytesMessage(schema)]);
  }

  /** IPC-encoded schema of what DoGet returns for this object. */
  private async schemaOf(stat: ObjectStat): Promise<Uint8Array> {
    if (stat.kind === "opaque") return encodeSchemaForFlight(READ_SCHEMA_HEADER);
    try {
      const obj = await this.store.get(stat.key);
      if (obj.body.type === "native") return encodeSchemaForFlight(obj.body.schemaHeader);
    } catch (err) {
      if (!(err instanceof CacheError) || err.code !== Status.NOT_FOUND) throw err;
    }
    return new Uint8Array(0);
  }
}

/**
 * What the store must list to cover a ListFlights prefix: its whole leading segments, at most
 * `app/session` ("" for everything). A store whose listing costs a request per object (the shared tier)
 * then reads only that app or session.
 */
function listScope(prefix: string): string {
  const whole = prefix.split("/").slice(0, -1).slice(0, 2);
  try {
    for (const part of whole) checkPart(part, prefix);
  } catch {
    return ""; // not a key prefix: nothing can match it anyway, the filter decides
  }
  return whole.join("/");
}

/** The request messages again, from those already read on: an iterator that is also iterable. */
async function* resumed(
  read: IteratorResult<IncomingMessage>[],
  rest: AsyncIterator<IncomingMessage>,
): AsyncGenerator<IncomingMessage> {
  for (const m of read) {
    if (m.done) return;
    yield m.value;
  }
  for (let next = await rest.next(); !next.done; next = await rest.next()) yield next.value;
}

/** A request of one message, as the messages of a call to relay. */
async function* only(message: Uint8Array): AsyncGenerator<IncomingMessage> {
  yield message;
}

/** Strict base64 (standard alphabet, padding optional). */
function decodeBase64(text: string): Uint8Array {
  const clean = text.trim();
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(clean)) throw invalidArgument("Invalid base64 data in action body");
  try {
    const bin = atob(clean);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  } catch {
    throw invalidArgument("Invalid base64 data in action body");
  }
}
