// Durable evaluations: the named statements of the broker. One row per job (see schema.ts `evaluations`):
// requests coalesce into it, an instance takes it under a visibility timeout, and completing it is
// conditional on the generation taken, so a request that arrived meanwhile makes it run once more.
import type { InStatement, ResultSet } from "@libsql/client";
import { HELD_SQL, LIVE_SQL, WAITING_SQL } from "./task-states";

type Args = Record<string, string | number | null>;

/** How many triggers a row remembers (most recent first), for people reading it. */
const TRIGGERS_KEPT = 200;

const UPSERT = `ON CONFLICT (job_id) DO UPDATE SET
    due_at = min(evaluations.due_at, excluded.due_at),
    generation = evaluations.generation + 1,
    triggers = substr(excluded.triggers || ',' || evaluations.triggers, 1, ${TRIGGERS_KEPT}),
    updated_at = excluded.updated_at`;

/**
 * The sweep's request: a job with a row keeps its generation (nothing new was asked for), but a row due
 * later (a reschedule delay, a min-healthy wait) is brought forward: the sweep found something due now.
 */
const BACKSTOP = `ON CONFLICT (job_id) DO UPDATE SET due_at = excluded.due_at, updated_at = excluded.updated_at
    WHERE excluded.due_at < evaluations.due_at`;

/**
 * Asks for an evaluation of every job id `jobsSql` selects (one column), due at `dueAt`, in whatever batch
 * makes the change that needs it. `jobsSql` may use the names in `args`. A `backstop` request (the sweep)
 * only brings an existing row forward: its work is tracked already.
 */
export function requestEvaluations(
  jobsSql: string,
  args: Args,
  e: { trigger: string; now: number; dueAt?: number; backstop?: boolean },
): InStatement {
  return {
    sql: `INSERT INTO evaluations (job_id, triggers, due_at, generation, created_at, updated_at)
          SELECT job_id, :evalTrigger, :evalDue, 1, :evalNow, :evalNow FROM (${jobsSql}) WHERE job_id IS NOT NULL
          ${e.backstop ? BACKSTOP : UPSERT}`,
    args: { ...args, evalTrigger: e.trigger, evalDue: e.dueAt ?? e.now, evalNow: e.now },
  };
}

/** An evaluation of one job, written only if `guard` (an SQL condition with positional arguments) holds. */
export function requestGuardedEvaluation(jobId: string, guard: { sql: string; args: (string | number | null)[] }, e: { trigger: string; now: number }): InStatement {
  return {
    sql: `INSERT INTO evaluations (job_id, triggers, due_at, generation, created_at, updated_at)
          SELECT ?, ?, ?, 1, ?, ? WHERE ${guard.sql} ${UPSERT}`,
    args: [jobId, e.trigger, e.now, e.now, e.now, ...guard.args],
  };
}

/** A running job's slot row `t` (of job `j`) that waits for a node: pending, lost, a failed or finished service task. */
const WAITING_ROW = `(t.desired = 'run' AND j.status = 'running' AND (t.state IN ${WAITING_SQL} OR (t.state IN ('failed', 'complete') AND j.type = 'service')))`;

/** Jobs whose slots wait for a node: capacity may suit them now. */
export const WAITING_JOBS = `SELECT DISTINCT t.job_id FROM tasks t JOIN jobs j ON j.id = t.job_id WHERE ${WAITING_ROW}`;

/** Jobs with live tasks on node `:evalNode`. */
export const JOBS_ON_NODE = `SELECT DISTINCT job_id FROM tasks WHERE node_id = :evalNode AND state IN ${LIVE_SQL}`;

/** An evaluation row an instance has taken. */
export interface TakenEvaluation {
  jobId: string;
  generation: number;
  triggers: string;
}

/** Takes up to `limit` due evaluations (or exactly these jobs' rows, when due or not) for `token` until `until`. */
export function takeEvaluations(p: {
  token: string;
  now: number;
  until: number;
  limit: number;
  jobIds?: readonly string[];
  /** Only if this holds (an SQL condition on named arguments): e.g. the write it rides with took. */
  guard?: { sql: string; args: Args };
}): InStatement {
  const which = p.jobIds
    ? "SELECT job_id FROM evaluations WHERE job_id IN (SELECT value FROM json_each(:jobs)) AND (claimed_until IS NULL OR claimed_until < :now)"
    : "SELECT job_id FROM evaluations WHERE due_at <= :now AND (claimed_until IS NULL OR claimed_until < :now) ORDER BY due_at LIMIT :limit";
  return {
    sql: `UPDATE evaluations SET claimed_by = :token, claimed_until = :until, updated_at = :now
          WHERE job_id IN (${which})${p.guard ? ` AND ${p.guard.sql}` : ""} RETURNING job_id, generation, triggers`,
    args: { ...(p.guard?.args ?? {}), token: p.token, now: p.now, until: p.until, limit: p.limit, jobs: JSON.stringify(p.jobIds ?? []) },
  };
}

export function takenEvaluations(result: ResultSet | undefined): TakenEvaluation[] {
  return (result?.rows ?? []).map((r) => ({ jobId: String(r["job_id"]), generation: Number(r["generation"]), triggers: String(r["triggers"]) }));
}

/**
 * Completes a taken evaluation: deleted if nothing asked for it since (`next` null), or due again at
 * `next` (a reschedule delay ends, or lost races). Asked for meanwhile: released, due at once.
 */
export function completeEvaluation(token: string, taken: TakenEvaluation, next: number | null, now: number): InStatement[] {
  const args = { token, job: taken.jobId, gen: taken.generation, next, now };
  return [
    ...(next === null ? [{ sql: "DELETE FROM evaluations WHERE job_id = :job AND claimed_by = :token AND generation = :gen", args }] : []),
    {
      // RETURNING: a row released due now was asked for again while it ran; the caller runs it again.
      sql: `UPDATE evaluations SET claimed_by = NULL, claimed_until = NULL, updated_at = :now,
              due_at = CASE WHEN generation = :gen AND :next IS NOT NULL THEN :next ELSE min(due_at, :now) END
            WHERE job_id = :job AND claimed_by = :token RETURNING due_at <= :now AS again`,
      args,
    },
  ];
}

/** A job deleted takes its evaluation row with it (in the delete's batch: only once the job is gone). */
export const deleteJobEvaluation = (jobId: string): InStatement => ({
  sql: "DELETE FROM evaluations WHERE job_id = ? AND NOT EXISTS (SELECT 1 FROM jobs WHERE id = ?)",
  args: [jobId, jobId],
});

/**
 * The backstop: every job not at its desired state. Lapsed leases; waiting slots; live tasks on nodes that
 * are down, draining or silent; placed tasks on quiet nodes; a stopped job still running something; and a
 * running job with slots missing, slots beyond `replicas`, or slots on an old version (a rollout not done).
 */
export function dueJobsSql(): string {
  return `SELECT DISTINCT t.job_id FROM tasks t JOIN jobs j ON j.id = t.job_id
      WHERE (t.state IN ${HELD_SQL} AND t.lease_expires_at < :now)
         OR ${WAITING_ROW}
         OR (t.state IN ${LIVE_SQL} AND t.node_id IN (SELECT id FROM nodes WHERE status = 'down' OR drain_deadline IS NOT NULL OR coalesce(last_heartbeat_at, 0) < :silent))
         OR (t.state = 'placed' AND t.node_id IN (SELECT id FROM nodes WHERE coalesce(last_heartbeat_at, 0) < :quiet))
         OR (j.status = 'stopped' AND t.desired = 'run' AND (t.state IN ${LIVE_SQL} OR t.state = 'pending'))
         OR (j.status = 'running' AND t.desired = 'run' AND t.version != j.version)
      UNION
      SELECT j.id FROM jobs j JOIN job_versions v ON v.job_id = j.id AND v.version = j.version
      WHERE j.status = 'running' AND (
        -- Regular slots only: canaries (slots -1 … -N) stand beside the count, not in it.
        (SELECT count(*) FROM tasks t WHERE t.job_id = j.id AND t.desired = 'run' AND t.slot >= 0 AND t.slot < coalesce(j.replicas, v.spec ->> '$.replicas')) < coalesce(j.replicas, v.spec ->> '$.replicas')
        OR EXISTS (SELECT 1 FROM tasks t WHERE t.job_id = j.id AND t.desired = 'run' AND t.slot >= coalesce(j.replicas, v.spec ->> '$.replicas')))`;
}
