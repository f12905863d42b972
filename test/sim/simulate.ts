// One seeded run: setup, a fault phase with operator actions, then heal and wait for convergence within
// the bound (converge.ts: what converged means, with deployments, and how long it may take). After the
// heal the operator only answers what waits on it: it resumes paused deployments and promotes canaries.
import { convergenceBound, unconverged } from "./converge";
import { heal, injectFault } from "./faults";
import { schemaHasUpdateOrder } from "./operator";
import { snapshot } from "./snapshot";
import type { RolloutCoverage } from "./rollout-checks";
import { Trace, Violation } from "./trace";
import { AGENT_STEP_MS, SWEEP_MS, World } from "./world";

export interface RunOptions {
  seed: number;
  /** Virtual length of the fault phase. */
  faultMs?: number;
  /** Trace lines kept for a violation report. */
  keep?: number;
  /** Print every trace line as it happens. */
  echo?: (line: string) => void;
  /** Send update.order (default: when the schema takes it). */
  updateOrder?: boolean;
}

export interface RunResult {
  seed: number;
  digest: string;
  steps: number;
  instances: number;
  agents: number;
  convergedAfterMs: number | null;
  boundMs: number;
  violation: Violation | null;
  /** What the control-plane instances logged (errors, lost races), in order. */
  logs: string[];
  /** How often the rollout checks had something to judge. */
  coverage: RolloutCoverage;
}

export async function runSeed(opts: RunOptions): Promise<RunResult> {
  const trace = new Trace(opts.keep ?? 80, opts.echo ?? null);
  const w = await World.create(opts.seed, trace, opts.updateOrder ?? schemaHasUpdateOrder());
  const faultEnd = w.now + (opts.faultMs ?? 25_000);
  let healAt = 0;
  let boundMs = 0;
  let convergedAfterMs: number | null = null;
  const result = (violation: Violation | null): RunResult => ({ seed: opts.seed, digest: trace.digest(), steps: trace.steps, instances: w.instances.length, agents: w.agents.length, convergedAfterMs, boundMs, violation, logs: w.logs, coverage: { ...w.checker.coverage } });
  try {
    let opSeq = 0;
    const liveInstance = () => w.instances.find((i) => !i.crashed) ?? w.instances[0];
    await w.operator.start(() => opSeq++, () => liveInstance() as NonNullable<ReturnType<typeof liveInstance>>);
    let done = false;
    w.instances.forEach((_, slot) => {
      // Instances tick out of step with each other, as separate processes' timers would.
      w.every(w.now + Math.round(((slot + 1) * SWEEP_MS) / w.instances.length), () => SWEEP_MS, async () => {
        const inst = w.instances[slot];
        if (inst && !inst.crashed) {
          await inst.tick();
          w.step(inst.name, "tick");
        }
        return !done;
      }, `tick i${slot}`);
    });
    w.agents.forEach((a, i) => w.every(w.now + i * 17, () => AGENT_STEP_MS, async () => (await w.agentStep(a), !done), `${a.name} step`));
    w.every(w.now + 1_000, () => w.faults.int(800, 2_500), async () => {
      if (w.now >= faultEnd) return false;
      const via = w.instances.filter((i) => !i.crashed);
      if (via.length > 0) await w.operator.act(opSeq++, w.faults.pick(via), w.nodes());
      return true;
    }, "operator");
    w.every(w.now + 500, () => w.faults.int(300, 1_500), async () => {
      if (w.now >= faultEnd) return false;
      injectFault(w);
      return true;
    }, "fault");
    w.at(faultEnd, async () => {
      await heal(w);
      healAt = w.now;
      boundMs = convergenceBound(await snapshot(w.db));
      w.every(w.now + SWEEP_MS, () => SWEEP_MS, async () => {
        await w.operator.settle(() => opSeq++, liveInstance() as NonNullable<ReturnType<typeof liveInstance>>);
        const why = unconverged(await snapshot(w.db), w.agents, w.now);
        if (why === null) {
          convergedAfterMs = w.now - healAt;
          w.step("sim", `CONVERGED ${convergedAfterMs}ms after heal (bound ${boundMs}ms)`);
          done = true;
          return false;
        }
        if (w.now - healAt > boundMs) throw new Violation(opts.seed, "convergence", `not converged ${w.now - healAt}ms after heal (bound ${boundMs}ms): ${why}`, trace.tail());
        return true;
      }, "convergence check");
    }, "heal");
    while (!done && (await w.next()));
    // The queue drains after convergence without more checks: recurring events stop themselves.
    return result(null);
  } catch (err) {
    if (err instanceof Violation) return result(err);
    throw err;
  } finally {
    w.close();
  }
}
