/**
 * The end of a graceful shutdown, after GOAWAY went out: wait for the open
 * streams and the writer, let the peer close first, then half-close and close.
 *
 * @module
 */
import type { ByteChannel } from "./channel.ts";

/** At shutdown, how long an idle connection waits for the peer to close it first. */
const SHUTDOWN_LINGER_MS = 2_000;
/** After our half-close, how long the peer has to close its side. */
const HALF_CLOSE_WAIT_MS = 500;

/** What the shutdown sequence needs of a connection. */
export interface Drainable {
  readonly closed: boolean;
  readonly done: Promise<void>;
  readonly channel: ByteChannel;
  whenIdle(): Promise<void>;
  finish(reason: string): void;
}

/** Drain `conn` and close it by `deadline` (epoch ms) at the latest. */
export async function drainThenClose(conn: Drainable, deadline: number): Promise<void> {
  const timeLeft = () => Math.max(0, deadline - Date.now());
  let timer: ReturnType<typeof setTimeout> | undefined;
  const sleep = (ms: number) => new Promise<void>((r) => (timer = setTimeout(r, Math.min(ms, timeLeft()))));
  await Promise.race([conn.whenIdle(), sleep(Infinity)]);
  clearTimeout(timer);
  // Everything is written. Let the peer close first: it has seen GOAWAY and
  // closes once it has read its replies. Ending the connection from our side
  // while it still holds unread bytes can make it drop the tail of a reply.
  if (!conn.closed) await Promise.race([conn.done, sleep(SHUTDOWN_LINGER_MS)]);
  clearTimeout(timer);
  if (!conn.closed) {
    await conn.channel.closeWrite();
    await Promise.race([conn.done, sleep(HALF_CLOSE_WAIT_MS)]);
  }
  clearTimeout(timer);
  conn.finish("server shut down");
}
