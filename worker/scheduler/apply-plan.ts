// A pure model of the control plane applying a plan, for tests and simulations: the next SchedulerInput as
// the store would show it once every bucket of the plan has been written and nothing else has happened.
import { stopFreesAtOnce } from "./reconcile";
import type { Plan, Replacement, SchedulerInput, TaskView } from "./types";

export interface ApplyOptions {
  /** Id for a new task row; the default is derived from the evaluation, job, slot and version. */
  newTaskId?: (placement: Plan["place"][number], evalId: string) => string;
}

/**
 * lost → state lost at `at`; stop → desired stop, and state stopped only for a task no agent started (a leased
 * or running one keeps its state, and its node, until its agent reports it stopped); replace / migrate → same row on the new node,
 * state placed, epoch + 1, lease and health cleared; place → new row in state placed at epoch 1.
 * Delayed, failed and ignored tasks are left untouched, as the control plane would.
 */
export function applyPlan(input: SchedulerInput, plan: Plan, options: ApplyOptions = {}): SchedulerInput {
  const lost = new Map(plan.lost.map((l) => [l.taskId, l.at]));
  const stopped = new Set(plan.stop.map((s) => s.taskId));
  const moved = new Map<string, Replacement>();
  for (const r of plan.replace) moved.set(r.taskId, r);
  for (const r of plan.migrate) moved.set(r.taskId, r);

  const tasks = input.tasks.map((t): TaskView => {
    let next = t;
    const at = lost.get(t.id);
    if (at !== undefined) next = { ...next, state: "lost", lostAt: at, healthy: null };
    if (stopped.has(t.id)) next = stopFreesAtOnce(next) || next.state === "lost" ? { ...next, state: "stopped", desired: "stop" } : { ...next, desired: "stop" };
    const m = moved.get(t.id);
    if (m !== undefined) {
      next = {
        ...next,
        nodeId: m.nodeId,
        state: "placed",
        epoch: next.epoch + 1,
        leaseExpiresAt: null,
        attempt: m.attempt,
        attemptSince: m.attemptSince,
        lostAt: null,
        healthy: null,
        hostPorts: [...m.hostPorts],
      };
    }
    return next;
  });

  const newTaskId = options.newTaskId ?? ((p, evalId) => `${evalId}/${p.jobId}/${p.slot}/v${p.version}`);
  for (const p of plan.place) {
    tasks.push({
      id: newTaskId(p, plan.evalId),
      jobId: p.jobId,
      slot: p.slot,
      version: p.version,
      nodeId: p.nodeId,
      state: "placed",
      desired: "run",
      epoch: 1,
      leaseExpiresAt: null,
      attempt: 0,
      attemptSince: null,
      lostAt: null,
      healthy: null,
      resources: { ...p.resources },
      hostPorts: [...p.hostPorts],
    });
  }
  return { ...input, tasks };
}
