// The durable broker: Nomad's eval broker made stateless. Evaluation rows are written by whatever changes a
// job's placement, in the same batch as the change; any instance takes due rows under a visibility timeout,
// runs them, and completes them conditionally. A crash at any point leaves the row: another instance (or
// this one, restarted, or the cron) takes it once its visibility timeout has passed.
import type { InStatement, ResultSet } from "@libsql/client";
import { writeBatch } from "../../db/batch";
import { completeEvaluation, takeEvaluations, takenEvaluations, type TakenEvaluation } from "../../db/queries/evaluations";
import type { ResolvedDeps } from "../context";
import type { FleetTiming } from "../leases/timing";
import type { EvaluationSummary } from "./evaluate";

/** Due rows taken at once: they are evaluated together, as one plan. */
const TAKE_AT_ONCE = 50;
/** Rounds of taking per run, so one instance's run ends even while others keep asking. */
const MAX_ROUNDS = 20;
/** The most of its time an instance spends on evaluations run in the background. */
const BACKGROUND_DUTY = 0.25;
/** An evaluation that lost every race is due again this much later. */
const DEFERRED_RETRY_MS = 1_000;

export interface Broker {
  /**
   * Runs these jobs' evaluations here and now (the caller's batch wrote their rows) and completes them. A
   * row another instance holds is left to it: the summary then says `queued`.
   */
  evaluateNow(jobIds: readonly string[], trigger: string): Promise<EvaluationSummary & { queued?: string[] }>;
  /**
   * A statement that takes these jobs' rows for this instance, to put in the batch that wrote them (saves a
   * round trip); pass what it returned to `runTaken`.
   */
  takeInBatch(jobIds: readonly string[], now: number, guard?: { sql: string; args: Record<string, string | number | null> }): Promise<{ token: string; statement: InStatement }>;
  /** Runs evaluations taken by `takeInBatch` and completes them. */
  runTaken(token: string, result: ResultSet | undefined, trigger: string): Promise<EvaluationSummary & { queued?: string[] }>;
  /** Takes due evaluations and runs them until none is due (bounded); returns how many it ran. */
  runDue(): Promise<number>;
  /**
   * Runs due evaluations in the background of this instance; calls while one runs make it go round again.
   * Background runs take at most a quarter of the instance's time: a call during the rest does nothing.
   */
  kick(): Promise<void>;
  /** Runs due evaluations now, rest or not (the instance's timer). */
  drain(): Promise<void>;
}

export function createBroker(
  deps: ResolvedDeps,
  timing: FleetTiming,
  evaluate: (jobIds: readonly string[], trigger: string) => Promise<EvaluationSummary>,
): Broker {
  const { store, clock } = deps;

  async function takeStatement(now: number, jobIds?: readonly string[], guard?: { sql: string; args: Record<string, string | number | null> }): Promise<{ token: string; statement: InStatement }> {
    const { leaseTtlMs } = await timing.current();
    const token = deps.newId();
    // Long enough for a large evaluation; short enough that a crashed instance's work is picked up within
    // the convergence bound (a lease TTL, 5 s at least).
    const until = now + Math.max(5_000, leaseTtlMs);
    return { token, statement: takeEvaluations({ token, now, until, limit: TAKE_AT_ONCE, ...(jobIds ? { jobIds } : {}), ...(guard ? { guard } : {}) }) };
  }

  async function take(jobIds?: readonly string[]): Promise<{ token: string; taken: TakenEvaluation[] }> {
    const { token, statement } = await takeStatement(clock.now(), jobIds);
    const [result] = await writeBatch(store.client, [statement]);
    return { token, taken: takenEvaluations(result) };
  }

  async function runTakenOrQueued(token: string, taken: TakenEvaluation[], jobIds: readonly string[], trigger: string) {
    const queued = jobIds.filter((id) => !taken.some((t) => t.jobId === id));
    if (taken.length === 0) return { ...(await evaluate([], trigger)), queued };
    const summary = await runTaken(token, taken, trigger);
    return queued.length > 0 ? { ...summary, queued } : summary;
  }

  async function complete(token: string, taken: TakenEvaluation[], summary: EvaluationSummary): Promise<void> {
    const now = clock.now();
    const retryAt = summary.deferred ? now + DEFERRED_RETRY_MS : null;
    const results = await writeBatch(store.client, taken.flatMap((t) => completeEvaluation(token, t, retryAt ?? summary.nextDue[t.jobId] ?? null, now)));
    if (deps.scheduleWake) {
      let next = retryAt ?? Number.POSITIVE_INFINITY;
      for (const t of taken) next = Math.min(next, summary.nextDue[t.jobId] ?? Number.POSITIVE_INFINITY);
      // drain, not kick: a wake is one run at a known time, never a burst to throttle.
      if (Number.isFinite(next)) deps.scheduleWake(Math.max(0, next - now), () => void drain());
    }
    // Asked for again while it ran (and the asker's kick found it held): run it once more, here.
    if (results.some((r) => r.rows.some((row) => Number(row["again"]) === 1))) void kick();
  }

  async function runTaken(token: string, taken: TakenEvaluation[], trigger?: string): Promise<EvaluationSummary> {
    const triggers = trigger ?? [...new Set(taken.flatMap((t) => t.triggers.split(",")))].slice(0, 8).join(",");
    const summary = await evaluate(taken.map((t) => t.jobId), triggers);
    await complete(token, taken, summary);
    return summary;
  }

  async function runDue(): Promise<number> {
    let ran = 0;
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const { token, taken } = await take();
      if (taken.length === 0) break;
      await runTaken(token, taken);
      ran += taken.length;
    }
    return ran;
  }

  // Background runs (kicks after heartbeats) take at most a quarter of this instance's time: a fleet
  // coming back makes thousands of nodes ready one after another, each asking for the jobs with waiting
  // slots, and evaluating them back to back starved the heartbeats that keep leases alive (nodes then
  // looked silent, became ready again, and asked again). A kick during the rest is dropped: the rows stay
  // due, and the next kick after it, or the instance's timer, runs them. Time is the instance's clock, so a
  // simulation in virtual time is never throttled.
  let running: Promise<void> | null = null;
  let again = false;
  let restUntil = Number.NEGATIVE_INFINITY;
  function drain(): Promise<void> {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      try {
        do {
          again = false;
          const started = clock.now();
          await runDue().catch((err: unknown) => deps.log("due evaluations failed", { error: err instanceof Error ? err.message : String(err) }));
          const took = clock.now() - started;
          restUntil = clock.now() + took * (1 / BACKGROUND_DUTY - 1);
        } while (again && clock.now() >= restUntil);
      } finally {
        running = null;
      }
    })();
    return running;
  }
  function kick(): Promise<void> {
    if (!running && clock.now() < restUntil) return Promise.resolve();
    return drain();
  }

  return {
    async evaluateNow(jobIds, trigger) {
      const { token, taken } = await take(jobIds);
      return runTakenOrQueued(token, taken, jobIds, trigger);
    },
    takeInBatch: (jobIds, now, guard) => takeStatement(now, jobIds, guard),
    async runTaken(token, result, trigger) {
      const taken = takenEvaluations(result);
      return runTakenOrQueued(token, taken, taken.map((t) => t.jobId), trigger);
    },
    runDue,
    kick,
    drain,
  };
}
