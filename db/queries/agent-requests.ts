// The SQL of follows and execs (agent_requests, follow_chunks): handing them to agents, a follow's
// conditional chunk writes and its stream handler's reads, an exec's answer, and lapses computed on read.
//
// Invariants: a row is handed to its agent once (pending → sent, never back), and only while unexpired; a
// chunk is stored only for the follow's node, while the follow is sent and unexpired, at exactly its next
// sequence number, so chunks of one follow are contiguous and a stale or duplicate write stores nothing; an
// exec is answered once, by its node, before its expiry.
import type { InStatement, ResultSet } from "@libsql/client";
import { jsonCell } from "../batch";
import { OK_NODES } from "./heartbeat";

/** How long an exec's agent has to answer once it has it, beyond the command's own timeout. */
export const EXEC_ANSWER_GRACE_MS = 15_000;

const ORDER_ROW = "json_array(id, node_id, kind, task_id, json(spec), next_seq) AS r";

/**
 * The pending follows and execs of a heartbeat batch's nodes (:nodes, as OK_NODES reads it), marked sent: an
 * exec's expiry becomes its answer deadline. One statement for the whole batch, on the (node, status) index.
 */
export const PICK_UP_REQUESTS = `WITH ${OK_NODES} UPDATE agent_requests SET status = 'sent', updated_at = :now,
    expires_at = CASE kind WHEN 'exec' THEN :now + (spec ->> 'timeoutMs') + ${EXEC_ANSWER_GRACE_MS} ELSE expires_at END
  WHERE status = 'pending' AND node_id IN (SELECT id FROM ok) AND expires_at >= :now
  RETURNING ${ORDER_ROW}`;

/** Every follow of one node that is open now (after PICK_UP_REQUESTS, in the same batch: with its new ones). */
export const OPEN_FOLLOWS = `SELECT ${ORDER_ROW} FROM agent_requests
  WHERE node_id = :node AND status = 'sent' AND kind = 'follow' AND expires_at >= :now`;

/** Whether the node's credential generation is still current. */
export const NODE_CURRENT = "SELECT 1 AS ok FROM nodes WHERE id = :node AND credential_generation = :gen";

export type OrderRow = { id: string; nodeId: string; kind: "follow" | "exec"; taskId: string; spec: unknown; nextSeq: number };

export function orderRows(result: ResultSet | undefined): OrderRow[] {
  return (result?.rows ?? []).map((row) => {
    const [id, nodeId, kind, taskId, spec, nextSeq] = jsonCell<[string, string, "follow" | "exec", string, unknown, number]>(row, "r")!;
    return { id, nodeId, kind, taskId, spec, nextSeq };
  });
}

const CURRENT_NODE = "EXISTS (SELECT 1 FROM nodes WHERE id = :node AND credential_generation = :gen)";

/** A chunk of a follow, stored only on the conditions above; the second statement writes only if the first took. */
export function chunkWrite(args: { id: string; node: string; gen: number; seq: number; ended: boolean; body: string; now: number }): InStatement[] {
  return [
    {
      sql: `UPDATE agent_requests SET next_seq = next_seq + 1, updated_at = :now, status = CASE WHEN :ended THEN 'done' ELSE status END
            WHERE id = :id AND kind = 'follow' AND node_id = :node AND status = 'sent' AND expires_at >= :now AND next_seq = :seq AND ${CURRENT_NODE}`,
      args: { ...args, ended: args.ended ? 1 : 0 },
    },
    { sql: "INSERT INTO follow_chunks (follow_id, seq, body, created_at) SELECT :id, :seq, :body, :now WHERE changes() = 1", args },
  ];
}

/** Why a write by a node was refused: the row as it is, and whether the node's credential is current. */
export function refusalRead(args: { id: string; node: string; gen: number }): InStatement[] {
  return [
    { sql: "SELECT node_id, kind, status, expires_at, next_seq FROM agent_requests WHERE id = :id", args },
    { sql: NODE_CURRENT, args },
  ];
}

/** A follow's stream handler keeps its follows open while its client is connected; answers those still open. */
export function renewFollows(ids: string[], now: number, expiresAt: number): InStatement {
  return {
    sql: `UPDATE agent_requests SET expires_at = :expiresAt WHERE id IN (SELECT value FROM json_each(:ids))
          AND status IN ('pending', 'sent') AND expires_at >= :now RETURNING id`,
    args: { ids: JSON.stringify(ids), now, expiresAt },
  };
}

/** The handler's client went away: the agents stop at their next chunk or poll. */
export function closeFollows(ids: string[], now: number): InStatement[] {
  const args = { ids: JSON.stringify(ids), now };
  return [
    { sql: "UPDATE agent_requests SET status = 'closed', updated_at = :now WHERE id IN (SELECT value FROM json_each(:ids)) AND status IN ('pending', 'sent')", args },
    { sql: "DELETE FROM follow_chunks WHERE follow_id IN (SELECT value FROM json_each(:ids))", args },
  ];
}

/** Chunks the handler has sent, by the primary key. */
export function dropSentChunks(followId: string, throughSeq: number): InStatement {
  return { sql: "DELETE FROM follow_chunks WHERE follow_id = ? AND seq <= ?", args: [followId, throughSeq] };
}

/** A follow's chunks after the last one sent, in order. */
export function chunksAfter(followId: string, afterSeq: number, limit: number): InStatement {
  return { sql: "SELECT seq, body FROM follow_chunks WHERE follow_id = ? AND seq > ? ORDER BY seq LIMIT ?", args: [followId, afterSeq, limit] };
}

/** The follows' rows and their nodes' contact, for the status lines a stream shows. */
export function followStates(ids: string[]): InStatement {
  return {
    sql: `SELECT r.id, r.status, r.expires_at, n.status AS node_status, n.last_heartbeat_at FROM agent_requests r
          LEFT JOIN nodes n ON n.id = r.node_id WHERE r.id IN (SELECT value FROM json_each(:ids))`,
    args: { ids: JSON.stringify(ids) },
  };
}

/** An exec's answer, taken once, from its node, before its deadline; the command is dropped from the row. */
export function execAnswer(args: { id: string; node: string; gen: number; status: "done" | "failed"; result: string; message: string | null; now: number }): InStatement {
  return {
    sql: `UPDATE agent_requests SET status = :status, result = :result, message = :message, spec = json_remove(spec, '$.command'), updated_at = :now
          WHERE id = :id AND kind = 'exec' AND node_id = :node AND status = 'sent' AND expires_at >= :now AND ${CURRENT_NODE}`,
    args,
  };
}

/** An exec past its deadline fails, with the message for how far it got (the first write wins). */
export function lapseExec(args: { id: string; now: number; unclaimed: string; unanswered: string }): InStatement {
  return {
    sql: `UPDATE agent_requests SET status = 'failed', message = CASE status WHEN 'pending' THEN :unclaimed ELSE :unanswered END,
            spec = json_remove(spec, '$.command'), updated_at = :now
          WHERE id = :id AND kind = 'exec' AND status IN ('pending', 'sent') AND expires_at < :now`,
    args,
  };
}

/**
 * Rows and chunks past their retention, a bounded number per call: written beside each new request. A row
 * goes by its expiry (an open follow's keeps moving; an exec's is its deadline), a chunk by its age.
 */
export function dropOldRequests(expiredBefore: number, chunksBefore: number): InStatement[] {
  return [
    { sql: "DELETE FROM agent_requests WHERE id IN (SELECT id FROM agent_requests WHERE expires_at < ? LIMIT 100)", args: [expiredBefore] },
    { sql: "DELETE FROM follow_chunks WHERE rowid IN (SELECT rowid FROM follow_chunks WHERE created_at < ? LIMIT 500)", args: [chunksBefore] },
  ];
}

/** What a log request's pick-up returns: the tail's selection. */
export const TAIL_ORDER_COLUMNS = "id, node_id, task_id, tail, since_ms, timestamps, stream";
