// An exec's life in the store: queued for its task's agent, answered once, or failed at its deadline.
// The deadline is computed from the row when read (no background loop): an exec nobody picked up, or
// whose agent never answered, fails on the first read past it, and a late answer is refused.
//
// What is kept of the command: the row holds it only until the exec ends (the agent needs it to run it);
// the audit trail holds its first word, its argument count and a SHA-256 of the whole argv, never the
// arguments themselves, which may carry secrets (GET /v1/audit serves every detail to admins).
import { eq } from "drizzle-orm";
import type { ExecView } from "../../api/agent-requests";
import { writeBatch } from "../../db/batch";
import { EXEC_ANSWER_GRACE_MS, lapseExec } from "../../db/queries/agent-requests";
import { agentRequests } from "../../db/schema";
import type { Db } from "../../db/store";
import type { ResolvedDeps } from "../context";
import { sha256Hex } from "../hash";

/** How long an exec waits to be picked up: a few heartbeats of the fleet, and never less than 30 s. */
export function pickUpWindowMs(heartbeatIntervalMs: number): number {
  return Math.max(30_000, 3 * heartbeatIntervalMs);
}

/** The audit detail of an exec request (see the header: no arguments). */
export async function execAuditDetail(command: string[], target: { taskId: string; nodeId: string }, timeoutMs: number) {
  return { task: target.taskId, node: target.nodeId, argv0: command[0], args: command.length - 1, sha256: await sha256Hex(JSON.stringify(command)), timeoutMs };
}

type ExecRow = typeof agentRequests.$inferSelect;

interface StoredResult {
  exitCode: number | null;
  stdout: string;
  stderr: string;
  truncated: boolean;
  timedOut: boolean;
}

export function execView(row: ExecRow): ExecView {
  const result = (row.result ?? null) as StoredResult | null;
  return {
    id: row.id,
    taskId: row.taskId,
    nodeId: row.nodeId,
    status: row.status === "closed" ? "failed" : row.status,
    exitCode: result?.exitCode ?? null,
    stdout: result?.stdout ?? "",
    stderr: result?.stderr ?? "",
    truncated: result?.truncated ?? false,
    timedOut: result?.timedOut ?? false,
    error: row.message,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

/** The exec as stored, without judging its deadline (for the RBAC check before anything is written). */
export async function findExec(db: Db, id: string): Promise<ExecRow | undefined> {
  const [row] = await db.select().from(agentRequests).where(eq(agentRequests.id, id)).limit(1);
  return row?.kind === "exec" ? row : undefined;
}

/** The exec as it stands now: past its deadline it fails (the first reader writes that, conditionally). */
export async function readExec(deps: ResolvedDeps, id: string): Promise<ExecRow | undefined> {
  const row = await findExec(deps.store.db, id);
  if (!row || (row.status !== "pending" && row.status !== "sent")) return row;
  const now = deps.clock.now();
  if (row.expiresAt >= now) return row;
  const timeoutMs = Number((row.spec as { timeoutMs?: number }).timeoutMs ?? 0);
  await writeBatch(deps.store.client, [
    lapseExec({
      id,
      now,
      unclaimed: "no agent picked the command up in time: is the task's node connected? (agents pick requests up with their heartbeat)",
      unanswered: `the agent took the command but sent no answer within its timeout (${Math.round(timeoutMs / 1000)}s) and ${EXEC_ANSWER_GRACE_MS / 1000}s more`,
    }),
  ]);
  return findExec(deps.store.db, id);
}

export const isSettled = (row: ExecRow) => row.status !== "pending" && row.status !== "sent";
