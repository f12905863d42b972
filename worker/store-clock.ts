// One time source for lease decisions across instances: the store's clock.
//
// Every instance raises a high-water mark in the store to its own clock on each heartbeat batch, claim and
// sweep, and reads it back. An instance whose clock runs behind the mark takes the difference as an offset
// (at most `maxAheadMs`), so every instance judges expiry by the fastest clock among them, within the time
// between two of that instance's writes. Without it, an instance ahead by S saw leases written by one
// behind lapse S early: with skew above TTL − heartbeat interval, tasks were lost while every heartbeat
// succeeded. An instance ahead of the others changes nothing for itself; when it stops writing, the
// offset of the others decays as their own clocks catch up with the mark.
//
// Expiry is compared in the store's terms everywhere: renewal writes `now + ttl`, loss needs `expiry < now`,
// both with `now` from this clock. The agent never compares expiry times: it fences itself by the time
// since its last answered heartbeat, on its own monotonic clock.
import type { Client } from "@libsql/client";
import { raiseStoreClock, storeClockOf } from "../db/queries/clock";
import type { Clock } from "./clock";

export class StoreClock implements Clock {
  private offset = 0;
  private observed = false;
  /** The latest reading handed out: a smaller offset never takes this clock below it. */
  private last = Number.NEGATIVE_INFINITY;

  constructor(
    /** This instance's own clock (injected; the system clock in production). */
    readonly local: Clock,
    /** The most this instance moves ahead of its own clock: clocks further ahead are not followed. */
    private readonly maxAheadMs: number,
  ) {}

  now(): number {
    const t = this.local.now() + this.offset;
    this.last = Math.max(this.last, t);
    return t;
  }

  /** Takes the store's clock as read by a batch that was sent when the local clock read `localAtSend`. */
  observe(storeClock: number | null, localAtSend: number): void {
    this.observed = true;
    if (storeClock === null || !Number.isFinite(storeClock)) return;
    // The mark stops moving when the instance that raised it stops writing: the offset then shrinks, but
    // never so far that this clock reads earlier than it already has (a deadline taken before the
    // observation must not move away). Only the local clock itself stepping back moves it back.
    const target = Math.min(this.maxAheadMs, Math.max(0, storeClock - localAtSend));
    this.offset = Math.max(target, Math.min(this.offset, this.last - this.local.now()));
  }

  /**
   * Before an instance's first decision: raises the store's clock to its own and reads it back, once (later
   * batches keep it current). Timestamps written before a faster instance first wrote are in the slower
   * clock's terms: for that instance they look older by the skew until they are written again.
   */
  async sync(client: Client): Promise<void> {
    if (this.observed) return;
    const local = this.local.now();
    this.observe(storeClockOf(await client.execute(raiseStoreClock(local))), local);
  }
}

/** Syncs `clock` with the store if it follows the store's clock (a no-op after the first time). */
export async function syncClock(clock: Clock, client: Client): Promise<void> {
  if (clock instanceof StoreClock) await clock.sync(client);
}
