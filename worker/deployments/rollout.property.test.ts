// Property tests of a whole rollout in pure form: the deployment watcher and the scheduler step by step
// over a model fleet whose agents start and stop copies after random delays. At every step:
// - no more than update.parallelism slots are in flight (neither an old copy running nor a new one settled);
// - with stop-first, never fewer than replicas − parallelism slots have a healthy copy serving;
// and every rollout ends successful with every slot at the new version and the canaries retired.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { schedule } from "../scheduler";
import { applyPlan as applyPlanModel } from "../scheduler/apply-plan";
import type { JobView, NodeView, Plan, TaskView } from "../scheduler/types";
import { assessDeployment, type DeploymentState, type RolloutRules } from "./assess";

const STEP = 1_000;
const T0 = 1_700_000_000_000;

interface ModelTask extends TaskView {
  /** Steps until its agent has it running (placed) or stopped (asked to stop). */
  wait: number;
}

interface Scenario {
  replicas: number;
  parallelism: number;
  nodes: number;
  canary: number;
  startFirst: boolean;
  seed: number;
  startDelays: number[];
  stopDelays: number[];
}

const scenario = fc.record({
  replicas: fc.integer({ min: 1, max: 8 }),
  parallelism: fc.integer({ min: 1, max: 3 }),
  nodes: fc.integer({ min: 1, max: 4 }),
  canary: fc.integer({ min: 0, max: 2 }),
  startFirst: fc.boolean(),
  seed: fc.integer({ min: 0, max: 1_000_000 }),
  startDelays: fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 16, maxLength: 16 }),
  stopDelays: fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 16, maxLength: 16 }),
});

function run(s: Scenario): { minServing: number; maxInFlight: number; steps: number; deployment: DeploymentState; tasks: ModelTask[]; job: JobView } {
  const nodes: NodeView[] = Array.from({ length: s.nodes }, (_, i) => ({
    id: `n${i}`,
    name: `n${i}`,
    region: "eu",
    labels: {},
    capacity: { cpu: 100_000, memory: 100_000 },
    status: "ready",
    eligible: true,
    draining: false,
  }));
  const nodeMap = new Map(nodes.map((n) => [n.id, n]));
  const rules: RolloutRules = {
    minHealthyMs: STEP,
    healthyDeadlineMs: 600_000,
    progressDeadlineMs: 600_000,
    offlineDeadlineMs: 600_000,
    canary: s.canary,
    autoPromote: true,
    autoRevert: false,
    waves: "none",
    waveOrder: [],
  };
  const job: JobView = {
    id: "web",
    namespace: "default",
    name: "web",
    version: 2,
    type: "service",
    status: "running",
    replicas: s.replicas,
    resources: { cpu: 10, memory: 10 },
    ports: [],
    constraints: [],
    reschedule: { attempts: 0, intervalMs: 3_600_000, delayMs: 0, maxDelayMs: 0 },
    update: { parallelism: s.parallelism, order: s.startFirst ? "start-first" : "stop-first", minHealthyMs: STEP },
  };
  let now = T0;
  let n = 0;
  let delays = 0;
  const delay = (list: number[]) => list[delays++ % list.length] as number;
  // Version 1 runs in every slot, settled.
  let tasks: ModelTask[] = Array.from({ length: s.replicas }, (_, slot) => ({
    id: `t${n++}`,
    jobId: "web",
    slot,
    version: 1,
    nodeId: `n${slot % s.nodes}`,
    state: "running",
    desired: "run",
    epoch: 1,
    leaseExpiresAt: now + 30_000,
    attempt: 0,
    lostAt: null,
    healthy: true,
    healthySince: now - 60_000,
    resources: { cpu: 10, memory: 10 },
    hostPorts: [],
    placedAt: now - 60_000,
    wait: 0,
  }));
  let d: DeploymentState = {
    id: "d2",
    version: 2,
    fromVersion: 1,
    status: "running",
    description: "",
    promoted: s.canary === 0,
    wave: null,
    wavesDone: [],
    healthyCount: 0,
    progressDeadlineAt: now + 600_000,
    offlineSince: null,
    createdAt: now,
  };
  let minServing = Number.POSITIVE_INFINITY;
  let maxInFlight = 0;
  let steps = 0;
  for (; steps < 200 && d.status === "running"; steps++) {
    const a = assessDeployment(d, rules, job, tasks, nodeMap, now);
    if (a.update) d = { ...d, ...a.update };
    const plan: Plan = schedule({ evalId: `e${s.seed}:${steps}`, now, jobs: [{ ...job, rollout: a.gate }], nodes, tasks });
    applyPlan(plan);
    // The agents act; time moves on.
    now += STEP;
    for (const t of tasks) {
      if (t.desired === "stop" && (t.state === "running" || t.state === "leased")) {
        if (t.wait-- <= 0) t.state = "stopped";
      } else if (t.desired === "run" && t.state === "placed") {
        if (t.wait-- <= 0) {
          t.state = "running";
          t.healthy = true;
          t.healthySince = now;
        }
      }
      if (t.state === "running" || t.state === "leased") t.leaseExpiresAt = now + 30_000;
    }
    tasks = tasks.filter((t) => !(t.state === "stopped" && t.desired === "stop"));
    const regular = (t: ModelTask) => t.slot >= 0 && t.slot < s.replicas;
    const serving = new Set(tasks.filter((t) => regular(t) && t.desired === "run" && t.state === "running" && t.healthy).map((t) => t.slot));
    const settledOrOld = new Set(
      tasks.filter((t) => regular(t) && t.desired === "run" && t.state === "running" && (t.version === 1 || (t.healthySince ?? now) + STEP <= now)).map((t) => t.slot),
    );
    minServing = Math.min(minServing, serving.size);
    maxInFlight = Math.max(maxInFlight, s.replicas - settledOrOld.size);
  }
  return { minServing, maxInFlight, steps, deployment: d, tasks, job };

  function applyPlan(plan: Plan): void {
    expect(plan.replace).toEqual([]);
    expect(plan.unplaced).toEqual([]);
    // The shared model of a plan written, then the agents' delays on what it changed.
    const before = new Map(tasks.map((t) => [t.id, t]));
    const next = applyPlanModel({ evalId: plan.evalId, now, jobs: [], nodes, tasks }, plan, { newTaskId: () => `t${n++}` });
    tasks = next.tasks.map((t): ModelTask => {
      const was = before.get(t.id);
      if (was === undefined) return { ...t, placedAt: now, wait: delay(s.startDelays) };
      if (was.desired === "run" && t.desired === "stop") return { ...was, ...t, wait: delay(s.stopDelays) };
      return was;
    });
  }
}

describe("a rollout, step by step", () => {
  it("keeps at most parallelism slots in flight and (stop-first) at least replicas − parallelism serving, and ends successful", () => {
    fc.assert(
      fc.property(scenario, (s) => {
        const r = run(s);
        expect(r.deployment.status, r.deployment.description).toBe("successful");
        expect(r.maxInFlight).toBeLessThanOrEqual(s.parallelism);
        // Start-first overlaps the copies, so this holds for it too.
        expect(r.minServing).toBeGreaterThanOrEqual(s.replicas - s.parallelism);
        // Every slot at the new version; the canaries retired (or on their way out).
        const live = r.tasks.filter((t) => t.desired === "run");
        expect(live.map((t) => [t.slot, t.version]).sort((a, b) => (a[0] as number) - (b[0] as number))).toEqual(Array.from({ length: s.replicas }, (_, i) => [i, 2]));
      }),
      { numRuns: 150 },
    );
  });
});
