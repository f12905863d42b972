// A node's status as seen now: the stored status, corrected by how long ago it last heartbeat.
// Time is data: a node that stopped heartbeating is disconnected, then down, without any sweep running.
import type { NodeRow } from "../../db/schema";

export type NodeState = "initializing" | "ready" | "down" | "disconnected" | "draining" | "ineligible";

/** A node is down once it has missed heartbeats for this many lease TTLs. */
export const DOWN_AFTER_TTLS = 3;

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
