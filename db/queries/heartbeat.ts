// The heartbeat batch's SQL: the reports of every node in a batch as one JSON table, and the fragments the
// renewal, state-change and trigger statements share. Built by worker/leases/heartbeat.ts.
import type { ResultSet } from "@libsql/client";
import { jsonCell } from "../batch";
import { ENDED_SQL, HELD_SQL, LIVE_SQL } from "./task-states";

/** Reported agent states map onto task states; "starting" keeps the task leased. */
export const STORED_STATE = "CASE r.state WHEN 'starting' THEN 'leased' ELSE r.state END";

/** The nodes of the batch whose credential is still current. */
export const OK_NODES = `ok AS MATERIALIZED (SELECT n.id FROM json_each(:nodes) j JOIN nodes n
    ON n.id = json_extract(j.value, '$.node') AND n.credential_generation = json_extract(j.value, '$.gen'))`;
/**
 * The reports of every node in the batch as a table, parsed once per statement (MATERIALIZED keeps SQLite
 * from re-reading the JSON for each task row it joins). A report counts only for the node that sent it,
 * and only while that node's credential generation is current. Each report is an array, read by position.
 */
export const WITH_REPORTS = `WITH ${OK_NODES}, r AS MATERIALIZED (SELECT value ->> 0 AS node, value ->> 1 AS id, value ->> 2 AS epoch,
    value ->> 3 AS state, value ->> 4 AS health, value ->> 5 AS exit_code, value ->> 6 AS restarts,
    json(value -> 7) AS ports, value ->> 8 AS message
  FROM json_each(:reports) WHERE value ->> 0 IN (SELECT id FROM ok))`;
// Unary + keeps SQLite from driving these joins off the state index (every live task in the fleet,
// each checked against every report); the task is found by its primary key from each report instead.
export const LIVE = `+t.node_id = r.node AND +t.state IN ${HELD_SQL} AND +t.lease_expires_at >= :now`;

/**
 * Jobs whose evaluation a report calls for: a task ended (its slot, or the capacity it held, is free: a
 * stop-first rollout or drain places the slot again), or a task started or turned healthy while its job has
 * a rollout or a drain under way (the next slot may go). Read before the reports are written.
 */
export const EVALUATION_TRIGGERS = `${WITH_REPORTS},
  c AS MATERIALIZED (
    SELECT t.job_id, t.version, max(r.state IN ${ENDED_SQL}) AS ended FROM r CROSS JOIN tasks t ON t.id = r.id AND t.epoch = r.epoch
    WHERE ${LIVE} AND ((r.state IN ${ENDED_SQL} AND ${STORED_STATE} != t.state)
      OR (r.state = 'running' AND (t.state != 'running' OR (r.health = 'healthy' AND t.health IS NOT 'healthy'))))
    GROUP BY t.job_id, t.version)
  -- Once per job and version, not per report: the rollout check reads the job's rows.
  SELECT DISTINCT c.job_id FROM c WHERE c.ended OR EXISTS (SELECT 1 FROM tasks o WHERE o.job_id = c.job_id AND (
    (o.desired = 'run' AND o.version != c.version)
    OR (o.desired = 'stop' AND o.state IN ${HELD_SQL})
    OR (o.state IN ${LIVE_SQL} AND o.node_id IN (SELECT id FROM nodes WHERE drain_deadline IS NOT NULL))))
    -- A deployment under way counts each new task that runs or turns healthy (a first version has no old rows).
    OR EXISTS (SELECT 1 FROM deployments d WHERE d.job_id = c.job_id AND d.version = c.version AND d.status = 'running')`;

/** A task row as the renewal and state-change statements return it: one JSON array per row (see jsonCell). */
export const LEASE_ROW = "json_array(id, node_id, epoch, job_id, state, desired, lease_expires_at) AS r";
export type LeaseRow = { taskId: string; nodeId: string; epoch: number; jobId: string; state: string; desired: string; leaseExpiresAt: number };

export function leaseRows(result: ResultSet | undefined): LeaseRow[] {
  return (result?.rows ?? []).map((row) => {
    const [taskId, nodeId, epoch, jobId, state, desired, leaseExpiresAt] = jsonCell<[string, string, number, string, string, string, number]>(row, "r")!;
    return { taskId, nodeId, epoch, jobId, state, desired, leaseExpiresAt };
  });
}

/**
 * A renewal never moves an expiry back. The TTL shrinks when the fleet does (see timing.ts), and an agent
 * whose latest reply was lost still counts on the expiry it was told before; an earlier stored expiry
 * would let the task be replaced while that agent's lease is still valid.
 */
export const RENEWED_EXPIRY = "max(coalesce(t.lease_expires_at, 0), :now + max(:ttl, t.fence_ms))";

/** Since when the copy has been running and not unhealthy (see tasks.healthy_at). */
export const HEALTHY_AT = "CASE WHEN r.state = 'running' AND (r.health IS NULL OR r.health = 'healthy') THEN coalesce(t.healthy_at, :now) ELSE NULL END";
