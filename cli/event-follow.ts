// Following the fleet's events from the CLI: a stream that survives its own end (the control plane closes
// each one after its lifetime) and lost connections, resuming after the last id it saw; and a waker, for
// commands that re-read a job or deployment when something happens to it instead of every 500 ms.
import type { FleetEvent } from "../api/events";
import { ApiError, ConnectionError, type ControlPlaneClient, type EventQuery } from "./client";
import { sleepUnlessAborted } from "./io";
import { sseMessages } from "./sse";

export interface FollowEventsOptions {
  /** Resume after this event id; null: from now. */
  after: number | null;
  signal?: AbortSignal;
  /** Told each time the stream is lost and about to be opened again, with why. */
  onRetry?: (why: string, delayMs: number) => void;
}

const RETRY_MIN_MS = 500;
/** A polling loop's pace without a stream. */
const POLL_MS = 500;
/** With one: a look now and then all the same, in case an event was missed while the stream reconnected. */
const QUIET_LOOK_MS = 5_000;
const RETRY_MAX_MS = 10_000;

/**
 * The events the query admits, as they happen, until `signal` aborts. A refusal (4xx) throws; a stream
 * that ends, a 5xx and a lost connection are retried with backoff, after the last id delivered, so no
 * event is missed or repeated across reconnects.
 */
export async function* followEvents(client: ControlPlaneClient, query: Omit<EventQuery, "index" | "limit">, opts: FollowEventsOptions): AsyncGenerator<FleetEvent> {
  let after = opts.after;
  let delay = RETRY_MIN_MS;
  while (!opts.signal?.aborted) {
    let why: string;
    try {
      const body = await client.openEventStream(query, after, opts.signal);
      for await (const m of sseMessages(body)) {
        const event = JSON.parse(m.data) as FleetEvent;
        after = event.id;
        delay = RETRY_MIN_MS;
        yield event;
      }
      // The control plane ended it (its lifetime): open the next one at once.
      continue;
    } catch (err) {
      if (opts.signal?.aborted) return;
      if (err instanceof ApiError && err.status < 500 && err.status !== 429) throw err;
      if (!(err instanceof ApiError) && !(err instanceof ConnectionError) && !(err instanceof TypeError)) throw err;
      why = err.message;
    }
    opts.onRetry?.(why, delay);
    await sleepUnlessAborted(delay, opts.signal);
    delay = Math.min(delay * 2, RETRY_MAX_MS);
  }
}

/**
 * Wakes a polling loop when an event of its job arrives. `wait(ms)` resolves at the first event since the
 * last wait, or after `ms`; with no stream (an older control plane, a token that may not read it), it is
 * a plain sleep, so the loop polls as before.
 */
export class EventWaker {
  private readonly abort = new AbortController();
  private pending = false;
  private wake: (() => void) | null = null;
  /** False once the stream was refused: callers then poll at their old pace. */
  streaming = true;

  constructor(client: ControlPlaneClient, query: Omit<EventQuery, "index" | "limit">) {
    void (async () => {
      try {
        for await (const _ of followEvents(client, query, { after: null, signal: this.abort.signal })) {
          this.pending = true;
          this.wake?.();
        }
      } catch {
        this.streaming = false;
        this.wake?.();
      }
    })();
  }

  /**
   * How long to wait for an event before looking anyway: long while the stream is up, since whatever moves
   * a job writes one (placements, state and health changes, deployment steps); the old pace without it, and
   * while the caller watches the fleet for room, which changes without an event of the job.
   */
  lookAgainMs(watchingFleet = false): number {
    return this.streaming && !watchingFleet ? QUIET_LOOK_MS : POLL_MS;
  }

  wait(ms: number): Promise<void> {
    if (this.pending) {
      this.pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wake = null;
        this.pending = false;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake = done;
    });
  }

  close(): void {
    this.abort.abort();
    this.wake?.();
  }
}
