// Evaluations: the state view, the planner, the durable broker and the sweep, composed for one instance.
import type { ResolvedDeps } from "../context";
import type { FleetTiming } from "../leases/timing";
import { createBroker, type Broker } from "./broker";
import { evaluateJobs, type EvaluationSummary, type Serially } from "./evaluate";
import { runSweep, type SweepSummary } from "./sweep";
import { timedEvaluation } from "../metrics/evaluations";

export type { EvaluationSummary } from "./evaluate";
export type { SweepSummary } from "./sweep";
export { FENCE_MARGIN_MS, fenceWindow } from "./state-view";

export interface Evaluator extends Broker {
  /** Runs one evaluation of these jobs at once, outside the broker (no evaluation rows are read or written). */
  evaluateJobs(jobIds: readonly string[], trigger: string): Promise<EvaluationSummary>;
  /** The backstop sweep, then the due evaluations (what an instance's timer runs). */
  sweep(): Promise<SweepSummary>;
}

export function createEvaluator(deps: ResolvedDeps, timing: FleetTiming): Evaluator {
  // One evaluation attempt at a time per instance (read the view, write the plan), as Nomad's plan applier
  // serialises plans: two attempts of one instance interleaving their chunks would refuse each other's
  // placements. Instances still race each other; the store's conditions settle that.
  let tail: Promise<unknown> = Promise.resolve();
  const serially: Serially = (attempt) => {
    const run = tail.then(attempt, attempt);
    tail = run.catch(() => undefined);
    return run;
  };
  const evaluate = (jobIds: readonly string[], trigger: string) => timedEvaluation(deps.metrics, jobIds.length, () => evaluateJobs(deps, timing, serially, jobIds, trigger));
  const broker = createBroker(deps, timing, evaluate);

  // One sweep at a time per instance, whoever asks (the timer, a heartbeat that saw overdue work).
  let sweeping: Promise<SweepSummary> | null = null;
  const sweep = (): Promise<SweepSummary> => {
    sweeping ??= (async () => {
      try {
        const summary = await runSweep(deps, timing);
        await broker.drain();
        return summary;
      } finally {
        sweeping = null;
      }
    })();
    return sweeping;
  };
  return { ...broker, evaluateJobs: evaluate, sweep };
}
