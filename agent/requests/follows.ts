// The log follows this agent runs: started when the control plane hands them over (heartbeat replies, the
// request poll), stopped when it no longer lists them open or refuses their chunks.
import type { FollowOrder } from "../../api/agent-requests";
import { LogFollower, type FollowDeps } from "./log-follow";

/** Follows that ended here, remembered so a poll read before their end does not start them again. */
const ENDED_REMEMBERED = 1_000;

export interface Follows {
  /** Starts those of `orders` not running here. */
  start(orders: FollowOrder[]): void;
  /**
   * The control plane's open follows, as a poll sent at `askedAt` read them: starts those not running, stops
   * those not listed that were running before it was sent (one handed over meanwhile is not in its list).
   */
  reconcile(open: FollowOrder[], askedAt: number): void;
  readonly active: number;
  /** Stops every follow (the agent stops): a restarted agent takes them up again from its first poll. */
  close(): Promise<void>;
}

export function createFollows(deps: FollowDeps): Follows {
  const running = new Map<string, { follower: LogFollower; since: number }>();
  const ended = new Set<string>();
  const start = (orders: FollowOrder[]) => {
    for (const order of orders) {
      if (running.has(order.id) || ended.has(order.id)) continue;
      const follower = new LogFollower(deps, order);
      running.set(order.id, { follower, since: Date.now() });
      void follower.done.then(() => {
        running.delete(order.id);
        if (ended.size >= ENDED_REMEMBERED) ended.clear();
        ended.add(order.id);
      });
    }
  };
  return {
    start,
    reconcile(open, askedAt) {
      const listed = new Set(open.map((o) => o.id));
      for (const [id, { follower, since }] of running) if (!listed.has(id) && since < askedAt) follower.stop("the follow is over (its viewer went away)");
      start(open);
    },
    get active() {
      return running.size;
    },
    async close() {
      const all = [...running.values()].map((r) => r.follower);
      for (const f of all) f.stop("the agent is stopping");
      await Promise.allSettled(all.map((f) => f.done));
    },
  };
}
