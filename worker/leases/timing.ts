// Heartbeat interval and lease TTL, scaled with fleet size as in Nomad:
// interval = max(base, nodes / max_heartbeats_per_second); ttl keeps the configured ratio to it.
import { ne } from "drizzle-orm";
import { nodes } from "../../db/schema";
import type { Store } from "../../db/store";
import type { Clock } from "../clock";
import type { Config } from "../config";

export interface Timing {
  heartbeatIntervalMs: number;
  leaseTtlMs: number;
}

export interface FleetTiming {
  current(): Promise<Timing>;
}

/** The pure rule, for tests and for the cached reader below. */
export function timingFor(config: Pick<Config, "heartbeatInterval" | "leaseTtl" | "maxHeartbeatsPerSecond">, liveNodes: number): Timing {
  const heartbeatIntervalMs = Math.max(config.heartbeatInterval, Math.ceil((liveNodes / config.maxHeartbeatsPerSecond) * 1000));
  const ratio = config.leaseTtl / config.heartbeatInterval;
  return { heartbeatIntervalMs, leaseTtlMs: Math.round(heartbeatIntervalMs * ratio) };
}

/** Jitter for an agent's next heartbeat: up to 10% early, so a restarted fleet does not beat in step. */
export function jittered(intervalMs: number, random: () => number = Math.random): number {
  return Math.round(intervalMs * (0.9 + 0.1 * random()));
}

const REFRESH_MS = 30_000;

/**
 * Counts live nodes at most every 30 s per instance; a cache, not state: any instance derives the same.
 * One count at a time: the heartbeats that find the cache stale together share it.
 */
export function createFleetTiming(store: Store, clock: Clock, config: Config): FleetTiming {
  let cached: { at: number; timing: Timing } | undefined;
  let counting: Promise<Timing> | null = null;
  return {
    async current() {
      const now = clock.now();
      if (cached && now - cached.at < REFRESH_MS && now >= cached.at) return cached.timing;
      counting ??= store.db
        .$count(nodes, ne(nodes.status, "down"))
        .then((live) => {
          cached = { at: now, timing: timingFor(config, live) };
          return cached.timing;
        })
        .finally(() => (counting = null));
      return counting;
    },
  };
}
