// Static feasibility: which nodes could ever take a job (status, eligibility, drain, constraints), computed once per
// distinct constraint set and evaluation, with the reason every other node was filtered.
//
// Nodes with the same region and labels form one class and answer every constraint that does not name a node
// alike, so a constraint set is tested once per class, not once per node. Resources and ports change as the
// plan is built and are checked later, per candidate (see select.ts).
import { firstFailedConstraint, nodeAttribute } from "./constraints";
import type { Fleet } from "./fleet";
import { seededRandom, shuffleInPlace } from "./random";
import { NODE_DRAINING, NODE_INELIGIBLE, NODE_NOT_READY } from "./reasons";
import type { Constraint, NodeView } from "./types";

/** The nodes of a feasible set that share one value of a spread attribute (undefined: nodes lacking it). */
export interface SpreadGroup {
  value: string | undefined;
  nodes: Int32Array;
}

export interface FeasibleSet {
  /** Identifies the constraint set (cache key). */
  key: string;
  /** Node indices that pass every static check, in an order shuffled from the evaluation id. */
  nodes: Int32Array;
  /** Nodes rejected, by their first failing reason. */
  filtered: Readonly<Record<string, number>>;
}

export class FeasibilityIndex {
  private readonly fleet: Fleet;
  private readonly evalId: string;
  /** Per node: why it can take nothing at all, or null. */
  private readonly baseReason: (string | null)[];
  private readonly classOf: Int32Array;
  /** One representative node per class. */
  private readonly classNodes: NodeView[] = [];
  private readonly sets = new Map<string, FeasibleSet>();
  private readonly groups = new Map<string, SpreadGroup[]>();

  constructor(fleet: Fleet, evalId: string) {
    this.fleet = fleet;
    this.evalId = evalId;
    const n = fleet.nodes.length;
    this.baseReason = new Array<string | null>(n);
    this.classOf = new Int32Array(n);
    const classIds = new Map<string, number>();
    for (let i = 0; i < n; i++) {
      const node = fleet.nodes[i] as NodeView;
      this.baseReason[i] =
        fleet.indexById.get(node.id) !== i || node.status !== "ready"
          ? NODE_NOT_READY
          : !node.eligible
            ? NODE_INELIGIBLE
            : node.draining
              ? NODE_DRAINING
              : null;
      const key = classKey(node);
      let id = classIds.get(key);
      if (id === undefined) {
        id = this.classNodes.length;
        classIds.set(key, id);
        this.classNodes.push(node);
      }
      this.classOf[i] = id;
    }
  }

  /** Whether node i can take any work at all (ready, eligible, not draining, not a repeated id). */
  takesWork(i: number): boolean {
    return this.baseReason[i] === null;
  }

  /** The feasible set for a list of constraints; cached, since many jobs share a constraint set. */
  forConstraints(constraints: readonly Constraint[]): FeasibleSet {
    const key = JSON.stringify(constraints.map((c) => [c.attribute, c.operator, c.value ?? null]));
    const cached = this.sets.get(key);
    if (cached !== undefined) return cached;

    const nodes = this.fleet.nodes;
    const byName = constraints.some((c) => c.attribute === "name");
    const classVerdict = new Array<string | null | undefined>(this.classNodes.length);
    const filtered: Record<string, number> = {};
    const feasible: number[] = [];
    for (let i = 0; i < nodes.length; i++) {
      let reason = this.baseReason[i] ?? null;
      if (reason === null && constraints.length > 0) {
        if (byName) reason = firstFailedConstraint(nodes[i] as NodeView, constraints);
        else {
          const c = this.classOf[i] as number;
          let verdict = classVerdict[c];
          if (verdict === undefined) classVerdict[c] = verdict = firstFailedConstraint(this.classNodes[c] as NodeView, constraints);
          reason = verdict;
        }
      }
      if (reason === null) feasible.push(i);
      else filtered[reason] = (filtered[reason] ?? 0) + 1;
    }
    const order = Int32Array.from(feasible);
    // The seeded shuffle is the tie-break: among equal scores the node met first wins.
    shuffleInPlace(order, seededRandom(this.evalId, "feasible", key));
    const set: FeasibleSet = { key, nodes: order, filtered };
    this.sets.set(key, set);
    return set;
  }

  /** A feasible set split by a spread attribute, keeping the set's order inside each group; cached. */
  spreadGroups(set: FeasibleSet, attribute: string): SpreadGroup[] {
    const key = `${attribute}\u0000${set.key}`;
    const cached = this.groups.get(key);
    if (cached !== undefined) return cached;
    const members = new Map<string | undefined, number[]>();
    for (const i of set.nodes) {
      const value = nodeAttribute(this.fleet.nodes[i] as NodeView, attribute);
      let list = members.get(value);
      if (list === undefined) members.set(value, (list = []));
      list.push(i);
    }
    // Sorted by value so the group list does not depend on the shuffle; the undefined group sorts last.
    const groups = [...members]
      .sort(([a], [b]) => (a === b ? 0 : a === undefined ? 1 : b === undefined ? -1 : a < b ? -1 : 1))
      .map(([value, list]) => ({ value, nodes: Int32Array.from(list) }));
    this.groups.set(key, groups);
    return groups;
  }
}

function classKey(node: NodeView): string {
  const labels = Object.keys(node.labels)
    .sort()
    .map((k) => [k, node.labels[k]]);
  return JSON.stringify([node.region, labels]);
}
