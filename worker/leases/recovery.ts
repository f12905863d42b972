// Recovery after a silence of the whole fleet. When no agent at all has reached the control plane for
// longer than a lease TTL (but less than RECOVERY_WINDOW_MS), the control plane (or its network) was the
// one cut off, not the hosts: the first accepted heartbeat after such a silence extends every live lease
// and node instead of letting the fleet be marked lost and restarted. A node that really died meanwhile
// is replaced once this grace ends.
//
// Safety: an extension is a conditional write on tasks still leased/running at their current epoch, so
// it never revives a task another evaluation has already marked lost or re-placed (epoch only rises).
// A task asked to stop is not extended: the extension spares running work a restart, and a copy on its
// way out whose lease (with its fence window) has lapsed is gone; extending it held its slot for nothing.
// Nor is a `disconnect: stop` task: its agent stopped it within `after` of its last renewal, so once its
// lease (which includes the fence window) has lapsed nothing runs it, and extending it only kept the slot
// empty for another 30 s (simulator seed 5189).
import type { InStatement } from "@libsql/client";
import { HELD_SQL } from "../../db/queries/task-states";

/** How long agents may back off before they try again (agent/run.ts caps its backoff at 30 s). */
export const AGENT_RETRY_CEILING_MS = 30_000;
/** A silence longer than this is not an outage of ours: the fleet is treated as gone, as usual. */
export const RECOVERY_WINDOW_MS = 60 * 60_000;

// Starts from the one cluster_state row (CROSS JOIN fixes the loop order), so when the fleet was not
// silent the statement stops at once instead of walking every live task.
const SILENT_FROM = `cluster_state c WHERE c.key = 'fleet_seen_at' AND c.value < :silentSince AND c.value >= :windowStart`;

/** Statements that open every heartbeat batch: extend after a fleet-wide silence, then mark the fleet seen. */
export function recoveryStatements(now: number, leaseTtlMs: number, nodesJson: string): InStatement[] {
  const args = {
    now,
    nodes: nodesJson,
    silentSince: now - leaseTtlMs,
    windowStart: now - RECOVERY_WINDOW_MS,
    leaseUntil: now + leaseTtlMs + AGENT_RETRY_CEILING_MS,
  };
  // Only heartbeats whose credentials are current may speak for the fleet (:nodes is [{node, gen}]).
  const own = `EXISTS (SELECT 1 FROM json_each(:nodes) j JOIN nodes n
    ON n.id = json_extract(j.value, '$.node') AND n.credential_generation = json_extract(j.value, '$.gen'))`;
  return [
    {
      sql: `UPDATE tasks SET lease_expires_at = :leaseUntil WHERE rowid IN (
              SELECT t.rowid FROM cluster_state c CROSS JOIN tasks t
              WHERE c.key = 'fleet_seen_at' AND c.value < :silentSince AND c.value >= :windowStart
                AND t.state IN ${HELD_SQL} AND t.desired = 'run' AND t.fence_ms = 0 AND t.lease_expires_at < :leaseUntil) AND ${own}`,
      args,
    },
    {
      // Silent nodes count from now: each has three TTLs to report before it is marked down.
      sql: `UPDATE nodes SET last_heartbeat_at = :now WHERE status IN ('ready', 'initializing', 'disconnected')
              AND EXISTS (SELECT 1 FROM ${SILENT_FROM}) AND ${own}`,
      args,
    },
    {
      sql: `INSERT INTO cluster_state (key, value) SELECT 'fleet_seen_at', :now WHERE ${own}
            ON CONFLICT (key) DO UPDATE SET value = excluded.value WHERE excluded.value > cluster_state.value`,
      args,
    },
  ];
}

/** For the sweep: while the whole fleet is silent (within the window), nothing is marked lost or down. */
export function fleetSilentQuery(now: number, leaseTtlMs: number): InStatement {
  return {
    sql: `SELECT EXISTS (SELECT 1 FROM ${SILENT_FROM}) AS silent`,
    args: { silentSince: now - leaseTtlMs, windowStart: now - RECOVERY_WINDOW_MS },
  };
}
