// Reason constants for rejected nodes, and the human sentence built from them when a slot cannot be placed.
import { describeConstraint } from "./constraints";
import type { Ask } from "./fleet";
import type { Constraint, PlacementMetrics } from "./types";

// Filtered: the node can never take this job as things stand.
export const NODE_NOT_READY = "node not ready";
export const NODE_INELIGIBLE = "node ineligible";
export const NODE_DRAINING = "node draining";
// Constraint rejections are "constraint <attribute> <operator> <value>" (see constraintReason).

// Exhausted: the node could take the job but is full.
export const CPU = "cpu";
export const MEMORY = "memory";
export function portReason(port: number): string {
  return `port ${port}`;
}

/** How each reason reads after a count: "3 nodes short on cpu". */
function phrase(reason: string): string {
  switch (reason) {
    case NODE_NOT_READY:
      return "not ready";
    case NODE_INELIGIBLE:
      return "ineligible";
    case NODE_DRAINING:
      return "draining";
    case CPU:
      return "short on cpu";
    case MEMORY:
      return "short on memory";
  }
  if (reason.startsWith("port ")) return `with ${reason} in use`;
  if (reason.startsWith("constraint ")) return `filtered by ${reason}`;
  return reason;
}

/**
 * The reasons nodes were turned away, commonest first. Equal counts: resources before filters (capacity is
 * the likelier fix), then by name.
 */
function obstacles(metrics: PlacementMetrics): [reason: string, nodes: number][] {
  return [
    ...Object.entries(metrics.exhausted).map(([r, n]) => [r, n, 0] as const),
    ...Object.entries(metrics.filtered).map(([r, n]) => [r, n, 1] as const),
  ]
    .sort((a, b) => b[1] - a[1] || a[2] - b[2] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .map(([reason, n]) => [reason, n]);
}

/**
 * "no node with 2000m cpu, 512MiB memory and port 8080 where region = eu: 3 nodes short on cpu,
 * 5 nodes filtered by constraint region = eu". Largest counts first, so the commonest obstacle leads.
 */
export function failureMessage(ask: Ask, constraints: readonly Constraint[], metrics: PlacementMetrics): string {
  const wants = [`${ask.resources.cpu}m cpu`, `${ask.resources.memory}MiB memory`];
  for (const p of ask.hostPorts) wants.push(`port ${p}`);
  const last = wants.pop();
  let head = `no node with ${wants.length > 0 ? `${wants.join(", ")} and ${last}` : last}`;
  if (constraints.length > 0) head += ` where ${constraints.map(describeConstraint).join(" and ")}`;
  if (metrics.nodesEvaluated === 0) return `${head}: the fleet has no nodes`;
  return `${head}: ${obstacles(metrics).map(([reason, n]) => `${n} ${n === 1 ? "node" : "nodes"} ${phrase(reason)}`).join(", ")}`;
}

/** A failure's commonest obstacle as one of a few fixed kinds (a metric label: never a port number or a constraint's value). */
export const PLACEMENT_FAILURE_KINDS = ["no_nodes", "cpu", "memory", "port", "not_ready", "ineligible", "draining", "constraint"] as const;
export type PlacementFailureKind = (typeof PLACEMENT_FAILURE_KINDS)[number];

export function failureKind(metrics: PlacementMetrics): PlacementFailureKind {
  const [first] = obstacles(metrics);
  if (metrics.nodesEvaluated === 0 || !first) return "no_nodes";
  const reason = first[0];
  switch (reason) {
    case CPU:
      return "cpu";
    case MEMORY:
      return "memory";
    case NODE_NOT_READY:
      return "not_ready";
    case NODE_INELIGIBLE:
      return "ineligible";
    case NODE_DRAINING:
      return "draining";
  }
  return reason.startsWith("port ") ? "port" : "constraint";
}
