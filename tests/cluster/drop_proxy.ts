/**
 * A loopback TCP proxy in front of the S3 endpoint that can lose one conditional record write, for tests
 * of the tier's unknown-outcome path:
 * - `"reply"`: forward the write to the store, then drop the connection instead of relaying the answer
 *   (the write landed, the client does not know);
 * - `"request"`: drop the connection without forwarding the write (it never landed).
 * Only PUTs of records (`/meta/` with If-Match or If-None-Match) are affected: the next `count` of them.
 * (Deno's HTTP client resends a request whose connection closed, so one loss alone may go unnoticed.)
 *
 * @module
 */

/** A running proxy. */
export interface DropProxy {
  endpoint: string;
  /** Lose the next `count` (default 1) conditional record writes in the given way. */
  arm(mode: "reply" | "request", count?: number): void;
  /** Stop losing writes. */
  disarm(): void;
  /** How many writes were lost so far. */
  dropped(): number;
  close(): Promise<void>;
}

const RECORD_WRITE = /^PUT \S*\/meta\/[^\r\n]*\r\n(?:[^\r\n]+\r\n)*?if-(?:none-)?match:/i;

/** Start a proxy on 127.0.0.1 in front of `upstream` (`http://127.0.0.1:PORT`). */
export function startDropProxy(upstream: string): DropProxy {
  const target = new URL(upstream);
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let armed: "reply" | "request" | undefined;
  let remaining = 0;
  let dropped = 0;
  const connections = new Set<Deno.Conn>();
  const tasks = new Set<Promise<void>>();

  const pipe = async (client: Deno.Conn) => {
    const server = await Deno.connect({ hostname: target.hostname, port: Number(target.port) });
    connections.add(client);
    connections.add(server);
    const close = () => {
      for (const c of [client, server]) {
        connections.delete(c);
        try {
          c.close();
        } catch { /* already closed */ }
      }
    };
    let swallowReply = false;
    const up = (async () => {
      const buffer = new Uint8Array(65536);
      while (true) {
        const n = await client.read(buffer).catch(() => null);
        if (n === null) break;
        const chunk = buffer.subarray(0, n);
        if (armed && RECORD_WRITE.test(new TextDecoder().decode(chunk.subarray(0, 2048)))) {
          const mode = armed;
          if (--remaining <= 0) armed = undefined;
          dropped++;
          if (mode === "request") break; // never forwarded
          swallowReply = true;
        }
        await server.write(chunk).catch(() => {});
      }
      close();
    })();
    const down = (async () => {
      const buffer = new Uint8Array(65536);
      while (true) {
        const n = await server.read(buffer).catch(() => null);
        if (n === null) break;
        if (swallowReply) break; // the store answered; the client never hears it
        await client.write(buffer.subarray(0, n)).catch(() => {});
      }
      close();
    })();
    await Promise.allSettled([up, down]);
  };

  const accepting = (async () => {
    for await (const conn of listener) {
      const task = pipe(conn).catch(() => {});
      tasks.add(task);
      task.finally(() => tasks.delete(task));
    }
  })();

  return {
    endpoint: `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    arm: (mode, count = 1) => {
      armed = mode;
      remaining = count;
    },
    disarm: () => (armed = undefined),
    dropped: () => dropped,
    async close() {
      listener.close();
      for (const c of connections) {
        try {
          c.close();
        } catch { /* already closed */ }
      }
      await accepting.catch(() => {});
      await Promise.allSettled([...tasks]);
    },
  };
}
