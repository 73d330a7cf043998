/**
 * A filled-in ops snapshot for the metrics and status page tests.
 *
 * @module
 */
import { aggregate, type OpsSnapshot } from "../../src/ops/_snapshot.ts";
import type { ObjectStat } from "../../src/store/types.ts";

/** A snapshot of a serving fs store with 3 objects; `over` replaces fields. */
export function opsSnapshot(over: Partial<OpsSnapshot> = {}): OpsSnapshot {
  return {
    time: 1_700_000_100_000,
    version: "0.1.0",
    startTime: 1_700_000_000_000,
    storage: "fs",
    storageRoot: "/var/lib/flame/cache",
    endpoint: "grpc://10.0.0.1:9090",
    listen: "0.0.0.0:9090",
    health: "SERVING",
    phase: "",
    serving: true,
    transport: {
      bytesIn: 100,
      bytesOut: 2000,
      connectionsAccepted: 3,
      connectionsRefused: 1,
      connections: 2,
      inflight: 1,
    },
    usage: {
      residentBytes: 1234,
      residentObjects: 2,
      objects: 3,
      counters: { hits: 5, misses: 1, loads: 2, evictions: 1, puts: 3, patches: 1, deletes: 0 },
    },
    stored: aggregate([stat("a/s1/o1", 100), stat("a/s1/o2", 50), stat("b/s2/o3", 7)]),
    limits: { policy: "lru", maxMemory: 1 << 30, maxObjects: Infinity, capacity: 10 << 30 },
    process: { rss: 1 << 20, heapUsed: 1 << 19, external: 1 << 18 },
    calls: 4,
    ...over,
  };
}

/** The index entry of an opaque object of `size` bytes. */
export function stat(key: string, size: number): ObjectStat {
  return { key, size, version: 1, baseVersion: 1, deltaCount: 0, kind: "opaque", rows: 1, modified: 0 };
}
