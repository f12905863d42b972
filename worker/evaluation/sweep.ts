// The sweep, the backstop: marks silent nodes down, finalizes stops whose leases lapsed, completes drains,
// and asks for an evaluation of every job not at its desired state. It never evaluates by itself: the
// broker runs what it asked for, so a crash between the two loses nothing.
import { writeBatch } from "../../db/batch";
import { dueJobsSql, requestEvaluations } from "../../db/queries/evaluations";
import { HELD_SQL, LIVE_SQL } from "../../db/queries/task-states";
import type { ResolvedDeps } from "../context";
import { fleetSilentQuery } from "../leases/recovery";
import type { FleetTiming } from "../leases/timing";
import { DOWN_AFTER_TTLS, QUIET_AFTER_INTERVALS } from "../nodes/status";

export interface SweepSummary {
  nodesDown: number;
  tasksFinalized: number;
  drainsCompleted: number;
  /** Jobs the sweep found not at their desired state with no evaluation asked for. */
  requested: number;
}

export async function runSweep(deps: ResolvedDeps, timing: FleetTiming): Promise<SweepSummary> {
  const { store, clock } = deps;
  await clock.sync(store.client);
  const now = clock.now();
  const { leaseTtlMs, heartbeatIntervalMs } = await timing.current();
  // After a silence of the whole fleet, wait for the first heartbeat: it extends leases (see recovery.ts).
  const silence = await store.client.execute(fleetSilentQuery(now, leaseTtlMs));
  if (Number(silence.rows[0]?.["silent"]) === 1) return { nodesDown: 0, tasksFinalized: 0, drainsCompleted: 0, requested: 0 };
  // A drain is complete when the node holds nothing: it stays ineligible until an operator says otherwise.
  const drainDone = `drain_deadline IS NOT NULL AND NOT EXISTS (SELECT 1 FROM tasks WHERE node_id = nodes.id AND state IN ${LIVE_SQL})`;
  const storeClock = clock.inBatch();
  const [storeClockResult, down, finalized, finalizedUnstarted, , drained, requested] = await writeBatch(store.client, [
    storeClock.statement,
    {
      sql: `UPDATE nodes SET status = 'down', updated_at = ? WHERE status IN ('ready', 'initializing', 'disconnected') AND coalesce(last_heartbeat_at, created_at) < ? RETURNING id`,
      args: [now, now - DOWN_AFTER_TTLS * leaseTtlMs],
    },
    // A task told to stop whose lease lapsed is stopped: its agent is fenced out either way (the expiry
    // includes the fence window of a self-fencing task, so its agent has stopped it by now).
    {
      sql: `UPDATE tasks SET state = 'stopped', updated_at = ? WHERE desired = 'stop'
              AND ((state IN ${HELD_SQL} AND lease_expires_at < ?) OR (state = 'lost' AND coalesce(lost_at, 0) <= ?))`,
      args: [now, now, now],
    },
    { sql: `UPDATE tasks SET state = 'stopped', updated_at = ? WHERE desired = 'stop' AND state IN ('placed', 'pending')`, args: [now] },
    // The event first, on the same condition as the update after it, in the same transaction.
    {
      sql: `INSERT INTO events (at, node_id, type, message)
            SELECT ?, id, 'node.drained', 'drain of ' || name || ' complete; node is ineligible' FROM nodes WHERE ${drainDone}`,
      args: [now],
    },
    { sql: `UPDATE nodes SET drain_deadline = NULL, eligible = 0, updated_at = ? WHERE ${drainDone} RETURNING id`, args: [now] },
    requestEvaluations(dueJobsSql(), { now, silent: now - leaseTtlMs, quiet: now - QUIET_AFTER_INTERVALS * heartbeatIntervalMs }, { trigger: "sweep", now, backstop: true }),
  ]);
  storeClock.take(storeClockResult);
  return {
    nodesDown: down?.rows.length ?? 0,
    tasksFinalized: (finalized?.rowsAffected ?? 0) + (finalizedUnstarted?.rowsAffected ?? 0),
    drainsCompleted: drained?.rows.length ?? 0,
    requested: requested?.rowsAffected ?? 0,
  };
}
