// The plan's writes: one conditional statement per bucket entry. Each is guarded on the epoch (and, where it
// matters, the expiry) the plan read, so a plan built on stale state changes nothing it should not.
import type { InStatement } from "@libsql/client";
import { HELD_SQL, LIVE_SQL } from "./task-states";

/** Guarded on the expiry that was read: a heartbeat that renewed the lease since keeps its task. */
export const markLost = (p: { taskId: string; epoch: number; leaseExpiresAt: number | null; at: number; now: number }): InStatement => ({
  sql: `UPDATE tasks SET state = 'lost', lost_at = ?, updated_at = ? WHERE id = ? AND epoch = ? AND state IN ${LIVE_SQL} AND lease_expires_at IS ?`,
  args: [p.at, p.now, p.taskId, p.epoch, p.leaseExpiresAt],
});

/**
 * Never leased: nothing runs, so it is stopped outright. Leased: the agent is told and reports back. Lost
 * with its loss still ahead (its node was taken over): it stays lost, so it goes on fencing its slot.
 */
export const askStop = (p: { taskId: string; epoch: number; now: number }): InStatement => ({
  sql: `UPDATE tasks SET desired = 'stop', updated_at = ?,
          state = CASE WHEN state IN ('placed', 'pending') OR (state = 'lost' AND coalesce(lost_at, 0) <= ?) THEN 'stopped' ELSE state END
        WHERE id = ? AND epoch = ? AND desired = 'run'`,
  args: [p.now, p.now, p.taskId, p.epoch],
});

export interface NewRow {
  id: string;
  jobId: string;
  namespace: string;
  slot: number;
  version: number;
  nodeId: string | null;
  cpu: number;
  memory: number;
  hostPorts: number[];
  fenceMs: number;
  startFirst: boolean;
  message: string | null;
  now: number;
}

/** A new row for a slot: placed on a node, or pending when none can take it yet. One desired-run row per slot. */
export const insertSlot = (r: NewRow): InStatement => ({
  sql: `INSERT INTO tasks (id, job_id, namespace, slot, version, node_id, state, desired, epoch, cpu, memory, host_ports, fence_ms, start_first, message, placed_at, created_at, updated_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, 'run', 1, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (job_id, slot) WHERE desired = 'run' DO NOTHING`,
  args: [r.id, r.jobId, r.namespace, r.slot, r.version, r.nodeId, r.nodeId === null ? "pending" : "placed", r.cpu, r.memory, JSON.stringify(r.hostPorts), r.fenceMs, r.startFirst ? 1 : 0, r.message, r.nodeId === null ? null : r.now, r.now, r.now],
});

/**
 * The same row on another node at the next epoch. Fencing: a row an agent holds (leased, running) is never
 * moved in place unless its job chose start-first (a lost row was marked so earlier in the same batch), nor
 * a row lost with its loss still ahead (a node taken over since the plan read it as placed).
 */
export const moveRow = (p: {
  taskId: string;
  epoch: number;
  nodeId: string;
  attempt: number;
  attemptSince: number | null;
  hostPorts: number[];
  startFirst: boolean;
  now: number;
}): InStatement => ({
  // A failed copy's last error stays as the message until the new copy's agent reports its own.
  sql: `UPDATE tasks SET node_id = ?, epoch = epoch + 1, state = 'placed', attempt = ?, attempt_since = ?, lease_expires_at = NULL, health = NULL,
          healthy_at = NULL, exit_code = NULL, restarts = 0, host_ports = ?, bound_ports = '[]',
          message = CASE WHEN state = 'failed' AND message IS NOT NULL THEN 'previous copy failed: ' || message END, start_first = ?, placed_at = ?, updated_at = ?
        WHERE id = ? AND epoch = ? AND desired = 'run' AND (state NOT IN ${HELD_SQL} OR ? = 1)
          AND (state != 'lost' OR coalesce(lost_at, 0) <= ?)`,
  args: [p.nodeId, p.attempt, p.attemptSince, JSON.stringify(p.hostPorts), p.startFirst ? 1 : 0, p.now, p.now, p.taskId, p.epoch, p.startFirst ? 1 : 0, p.now],
});

/**
 * A slot given up on: failed for good, its message the reason followed by the copy's own last error. Written
 * once: a row whose message already starts with the reason is left alone (the reason is stable for a row).
 */
export const markFailed = (p: { taskId: string; epoch: number; reason: string; now: number }): InStatement => ({
  sql: `UPDATE tasks SET state = 'failed', message = ?1 || coalesce('; last error: ' || message, ''), updated_at = ?2
        WHERE id = ?3 AND epoch = ?4 AND substr(coalesce(message, ''), 1, length(?1)) != ?1`,
  args: [p.reason, p.now, p.taskId, p.epoch],
});
