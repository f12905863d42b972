// What evaluations count: each one's result, duration and retries, and the slots it could not place.
import type { EvaluationSummary } from "../evaluation/evaluate";
import { failureKind } from "../scheduler/reasons";
import type { PlacementFailure } from "../scheduler/types";
import { secondsSince, type Metrics } from "./metrics";

/** Runs one evaluation of `jobCount` jobs, counted; one of no jobs (nothing was taken) is not an evaluation. */
export async function timedEvaluation(metrics: Metrics, jobCount: number, run: () => Promise<EvaluationSummary>): Promise<EvaluationSummary> {
  if (jobCount === 0) return run();
  const started = performance.now();
  try {
    const summary = await run();
    metrics.inc("leasehold_evaluations_total", { result: summary.deferred ? "deferred" : "done" });
    if (summary.attempts > 1) metrics.inc("leasehold_evaluation_retries_total", {}, summary.attempts - 1);
    return summary;
  } catch (err) {
    metrics.inc("leasehold_evaluations_total", { result: "error" });
    throw err;
  } finally {
    metrics.observe("leasehold_evaluation_duration_seconds", {}, secondsSince(started));
  }
}

/** The slots the evaluation's last plan left unplaced, each by its commonest obstacle. */
export function countPlacementFailures(metrics: Metrics, failures: readonly PlacementFailure[]): void {
  for (const f of failures) metrics.inc("leasehold_placement_failures_total", { reason: failureKind(f.metrics) });
}
