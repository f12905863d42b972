// The planner: writes a plan with conditional statements (epoch-guarded updates, the slot-unique index,
// the placement-guard triggers) and returns what took. Several instances may plan at once: a plan built on
// stale state either changes nothing or is refused in part, and its evaluation runs again.
import type { InStatement, ResultSet } from "@libsql/client";
import { isConstraintError, writeBatch } from "../../db/batch";
import { askStop, insertSlot, markFailed, markLost, moveRow } from "../../db/queries/plan";
import { CHANGED, eventRow } from "../audit";
import type { ResolvedDeps } from "../context";
import type { Plan } from "../scheduler";
import type { StateView } from "./state-view";

export type Counter = "placed" | "replaced" | "migrated" | "stopped" | "lost";

export interface PlanWrites {
  statements: InStatement[];
  /** Whether statement i may start a chunk: an event guarded by CHANGED stays with the write before it. */
  startsGroup: boolean[];
  checks: { index: number; counter: Counter }[];
  /** Nodes given placements or stop orders: their waiting claims here are woken once the plan is written. */
  nodesWithWork: Set<string>;
}

export interface Submitted {
  counts: Record<Counter, number>;
  /** Guarded writes that changed nothing: the plan was built on state that has moved on. */
  missed: number;
  /** Set when a placement guard or the slot index refused part of the plan. */
  refused: unknown;
}

/** Statements per write batch when a plan is large. */
const PLAN_CHUNK = 1_000;

/** The plan as conditional statements, with which results to check and what they count. */
export function planStatements(plan: Plan, view: StateView, newId: () => string): PlanWrites {
  const { now } = view;
  const statements: InStatement[] = [];
  const startsGroup: boolean[] = [];
  const checks: PlanWrites["checks"] = [];
  const nodesWithWork = new Set<string>();
  const tasksById = new Map(view.tasks.map((t) => [t.id, t]));
  const jobsById = new Map(view.jobs.map((j) => [j.id, j]));
  const push = (s: InStatement, counter?: Counter) => {
    if (counter) checks.push({ index: statements.length, counter });
    startsGroup.push(typeof s === "string" || !s.sql.includes(CHANGED.sql));
    statements.push(s);
  };
  const nsOf = (jobId: string) => jobsById.get(jobId)?.namespace ?? null;
  const row = (jobId: string, slot: number, version: number, nodeId: string | null, message: string | null) => {
    const job = jobsById.get(jobId);
    if (!job) return null;
    const r = { id: newId(), jobId, namespace: job.namespace, slot, version, nodeId, cpu: job.resources.cpu, memory: job.resources.memory, hostPorts: [] as number[], fenceMs: view.fenceMs.get(jobId) ?? 0, startFirst: view.startFirst.has(jobId), message, now };
    return r;
  };

  for (const lost of plan.lost) {
    const t = tasksById.get(lost.taskId);
    if (!t) continue;
    push(markLost({ taskId: t.id, epoch: t.epoch, leaseExpiresAt: t.leaseExpiresAt, at: lost.at, now }), "lost");
    push(eventRow(now, { type: "task.lost", message: `lease at epoch ${t.epoch} lapsed`, namespace: nsOf(t.jobId), jobId: t.jobId, taskId: t.id, nodeId: t.nodeId }, CHANGED));
  }
  for (const stop of plan.stop) {
    const t = tasksById.get(stop.taskId);
    if (!t) continue;
    push(askStop({ taskId: t.id, epoch: t.epoch, now }), "stopped");
    push(eventRow(now, { type: "task.stop", message: `stopping: ${stop.reason}`, namespace: nsOf(t.jobId), jobId: t.jobId, taskId: t.id, nodeId: t.nodeId }, CHANGED));
    // The node's claim carries the order (its marker moves in the store; this wakes it here at once).
    if (t.nodeId !== null) nodesWithWork.add(t.nodeId);
  }
  for (const p of plan.place) {
    const r = row(p.jobId, p.slot, p.version, p.nodeId, null);
    if (!r) continue;
    push(insertSlot({ ...r, cpu: p.resources.cpu, memory: p.resources.memory, hostPorts: p.hostPorts }), "placed");
    push(eventRow(now, { type: "task.placed", message: `slot ${p.slot} v${p.version} placed`, namespace: r.namespace, jobId: p.jobId, taskId: r.id, nodeId: p.nodeId }, CHANGED));
    nodesWithWork.add(p.nodeId);
  }
  for (const [bucket, counter] of [[plan.replace, "replaced"], [plan.migrate, "migrated"]] as const) {
    for (const m of bucket) {
      const t = tasksById.get(m.taskId);
      if (!t) continue;
      push(
        moveRow({ taskId: t.id, epoch: t.epoch, nodeId: m.nodeId, attempt: m.attempt, attemptSince: m.attemptSince, hostPorts: m.hostPorts, startFirst: view.startFirst.has(t.jobId), now }),
        counter,
      );
      push(eventRow(now, { type: "task.replaced", message: `re-placed at epoch ${t.epoch + 1} (${m.reason})`, namespace: nsOf(t.jobId), jobId: t.jobId, taskId: t.id, nodeId: m.nodeId }, CHANGED));
      nodesWithWork.add(m.nodeId);
    }
  }
  for (const f of plan.failed) {
    const t = tasksById.get(f.taskId);
    if (!t) continue;
    push(markFailed({ taskId: t.id, epoch: t.epoch, reason: f.reason, now }));
    push(eventRow(now, { type: "task.given-up", message: f.reason, namespace: nsOf(t.jobId), jobId: t.jobId, taskId: t.id, nodeId: t.nodeId }, CHANGED));
  }
  // Slots no node can take yet wait as pending rows, so capacity appearing later finds them.
  for (const u of plan.unplaced) {
    if (u.taskId) continue;
    const job = jobsById.get(u.jobId);
    const r = job ? row(u.jobId, u.slot, job.version, null, u.reason) : null;
    if (r) push(insertSlot(r));
  }
  return { statements, startsGroup, checks, nodesWithWork };
}

/** [from, to) ranges of at most `size` statements, cut only where a statement starts a group. */
export function* chunks(length: number, startsGroup: boolean[], size: number): Generator<[number, number]> {
  let from = 0;
  while (from < length) {
    let to = Math.min(length, from + size);
    while (to < length && !startsGroup[to]) to++;
    yield [from, to];
    from = to;
  }
}

/**
 * Writes the plan. Large plans go in chunks, yielding between them: with an embedded engine one huge batch
 * would block every heartbeat for its whole duration. Each statement is conditional on its own, so a chunk
 * that commits is valid without the rest; a refused chunk ends the write and the evaluation runs again.
 */
export async function submitPlan(deps: ResolvedDeps, writes: PlanWrites, onRoundTrip: () => void): Promise<Submitted> {
  const results: ResultSet[] = [];
  let refused: unknown = null;
  for (const [from, to] of chunks(writes.statements.length, writes.startsGroup, PLAN_CHUNK)) {
    try {
      results.push(...(await writeBatch(deps.store.client, writes.statements.slice(from, to))));
    } catch (err) {
      if (!isConstraintError(err)) throw err;
      refused = err;
      break;
    } finally {
      onRoundTrip();
    }
    if (to < writes.statements.length) await new Promise<void>((resolve) => setTimeout(resolve, 0));
  }
  const counts: Record<Counter, number> = { placed: 0, replaced: 0, migrated: 0, stopped: 0, lost: 0 };
  let missed = 0;
  for (const check of writes.checks) {
    const result = results[check.index];
    if (result === undefined) continue;
    if (result.rowsAffected === 0) missed++;
    else counts[check.counter]++;
  }
  for (const nodeId of writes.nodesWithWork) deps.signal.notify(nodeId);
  return { counts, missed, refused };
}
