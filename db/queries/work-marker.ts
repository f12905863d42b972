// Work markers (nodes.work_seq, moved by the triggers of migration 0009): the reads that find nodes whose
// marker moved, for claims waiting on them. Both are index reads whose size is the work that happened.
import type { InStatement, ResultSet } from "@libsql/client";
import { jsonCell } from "../batch";
import { HELD_SQL } from "./task-states";

/** Most moved markers read at once; past it the reader takes the rest on its next read. */
export const MOVED_LIMIT = 1_000;

/** The nodes whose marker passed `since`, fleet-wide, oldest move first: a range of the work_seq index. */
export const movedSince = (since: number): InStatement => ({
  sql: `SELECT json_group_array(json_array(id, work_seq)) AS v FROM (SELECT id, work_seq FROM nodes WHERE work_seq > ? ORDER BY work_seq LIMIT ${MOVED_LIMIT})`,
  args: [since],
});

/** The same, among a few nodes only: one primary-key read each. */
export const movedAmong = (nodeIds: string[], since: number): InStatement => ({
  sql: `SELECT json_group_array(json_array(id, work_seq)) AS v FROM nodes WHERE id IN (SELECT value FROM json_each(?)) AND work_seq > ?`,
  args: [JSON.stringify(nodeIds), since],
});

export function movedMarkers(result: ResultSet | undefined): [nodeId: string, workSeq: number][] {
  return jsonCell<[string, number][]>(result?.rows[0], "v") ?? [];
}

/**
 * The node's marker and the sequence's top, read in the claim's own batch: a claim that waits after it
 * wakes for a marker above that top, so nothing written after its read can slip past it. Checks the
 * credential as well (no row: it is no longer the node's).
 */
export const markerOf = (args: { node: string; gen: number }): InStatement => ({
  sql: "SELECT work_seq AS seq, (SELECT coalesce(max(work_seq), 0) FROM nodes) AS top FROM nodes WHERE id = :node AND credential_generation = :gen",
  args,
});

export function decodeMarker(result: ResultSet | undefined): { seq: number; top: number } | null {
  const row = result?.rows[0];
  return row ? { seq: Number(row["seq"]), top: Number(row["top"]) } : null;
}

/**
 * Stop orders for a node: copies it holds under an unexpired lease that are asked to stop (the heartbeat
 * revokes the same rows with reason "stopped").
 */
export const stopOrdersOf = (args: { node: string; now: number }): InStatement => ({
  sql: `SELECT json_group_array(json_array(id, epoch)) AS v FROM tasks
        WHERE node_id = :node AND state IN ${HELD_SQL} AND desired = 'stop' AND lease_expires_at >= :now`,
  args,
});

export function decodeStopOrders(result: ResultSet | undefined): { taskId: string; epoch: number }[] {
  return (jsonCell<[string, number][]>(result?.rows[0], "v") ?? []).map(([taskId, epoch]) => ({ taskId, epoch }));
}
