// One time source for lease decisions across instances: the store's clock.
//
// Every instance raises a high-water mark in the store to its own reading of this clock on each heartbeat
// batch (at most once a second), claim and sweep, and reads it back. An instance behind the mark takes the
// difference as an offset (at most `maxAheadMs`), so every instance judges expiry by the fastest clock
// among them, within the time between two of that instance's writes. Without it, an instance ahead by S saw
// leases written by one behind lapse S early: with skew above TTL − heartbeat interval, tasks were lost
// while every heartbeat succeeded.
//
// An instance publishes its offset clock, not its own: when the fastest instance stops, the others carry
// its timeline on together, and one that starts later joins it, instead of each falling back to its own
// clock at a different time. The offset grows by at most a tenth of `maxAheadMs` per observation after the
// first (a sudden jump would shorten, in this instance's eyes, every lease it renewed before), and never
// shrinks so far that this clock reads earlier than it already has.
//
// Expiry is compared in the store's terms everywhere: renewal writes `now + ttl`, loss needs `expiry < now`,
// both with `now` from this clock. The agent never compares expiry times: it fences itself by the time
// since its last answered heartbeat, on its own monotonic clock.
import type { Client, InStatement, ResultSet } from "@libsql/client";
import { raiseStoreClock, readStoreClock, storeClockOf } from "../db/queries/clock";
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
    const first = !this.observed;
    this.observed = true;
    if (storeClock === null || !Number.isFinite(storeClock)) return;
    const target = Math.min(this.maxAheadMs, Math.max(0, storeClock - localAtSend));
    if (target > this.offset) {
      this.offset = first ? target : Math.min(target, this.offset + this.maxAheadMs / 10);
      return;
    }
    // Never so far back that this clock reads earlier than it already has (a deadline taken before the
    // observation must not move away). Only the local clock itself stepping back moves it back.
    this.offset = Math.max(target, Math.min(this.offset, this.last - this.local.now()));
  }

  /** What this instance publishes as its reading for the store's mark (see the header). */
  published(localAtSend: number): number {
    return localAtSend + this.offset;
  }

  /**
   * A statement for a batch that raises the store's mark to this clock (or, `readOnly`, only reads it), and
   * the function that takes the batch's result for it.
   */
  inBatch(readOnly = false): { statement: InStatement; take: (result: ResultSet | undefined) => void } {
    const local = this.local.now();
    return {
      statement: readOnly ? readStoreClock : raiseStoreClock(this.published(local)),
      take: (result) => this.observe(storeClockOf(result), local),
    };
  }

  /**
   * Before an instance's first decision: raises the store's clock to its own and reads it back, once (later
   * batches keep it current). Timestamps written before a faster instance first wrote are in the slower
   * clock's terms: for that instance they look older by the skew until they are written again.
   */
  async sync(client: Client): Promise<void> {
    if (this.observed) return;
    const { statement, take } = this.inBatch();
    take(await client.execute(statement));
  }
}
