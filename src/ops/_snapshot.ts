/**
 * One consistent view of the server for `/metrics` and the status page:
 * transport counters, store usage, stored sizes per application and session
 * (from the index), limits and process memory.
 *
 * @module
 */
import type { StoreUsage } from "../store/store.ts";
import type { ObjectStat } from "../store/types.ts";
import type { TransportStats } from "../grpc/mod.ts";

/** Size of a group of objects (an application or a session). */
export interface GroupSize {
  name: string;
  bytes: number;
  objects: number;
}

/** Sums over the index. */
export interface StoredTotals {
  /** Sum of the payload sizes of every indexed object. */
  bytes: number;
  objects: number;
  /** Per application (first key part), largest first. */
  apps: GroupSize[];
  /** Per session (`app/session`), largest first. */
  sessions: GroupSize[];
}

/** Everything `/metrics` and the status page show. */
export interface OpsSnapshot {
  /** When it was taken, ms since the epoch. */
  time: number;
  version: string;
  /** Start time, ms since the epoch. */
  startTime: number;
  /** Storage engine: `fs` or `none`. */
  storage: string;
  /** Storage folder, for `fs`. */
  storageRoot?: string;
  /** Advertised endpoint. */
  endpoint: string;
  /** Flight listen address `host:port`. */
  listen: string;
  /** Health: `SERVING`, `NOT_SERVING` (starting or shutting down). */
  health: string;
  /** Why not serving: `starting`, `shutting down`, or `""`. */
  phase: string;
  serving: boolean;
  transport: TransportStats & { connections: number; inflight: number };
  /** Null until the store is open. */
  usage: StoreUsage | null;
  /** Null until the store is open. */
  stored: StoredTotals | null;
  limits: { policy: string; maxMemory: number; maxObjects: number; capacity?: number };
  process: { rss: number; heapUsed: number; external: number };
  /** gRPC calls finished since start. */
  calls: number;
}

/** Application and session of a key: `app/session/object`, or the seed's `session/object`. */
export function groupsOf(key: string): { app: string; session: string } {
  const parts = key.split("/");
  if (parts.length >= 3) return { app: parts[0], session: `${parts[0]}/${parts[1]}` };
  if (parts.length === 2) return { app: "(no app)", session: parts[0] };
  return { app: "(no app)", session: "(no session)" };
}

function sorted(groups: Map<string, GroupSize>): GroupSize[] {
  return [...groups.values()].sort((a, b) => b.bytes - a.bytes || a.name.localeCompare(b.name));
}

/** Sum object sizes from the index, in total and per application and session. */
export function aggregate(stats: readonly ObjectStat[]): StoredTotals {
  const apps = new Map<string, GroupSize>();
  const sessions = new Map<string, GroupSize>();
  let bytes = 0;
  const add = (map: Map<string, GroupSize>, name: string, size: number) => {
    let g = map.get(name);
    if (!g) map.set(name, g = { name, bytes: 0, objects: 0 });
    g.bytes += size;
    g.objects++;
  };
  for (const s of stats) {
    bytes += s.size;
    const { app, session } = groupsOf(s.key);
    add(apps, app, s.size);
    add(sessions, session, s.size);
  }
  return { bytes, objects: stats.length, apps: sorted(apps), sessions: sorted(sessions) };
}

/** {@link aggregate} from per-session totals (`name` = `app/session`, or the session of two-part keys). */
export function aggregateGroups(
  groups: readonly { name: string; objects: number; bytes: number }[],
): StoredTotals {
  const apps = new Map<string, GroupSize>();
  const sessions = new Map<string, GroupSize>();
  let bytes = 0;
  let objects = 0;
  const add = (map: Map<string, GroupSize>, name: string, g: { objects: number; bytes: number }) => {
    let t = map.get(name);
    if (!t) map.set(name, t = { name, bytes: 0, objects: 0 });
    t.bytes += g.bytes;
    t.objects += g.objects;
  };
  for (const g of groups) {
    bytes += g.bytes;
    objects += g.objects;
    // groupsOf of a key in this group: its parent is the session, its first part the app.
    const { app, session } = groupsOf(`${g.name}/x`);
    add(apps, app, g);
    add(sessions, session, g);
  }
  return { bytes, objects, apps: sorted(apps), sessions: sorted(sessions) };
}
