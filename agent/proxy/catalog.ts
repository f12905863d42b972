// The endpoint sets this node holds, by service ("namespace/name"), each with the index it came with: what
// heartbeats ask for, and what the listeners balance over. A set arrives whole in a heartbeat reply and
// replaces the one held; the index is opaque (it is passed back, never compared for order).
import type { ServiceSnapshot } from "../../api/services";
import { serviceKey } from "../../api/services";
import type { Caller } from "./balance";
import { createServicePool, type ServicePool } from "./service-pool";
import type { MeshCredentials } from "../mesh";

export interface ServiceCatalog {
  /** The service's pool, made (empty, index 0) on first use; the same object for as long as it is retained. */
  pool(key: string): ServicePool;
  /** A heartbeat's `services`: each key with the index held, 0 for a set not received yet (the key is held from now on). */
  request(keys: Iterable<string>): Record<string, number>;
  /** Takes the snapshots of a heartbeat reply; those of services no longer held are dropped. */
  apply(snapshots: readonly ServiceSnapshot[]): void;
  /** Forgets every service not in `keys`: asked for again, it starts from index 0. */
  retain(keys: ReadonlySet<string>): void;
  /** The index held for a service (0: none). */
  index(key: string): number;
  /** The last set received of each service held, by key (a service not received yet is absent). */
  snapshots(): Record<string, ServiceSnapshot>;
}

export function createServiceCatalog(opts: { caller: Caller; now?: () => number; failureHoldMs?: number; mesh?: () => MeshCredentials | undefined }): ServiceCatalog {
  const held = new Map<string, { pool: ServicePool; index: number; snapshot?: ServiceSnapshot }>();

  function entry(key: string) {
    let e = held.get(key);
    if (!e) {
      e = {
        pool: createServicePool({
          key,
          caller: opts.caller,
          ...(opts.now ? { now: opts.now } : {}),
          ...(opts.failureHoldMs !== undefined ? { failureHoldMs: opts.failureHoldMs } : {}),
          ...(opts.mesh ? { mesh: opts.mesh } : {}),
        }),
        index: 0,
      };
      held.set(key, e);
    }
    return e;
  }

  return {
    pool: (key) => entry(key).pool,
    request(keys) {
      const out: Record<string, number> = {};
      for (const key of keys) out[key] = entry(key).index;
      return out;
    },
    apply(snapshots) {
      for (const s of snapshots) {
        const e = held.get(serviceKey(s.namespace, s.name));
        // A set for a service no listener needs any more (it went while the heartbeat was in flight).
        if (!e) continue;
        e.pool.update(s.endpoints);
        e.index = s.index;
        e.snapshot = s;
      }
    },
    retain(keys) {
      for (const key of held.keys()) if (!keys.has(key)) held.delete(key);
    },
    index: (key) => held.get(key)?.index ?? 0,
    snapshots() {
      const out: Record<string, ServiceSnapshot> = {};
      for (const [key, e] of held) if (e.snapshot) out[key] = e.snapshot;
      return out;
    },
  };
}
