/**
 * A cluster member in its own process, for the SIGSTOP test: joins, then prints one JSON line per
 * membership event, with whether it considers its lease fresh at that moment. Stops on SIGTERM (leaving
 * gracefully). Usage: `member_child.ts ETCD_URL CLUSTER ID TTL_SECONDS`.
 */
import { EtcdClient } from "../../src/cluster/etcd.ts";
import { Membership } from "../../src/cluster/membership.ts";

const [endpoint, cluster, id, ttl] = Deno.args;
const membership = await Membership.join({
  client: new EtcdClient({ endpoints: [endpoint], timeoutMs: 1000 }),
  cluster,
  id,
  endpoint: `grpc://127.0.0.1:1/${id}`,
  ttlSeconds: Number(ttl),
});
const say = (line: Record<string, unknown>) => console.log(JSON.stringify(line));
say({ event: "joined", lease: membership.lease, fresh: membership.isFresh() });
membership.onChange((event) => {
  if (event.type === "members") say({ event: "members", ids: event.members.map((m) => m.id) });
  else if (event.type === "error") say({ event: "error", message: event.error.message });
  else say({ ...event, event: event.type, fresh: membership.isFresh() });
});
Deno.addSignalListener("SIGTERM", async () => {
  await membership.leave();
  Deno.exit(0);
});
