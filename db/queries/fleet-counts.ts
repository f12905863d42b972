// The fleet as counts, for the control plane's store-derived gauges: one read batch of GROUP BY counts,
// so every instance answers the same at the same moment.
import type { ResultSet } from "@libsql/client";
import { and, count, isNull, lt, lte, or } from "drizzle-orm";
import type { Db } from "../store";
import { deployments, DEPLOYMENT_STATUSES, evaluations, NODE_STATUSES, nodes, TASK_STATES, tasks } from "../schema";

export interface FleetCounts {
  /** Nodes by stored status, every status present (0 included). */
  nodes: Record<string, number>;
  /** Task rows by state, ended ones included (rows stay until their job is deleted). */
  tasks: Record<string, number>;
  deployments: Record<string, number>;
  /** Evaluation rows an instance could take now: due, and not held under another's visibility timeout. */
  evaluationsDue: number;
}

/** The batch's statements, in the order decodeFleetCounts reads them. */
export function fleetCountStatements(db: Db, now: number) {
  return [
    db.select({ key: nodes.status, n: count() }).from(nodes).groupBy(nodes.status),
    db.select({ key: tasks.state, n: count() }).from(tasks).groupBy(tasks.state),
    db.select({ key: deployments.status, n: count() }).from(deployments).groupBy(deployments.status),
    db
      .select({ n: count() })
      .from(evaluations)
      .where(and(lte(evaluations.dueAt, now), or(isNull(evaluations.claimedUntil), lt(evaluations.claimedUntil, now)))),
  ];
}

/** Rows are read by position: the raw result's column names are the SQL's, not the select's keys. */
function byKey(known: readonly string[], result: ResultSet | undefined): Record<string, number> {
  const out: Record<string, number> = Object.fromEntries(known.map((k) => [k, 0]));
  for (const row of result?.rows ?? []) out[String(row[0])] = Number(row[1]);
  return out;
}

export function decodeFleetCounts(results: ResultSet[]): FleetCounts {
  const [nodeRows, taskRows, deploymentRows, due] = results;
  return {
    nodes: byKey(NODE_STATUSES, nodeRows),
    tasks: byKey(TASK_STATES, taskRows),
    deployments: byKey(DEPLOYMENT_STATUSES, deploymentRows),
    evaluationsDue: Number(due?.rows[0]?.[0] ?? 0),
  };
}
