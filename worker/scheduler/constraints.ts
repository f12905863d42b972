// Constraint evaluation: reads a node attribute ("region", "name", "label.<key>") and tests it against a job constraint.
import type { Constraint, NodeView } from "./types";

const LABEL_PREFIX = "label.";

/** The value of an attribute on a node, or undefined when the node has none (unknown attributes have none). */
export function nodeAttribute(node: Pick<NodeView, "region" | "name" | "labels">, attribute: string): string | undefined {
  if (attribute === "region") return node.region;
  if (attribute === "name") return node.name;
  if (attribute.startsWith(LABEL_PREFIX)) {
    const key = attribute.slice(LABEL_PREFIX.length);
    // hasOwn, not `in`: a label called "constructor" must not find Object.prototype.
    return Object.hasOwn(node.labels, key) ? node.labels[key] : undefined;
  }
  return undefined;
}

function valuesOf(c: Constraint): readonly string[] {
  if (c.value === undefined) return [];
  return typeof c.value === "string" ? [c.value] : c.value;
}

/**
 * Whether a constraint holds for an attribute value. A missing attribute never equals anything, so it fails
 * "=" and "in" and passes "!=" and "not_in". "=" given a list behaves as "in" (and "!=" as "not_in").
 */
export function constraintHolds(c: Constraint, actual: string | undefined): boolean {
  switch (c.operator) {
    case "=":
    case "in":
      return actual !== undefined && valuesOf(c).includes(actual);
    case "!=":
    case "not_in":
      return actual === undefined || !valuesOf(c).includes(actual);
    case "exists":
      return actual !== undefined;
    case "not_exists":
      return actual === undefined;
  }
}

/** "region = eu", "label.disk in [ssd, nvme]", "label.gpu exists". */
export function describeConstraint(c: Constraint): string {
  if (c.value === undefined) return `${c.attribute} ${c.operator}`;
  const value = typeof c.value === "string" ? c.value : `[${c.value.join(", ")}]`;
  return `${c.attribute} ${c.operator} ${value}`;
}

/** The first constraint a node fails, as a reason constant, or null when all hold. */
export function firstFailedConstraint(
  node: Pick<NodeView, "region" | "name" | "labels">,
  constraints: readonly Constraint[],
): string | null {
  for (const c of constraints) {
    if (!constraintHolds(c, nodeAttribute(node, c.attribute))) return constraintReason(c);
  }
  return null;
}

export function constraintReason(c: Constraint): string {
  return `constraint ${describeConstraint(c)}`;
}
