// Audit rows and events, built as statements so they commit in the same batch as the change itself.
// An optional guard (an SQL condition) writes them only when the change they record took effect.
import type { InStatement } from "@libsql/client";

export interface Guard {
  sql: string;
  args: (string | number | null)[];
}

/** Writes the row only when the statement just before it in the batch changed a row. */
export const CHANGED: Guard = { sql: "changes() = 1", args: [] };

export interface AuditEntry {
  actor: string;
  action: string;
  namespace?: string | null;
  target?: string | null;
  detail?: unknown;
}

export interface EventEntry {
  type: string;
  message: string;
  namespace?: string | null;
  jobId?: string | null;
  taskId?: string | null;
  nodeId?: string | null;
  deploymentId?: string | null;
}

export function auditRow(at: number, entry: AuditEntry, guard?: Guard): InStatement {
  return {
    sql: `INSERT INTO audit (at, actor, action, namespace, target, detail) SELECT ?, ?, ?, ?, ?, ?${guard ? ` WHERE ${guard.sql}` : ""}`,
    args: [at, entry.actor, entry.action, entry.namespace ?? null, entry.target ?? null, entry.detail === undefined ? null : JSON.stringify(entry.detail), ...(guard?.args ?? [])],
  };
}

export function eventRow(at: number, entry: EventEntry, guard?: Guard): InStatement {
  return {
    sql: `INSERT INTO events (at, namespace, job_id, task_id, node_id, deployment_id, type, message) SELECT ?, ?, ?, ?, ?, ?, ?, ?${guard ? ` WHERE ${guard.sql}` : ""}`,
    args: [at, entry.namespace ?? null, entry.jobId ?? null, entry.taskId ?? null, entry.nodeId ?? null, entry.deploymentId ?? null, entry.type, entry.message, ...(guard?.args ?? [])],
  };
}
