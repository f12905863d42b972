// Which endpoint of a service the next connection goes to. Pure: the caller keeps the counters.
//
// Nearest first: endpoints on this node, then in this region, then any other one this node can reach
// (dialAddress); the balancing policy chooses within the nearest tier that has a usable endpoint, so a
// farther endpoint is dialled only when no nearer one is healthy (or all nearer ones failed lately).
// Unhealthy endpoints and those this node cannot reach are never chosen. An endpoint on another node is
// reached through that node's mesh port only (mutual TLS, see agent/mesh), so one whose node has none is
// out of reach from anywhere but its own node.
import { dialAddress, proximity, type Endpoint } from "../../api/services";

export type BalancePolicy = "round-robin" | "least-connections";

/** Where the balancing runs: this node. */
export type Caller = { nodeId: string; region: string };

/**
 * An endpoint as this node dials it: the address it can reach, how near it is (0 node, 1 region, 2
 * farther), and for another node's endpoint the mesh port the connection goes through (`port` is then
 * the host port asked for at the far end).
 */
export type Target = { taskId: string; nodeId: string; address: string; port: number; tier: 0 | 1 | 2; meshPort: number | null };

/** The healthy endpoints `caller` can reach, nearest first, in task id order within a tier (so every turn counts the same list). */
export function reachableTargets(endpoints: readonly Endpoint[], caller: Caller): Target[] {
  const targets: Target[] = [];
  for (const e of endpoints) {
    if (!e.healthy) continue;
    const tier = proximity(e, caller);
    const address = dialAddress(e, caller);
    if (tier === null || address === null) continue;
    if (tier > 0 && e.meshPort === null) continue;
    targets.push({ taskId: e.taskId, nodeId: e.nodeId, address, port: e.port, tier, meshPort: tier > 0 ? e.meshPort : null });
  }
  return targets.sort((a, b) => a.tier - b.tier || (a.taskId < b.taskId ? -1 : a.taskId > b.taskId ? 1 : 0));
}

export type PickState = {
  /** Rises by one each pick: round-robin's position, and least-connections' tie-breaker. */
  turn: number;
  /** Open connections per target (task id). */
  active: ReadonlyMap<string, number>;
  /** Targets not to choose while any other is usable: a connect to them failed lately, or this very connection. */
  avoid: ReadonlySet<string>;
};

/**
 * The target for the next connection, or undefined when there is none. When every target is to be avoided,
 * the nearest tier is tried anyway: an endpoint that failed a moment ago may answer now, and refusing
 * outright is sure to fail.
 */
export function pickTarget(targets: readonly Target[], policy: BalancePolicy, state: PickState): Target | undefined {
  const usable = targets.filter((t) => !state.avoid.has(t.taskId));
  const pool = usable.length > 0 ? usable : targets;
  if (pool.length === 0) return undefined;
  const tier = Math.min(...pool.map((t) => t.tier));
  const nearest = pool.filter((t) => t.tier === tier);
  const turn = Math.max(0, Math.floor(state.turn));
  if (policy === "round-robin") return nearest[turn % nearest.length];
  const load = (t: Target) => state.active.get(t.taskId) ?? 0;
  const least = Math.min(...nearest.map(load));
  const tied = nearest.filter((t) => load(t) === least);
  return tied[turn % tied.length];
}
