// One evaluation: read the state view, run the pure scheduler, submit the plan; again while the store
// refused part of it and the attempts make progress.
import type { ResolvedDeps } from "../context";
import type { FleetTiming } from "../leases/timing";
import { writeBatch } from "../../db/batch";
import { revertDeployment, watchDeployments } from "../deployments/watch";
import { schedule } from "../scheduler";
import { planStatements, submitPlan, type Counter } from "./planner";
import { retryMax } from "./retry";
import { countPlacementFailures } from "../metrics/evaluations";
import type { PlacementFailure } from "../scheduler/types";
import { loadView } from "./state-view";

export interface EvaluationSummary {
  evalId: string;
  trigger: string;
  placed: number;
  replaced: number;
  migrated: number;
  stopped: number;
  lost: number;
  unplaced: { jobId: string; slot: number; reason: string }[];
  attempts: number;
  roundTrips: number;
  /** Set when the plan kept losing races with other instances and was given up for now (nothing failed). */
  deferred?: string;
  /**
   * Jobs with work held back by time — a replacement's reschedule delay, or a rollout waiting for a new copy's
   * min healthy time — and when the first of it is due.
   */
  nextDue: Record<string, number>;
}

/** Retries after a lost race; the count resets whenever an attempt made progress. */
const MAX_FRUITLESS_ATTEMPTS = 4;
const MAX_ATTEMPTS = 20;

/** Serialises evaluation attempts within one instance (see createEvaluator). */
export type Serially = <T>(attempt: () => Promise<T>) => Promise<T>;

export async function evaluateJobs(deps: ResolvedDeps, timing: FleetTiming, serially: Serially, jobIds: readonly string[], trigger: string): Promise<EvaluationSummary> {
  const ids = [...new Set(jobIds)];
  const summary: EvaluationSummary = { evalId: deps.newId(), trigger, placed: 0, replaced: 0, migrated: 0, stopped: 0, lost: 0, unplaced: [], attempts: 0, roundTrips: 0, nextDue: {} };
  if (ids.length === 0) return summary;
  // The last plan's: an attempt retried plans the same slots again, and each is counted once.
  let unplaced: readonly PlacementFailure[] = [];
  const outcome = await retryMax(MAX_FRUITLESS_ATTEMPTS, MAX_ATTEMPTS, (n) => serially(() => attempt(n)));
  summary.attempts = outcome.attempts;
  countPlacementFailures(deps.metrics, unplaced);
  if (!outcome.done && outcome.value !== null) {
    // The jobs are stored and nothing failed: their placement lost every race so far. Their evaluation
    // rows stay, so another attempt follows.
    deps.log("evaluation deferred after lost races", { evalId: summary.evalId, jobs: ids, reason: outcome.value instanceof Error ? outcome.value.message : String(outcome.value) });
    summary.deferred = "placement kept losing races with other control-plane instances; it goes on in the background";
  }
  return summary;

  async function attempt(n: number): Promise<{ done: boolean; progress: boolean; value: unknown }> {
    const view = await loadView(deps, ids, `${summary.evalId}:${n}`, await timing.current());
    summary.roundTrips++;
    // Deployments first: their gates say what the reconciler may roll, and a deployment that has just
    // failed must roll nothing more in this same plan.
    const rollouts = watchDeployments(view);
    if (rollouts.statements.length > 0) {
      const results = await writeBatch(deps.store.client, rollouts.statements);
      summary.roundTrips++;
      // A deployment changed since the view was read (a pause, a promote, another instance): read again.
      if (rollouts.checks.some((i) => results[i]?.rowsAffected === 0)) return { done: false, progress: false, value: new Error("a deployment changed while it was assessed") };
    }
    if (rollouts.reverts.length > 0) {
      // A revert writes a new version: plan against it, not against the version that failed.
      let reverted = false;
      for (const d of rollouts.reverts) {
        const replicas = view.jobs.find((j) => j.id === d.jobId)?.replicas ?? 0;
        const version = await revertDeployment(deps, d, replicas);
        summary.roundTrips += 2;
        if (version !== null) {
          reverted = true;
          deps.log("deployment failed; reverted", { evalId: summary.evalId, jobId: d.jobId, deployment: d.id, version });
        }
      }
      if (reverted) return { done: false, progress: true, value: null };
    }
    const plan = schedule(view);
    unplaced = plan.unplaced;
    summary.unplaced = plan.unplaced.map((u) => ({ jobId: u.jobId, slot: u.slot, reason: u.reason }));
    const jobOf = new Map(view.tasks.map((t) => [t.id, t.jobId]));
    summary.nextDue = {};
    const due = (jobId: string | undefined, at: number) => {
      if (jobId !== undefined) summary.nextDue[jobId] = Math.min(summary.nextDue[jobId] ?? Number.POSITIVE_INFINITY, at);
    };
    for (const d of plan.delayed) due(jobOf.get(d.taskId), d.until);
    for (const w of plan.wake) due(w.jobId, w.at);
    for (const [jobId, at] of rollouts.wake) due(jobId, at);
    const writes = planStatements(plan, view, deps.newId);
    if (writes.statements.length === 0) return { done: true, progress: false, value: null };
    const submitted = await submitPlan(deps, writes, () => summary.roundTrips++);
    let made = 0;
    for (const [counter, count] of Object.entries(submitted.counts) as [Counter, number][]) {
      summary[counter] += count;
      made += count;
    }
    if (submitted.refused !== null) {
      deps.log("plan refused by the store; evaluating again", { evalId: summary.evalId, attempt: n, reason: submitted.refused instanceof Error ? submitted.refused.message : String(submitted.refused), place: plan.place.length, replace: plan.replace.length, migrate: plan.migrate.length, committed: made });
      return { done: false, progress: made > 0, value: submitted.refused };
    }
    return { done: submitted.missed === 0, progress: made > 0, value: null };
  }
}
