// Ranking and selection for one job: walk the job's feasible nodes in seeded order, score a bounded window of nodes
// that fit, take the best. This is Nomad's limit iterator: scoring every node for every placement would cost
// O(nodes) each; a window of max(2, log2 N) fitting nodes keeps a placement near O(log N) and still lands well.
//
// Scores:
// - bin-pack, in [0, 1]: mean of cpu and memory utilisation after placing, so fuller nodes win and big nodes
//   stay free for big asks;
// - anti-affinity: minus one per task of this job already on the node. A whole point outweighs any packing
//   difference, so among the window the node holding the fewest replicas always wins and packing only
//   decides between equals: replicas stack only when every candidate already holds some;
// - spread (when asked): not a score but an order — the attribute value holding the fewest of this job's tasks
//   is tried first, and the next only if no node of it fits, so counts stay within one of each other.
// Ties go to the node met first in the seeded order.
//
// Invariant: a node index is returned only if Fleet.fits said yes for the ask at that moment.
import type { FeasibilityIndex, FeasibleSet, SpreadGroup } from "./feasibility";
import type { Ask, Fleet } from "./fleet";
import { nodeAttribute } from "./constraints";
import { seededRandom } from "./random";
import type { JobView, NodeView, PlacementMetrics } from "./types";

function windowSize(candidates: number): number {
  return Math.max(2, Math.ceil(Math.log2(Math.max(1, candidates))));
}

export class JobPlacer {
  private readonly fleet: Fleet;
  readonly set: FeasibleSet;
  private readonly spreadAttribute: string | undefined;
  private readonly groups: SpreadGroup[];
  private readonly groupOrder: number[];
  private readonly groupRank: Float64Array;
  private readonly groupCursor: Int32Array;
  /** Generation at which a group was last seen with no fitting node (-1: never). */
  private readonly groupFullAt: Int32Array;
  private readonly limit: number;
  private cursor: number;
  private scanEnd = 0;
  /** This job's live tasks per node index (anti-affinity). */
  private readonly collisions = new Map<number, number>();
  /** This job's live tasks per spread attribute value. */
  private readonly spreadCounts = new Map<string | undefined, number>();
  /** Generation at which nothing fitted this job (-1: never); its metrics are reused within that generation. */
  private exhaustedAt = -1;
  private lastMetrics: PlacementMetrics | null = null;

  constructor(fleet: Fleet, feasibility: FeasibilityIndex, job: JobView, evalId: string) {
    this.fleet = fleet;
    this.set = feasibility.forConstraints(job.constraints);
    const random = seededRandom(evalId, "job", job.id);
    this.limit = windowSize(this.set.nodes.length);
    this.cursor = Math.floor(random() * this.set.nodes.length);
    this.spreadAttribute = job.spread?.attribute;
    this.groups = this.spreadAttribute === undefined ? [] : feasibility.spreadGroups(this.set, this.spreadAttribute);
    const g = this.groups.length;
    this.groupOrder = Array.from({ length: g }, (_, i) => i);
    this.groupRank = new Float64Array(g);
    this.groupCursor = new Int32Array(g);
    this.groupFullAt = new Int32Array(g).fill(-1);
    for (let i = 0; i < g; i++) {
      this.groupRank[i] = random();
      this.groupCursor[i] = Math.floor(random() * (this.groups[i] as SpreadGroup).nodes.length);
    }
  }

  /** Count a task of this job on a node (an existing one that stays, or one just placed). */
  add(nodeIndex: number): void {
    this.collisions.set(nodeIndex, (this.collisions.get(nodeIndex) ?? 0) + 1);
    if (this.spreadAttribute !== undefined) {
      const value = nodeAttribute(this.fleet.nodes[nodeIndex] as NodeView, this.spreadAttribute);
      this.spreadCounts.set(value, (this.spreadCounts.get(value) ?? 0) + 1);
    }
  }

  /** Uncount a task of this job that is leaving a node (stopped for an update, or migrated). */
  remove(nodeIndex: number): void {
    const c = (this.collisions.get(nodeIndex) ?? 0) - 1;
    if (c > 0) this.collisions.set(nodeIndex, c);
    else this.collisions.delete(nodeIndex);
    if (this.spreadAttribute !== undefined) {
      const value = nodeAttribute(this.fleet.nodes[nodeIndex] as NodeView, this.spreadAttribute);
      this.spreadCounts.set(value, (this.spreadCounts.get(value) ?? 0) - 1);
    }
  }

  /**
   * The node index to place the ask on, or -1 (then `metrics()` says why).
   * - "use": the job's own ask; a failure seen earlier in this generation is returned at once, and recorded.
   * - "record": the job's own ask, but capacity was just freed for this ask alone (an update stops its old
   *   version first), which a cached failure does not account for; a new failure is still recorded — it saw
   *   at least as much capacity as anyone later in this generation will.
   * - "off": some other ask (a row whose resources differ from its job's); nothing read or recorded.
   */
  select(ask: Ask, cache: "use" | "record" | "off"): number {
    const gen = this.fleet.generation;
    if (cache === "use" && this.exhaustedAt === gen) return -1;
    const best = this.groups.length > 0 ? this.selectSpread(ask, cache, gen) : this.selectFrom(ask);
    if (best >= 0) return best;
    if (cache !== "off") this.exhaustedAt = gen;
    this.lastMetrics = this.measure(ask);
    return -1;
  }

  /** Why the last select returned -1. */
  metrics(): PlacementMetrics {
    const m = this.lastMetrics;
    if (m === null) throw new Error("metrics() before a failed select()");
    return { nodesEvaluated: m.nodesEvaluated, filtered: { ...m.filtered }, exhausted: { ...m.exhausted } };
  }

  private selectFrom(ask: Ask): number {
    const best = this.scan(this.set.nodes, this.cursor, this.limit, ask);
    this.cursor = this.scanEnd;
    return best;
  }

  private selectSpread(ask: Ask, cache: "use" | "record" | "off", gen: number): number {
    const counts = this.spreadCounts;
    const groups = this.groups;
    const rank = this.groupRank;
    // Fewest of this job's tasks first; nodes lacking the attribute last; ties in seeded order.
    this.groupOrder.sort((a, b) => {
      const ga = groups[a] as SpreadGroup;
      const gb = groups[b] as SpreadGroup;
      if ((ga.value === undefined) !== (gb.value === undefined)) return ga.value === undefined ? 1 : -1;
      return (counts.get(ga.value) ?? 0) - (counts.get(gb.value) ?? 0) || (rank[a] as number) - (rank[b] as number);
    });
    for (const g of this.groupOrder) {
      if (cache === "use" && this.groupFullAt[g] === gen) continue;
      const nodes = (groups[g] as SpreadGroup).nodes;
      const best = this.scan(nodes, this.groupCursor[g] as number, windowSize(nodes.length), ask);
      this.groupCursor[g] = this.scanEnd;
      if (best >= 0) return best;
      if (cache !== "off") this.groupFullAt[g] = gen;
    }
    return -1;
  }

  /**
   * Visit nodes from `start`, wrapping, until `limit` of them fit or all were seen; return the best scoring
   * (or -1) and leave the next start in scanEnd, so successive placements move on through the fleet.
   */
  private scan(order: Int32Array, start: number, limit: number, ask: Ask): number {
    const n = order.length;
    const fleet = this.fleet;
    const { cpu, memory } = ask.resources;
    let i = start < n ? start : 0;
    let visited = 0;
    let found = 0;
    let best = -1;
    let bestScore = -Infinity;
    while (visited < n && found < limit) {
      const node = order[i] as number;
      if (++i === n) i = 0;
      visited++;
      if (!fleet.fits(node, ask)) continue;
      found++;
      const capCpu = fleet.capCpu[node] as number;
      const capMemory = fleet.capMemory[node] as number;
      const usedCpu = capCpu > 0 ? 1 - ((fleet.freeCpu[node] as number) - cpu) / capCpu : 1;
      const usedMemory = capMemory > 0 ? 1 - ((fleet.freeMemory[node] as number) - memory) / capMemory : 1;
      let score = (usedCpu + usedMemory) / 2;
      const c = this.collisions.get(node);
      if (c !== undefined) score -= c;
      if (score > bestScore) {
        bestScore = score;
        best = node;
      }
    }
    this.scanEnd = i;
    return best;
  }

  private measure(ask: Ask): PlacementMetrics {
    const exhausted: Record<string, number> = {};
    for (const node of this.set.nodes) {
      const reason = this.fleet.shortOf(node, ask);
      if (reason === null) continue; // unreachable right after a failed scan; kept honest rather than counted
      exhausted[reason] = (exhausted[reason] ?? 0) + 1;
    }
    return { nodesEvaluated: this.fleet.nodes.length, filtered: { ...this.set.filtered }, exhausted };
  }
}
