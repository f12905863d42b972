// A node's status as seen now: the stored status, corrected by how long ago it last heartbeat.
// Time is data: a node that stopped heartbeating is disconnected, then down, without any sweep running.
import type { NodeRow } from "../../db/schema";

export type NodeState = "initializing" | "ready" | "down" | "disconnected" | "draining" | "ineligible";

/** A node is down once it has missed heartbeats for this many lease TTLs. */
export const DOWN_AFTER_TTLS = 3;
/** A node silent for this many heartbeat intervals takes no new work (it is quiet) before it is disconnected. */
export const QUIET_AFTER_INTERVALS = 2;

export function liveStatus(node: Pick<NodeRow, "status" | "lastHeartbeatAt">, now: number, leaseTtlMs: number): NodeRow["status"] {
  if (node.status !== "ready" && node.status !== "disconnected") return node.status;
  const silence = now - (node.lastHeartbeatAt ?? 0);
  if (silence > DOWN_AFTER_TTLS * leaseTtlMs) return "down";
  if (silence > leaseTtlMs) return "disconnected";
  return "ready";
}

/** The one word an operator sees: draining and ineligible show over a ready status. */
export function displayState(node: NodeRow, now: number, leaseTtlMs: number): NodeState {
  const status = liveStatus(node, now, leaseTtlMs);
  if (status !== "ready") return status;
  if (node.drainDeadline !== null) return "draining";
  if (!node.eligible) return "ineligible";
  return "ready";
}

/**
 * A node's status for placement: as liveStatus, but a quiet node (silent for QUIET_AFTER_INTERVALS heartbeat
 * intervals) takes no new work even before its lease TTL has passed — it is likely going, and work placed
 * there would wait out the whole TTL before being placed again.
 */
export function placeableStatus(stored: NodeRow["status"], lastHeartbeatAt: number | null, now: number, leaseTtlMs: number, heartbeatIntervalMs: number): NodeRow["status"] {
  const status = liveStatus({ status: stored, lastHeartbeatAt }, now, leaseTtlMs);
  if (status === "ready" && lastHeartbeatAt !== null && now - lastHeartbeatAt > QUIET_AFTER_INTERVALS * heartbeatIntervalMs) return "disconnected";
  return status;
}
