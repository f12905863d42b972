// What agents are handed: log tails, follows and execs, as heartbeat replies and the request poll carry them.
import type { InStatement, InValue, ResultSet } from "@libsql/client";
import type { ExecOrder, FollowOrder, LogSelection } from "../../api/agent-requests";
import type { HeartbeatResponse } from "../../api/agent-protocol";
import { orderRows, PICK_UP_REQUESTS, type OrderRow } from "../../db/queries/agent-requests";

export interface AgentOrders {
  follows: FollowOrder[];
  execs: ExecOrder[];
}

/** The statement a heartbeat batch adds: its nodes' pending follows and execs, handed over. */
export function pickUpRequests(args: Record<string, InValue>): InStatement {
  return { sql: PICK_UP_REQUESTS, args };
}

export function followOrder(row: OrderRow): FollowOrder {
  const spec = row.spec as LogSelection;
  return { id: row.id, taskId: row.taskId, nextSeq: row.nextSeq, ...selectionOf(spec) };
}

function execOrder(row: OrderRow): ExecOrder {
  const spec = row.spec as { command: string[]; timeoutMs: number };
  return { id: row.id, taskId: row.taskId, command: spec.command, timeoutMs: spec.timeoutMs };
}

/** The orders of one node among the rows a pick-up returned for a whole batch. */
export function ordersOf(result: ResultSet | undefined, nodeId: string): AgentOrders {
  const rows = orderRows(result).filter((r) => r.nodeId === nodeId);
  return { follows: rows.filter((r) => r.kind === "follow").map(followOrder), execs: rows.filter((r) => r.kind === "exec").map(execOrder) };
}

/** Heartbeat reply fields for the orders: absent when there are none, so a quiet heartbeat stays as small. */
export function ordersReply(orders: AgentOrders): Pick<HeartbeatResponse, "follows" | "execs"> {
  return { ...(orders.follows.length > 0 ? { follows: orders.follows } : {}), ...(orders.execs.length > 0 ? { execs: orders.execs } : {}) };
}

/** The log requests of one node among the rows the tail pick-up returned (TAIL_ORDER_COLUMNS). */
export function tailOrdersOf(result: ResultSet | undefined, nodeId: string): HeartbeatResponse["logRequests"] {
  return (result?.rows ?? [])
    .filter((r) => r["node_id"] === nodeId)
    .map((r) => ({
      id: String(r["id"]),
      taskId: String(r["task_id"]),
      ...selectionOf({
        tail: Number(r["tail"]),
        ...(r["since_ms"] !== null && r["since_ms"] !== undefined ? { sinceMs: Number(r["since_ms"]) } : {}),
        ...(Number(r["timestamps"]) === 1 ? { timestamps: true } : {}),
        ...(r["stream"] === "stdout" || r["stream"] === "stderr" ? { stream: r["stream"] } : {}),
      }),
    }));
}

/** A selection without its unset options: agents before them see the request they always did. */
function selectionOf(s: LogSelection): LogSelection {
  return { tail: s.tail, ...(s.sinceMs !== undefined ? { sinceMs: s.sinceMs } : {}), ...(s.timestamps ? { timestamps: true } : {}), ...(s.stream ? { stream: s.stream } : {}) };
}
