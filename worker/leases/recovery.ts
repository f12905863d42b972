// Recovery after a silence of the whole fleet. When no agent at all has reached the control plane for
// longer than a lease TTL, the control plane (or its network) was the one cut off, not the hosts: the
// first heartbeat after such a silence extends every live lease and node instead of letting the fleet
// be marked lost and restarted. A node that really died meanwhile is replaced once this grace ends.
//
// Safety: an extension is a conditional write on tasks still leased/running at their current epoch, so
// it never revives a task another evaluation has already marked lost or re-placed (epoch only rises).
import type { InStatement } from "@libsql/client";

/** How long agents may back off before they try again (agent/run.ts caps its backoff at 30 s). */
export const AGENT_RETRY_CEILING_MS = 30_000;

const SILENT = "coalesce((SELECT value FROM cluster_state WHERE key = 'fleet_seen_at'), :now) < :silentSince";

/** Statements that open every heartbeat batch: extend after a fleet-wide silence, then mark the fleet seen. */
export function recoveryStatements(now: number, leaseTtlMs: number): InStatement[] {
  const args = { now, silentSince: now - leaseTtlMs, leaseUntil: now + leaseTtlMs + AGENT_RETRY_CEILING_MS, nodesSeen: now + AGENT_RETRY_CEILING_MS };
  return [
    {
      sql: `UPDATE tasks SET lease_expires_at = :leaseUntil WHERE state IN ('leased', 'running') AND lease_expires_at < :leaseUntil AND ${SILENT}`,
      args,
    },
    {
      sql: `UPDATE nodes SET last_heartbeat_at = :nodesSeen WHERE status IN ('ready', 'initializing', 'disconnected') AND ${SILENT}`,
      args,
    },
    {
      sql: `INSERT INTO cluster_state (key, value) VALUES ('fleet_seen_at', :now)
            ON CONFLICT (key) DO UPDATE SET value = excluded.value WHERE excluded.value > cluster_state.value`,
      args,
    },
  ];
}

/** For the sweep: while the whole fleet is silent, nothing is marked lost or down (see above). */
export function fleetSilentQuery(now: number, leaseTtlMs: number): InStatement {
  return { sql: `SELECT ${SILENT} AS silent, EXISTS (SELECT 1 FROM nodes WHERE status != 'down') AS fleet`, args: { now, silentSince: now - leaseTtlMs } };
}
