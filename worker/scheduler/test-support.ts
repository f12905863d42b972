// Builders for scheduler tests: a job, node or task with sensible defaults, overridden field by field, and
// a few read-outs of a plan that the tests share.
import type { JobView, NodeView, Plan, SchedulerInput, TaskView } from "./types";

export const NOW = 1_700_000_000_000;

export function job(overrides: Partial<JobView> = {}): JobView {
  return {
    id: "web",
    namespace: "default",
    name: "web",
    version: 1,
    type: "service",
    status: "running",
    replicas: 1,
    resources: { cpu: 500, memory: 256 },
    ports: [],
    constraints: [],
    reschedule: { attempts: 0, intervalMs: 3_600_000, delayMs: 0, maxDelayMs: 0 },
    update: { parallelism: 1 },
    ...overrides,
  };
}

export function node(id: string, overrides: Partial<NodeView> = {}): NodeView {
  return {
    id,
    name: id,
    region: "eu",
    labels: {},
    capacity: { cpu: 4000, memory: 8192 },
    status: "ready",
    eligible: true,
    draining: false,
    ...overrides,
  };
}

/** A running, healthy task of `web` v1 with a fresh lease, unless overridden. */
export function task(id: string, overrides: Partial<TaskView> = {}): TaskView {
  return {
    id,
    jobId: "web",
    slot: 0,
    version: 1,
    nodeId: "n1",
    state: "running",
    desired: "run",
    epoch: 1,
    leaseExpiresAt: NOW + 30_000,
    attempt: 0,
    lostAt: null,
    healthy: true,
    resources: { cpu: 500, memory: 256 },
    hostPorts: [],
    ...overrides,
  };
}

export function input(parts: Partial<SchedulerInput>): SchedulerInput {
  return { evalId: "eval-1", now: NOW, jobs: [], nodes: [], tasks: [], ...parts };
}

/** Task ids a plan mentions, per bucket that holds task ids. */
export function taskBuckets(plan: Plan): Record<string, string[]> {
  return {
    replace: plan.replace.map((r) => r.taskId),
    migrate: plan.migrate.map((r) => r.taskId),
    stop: plan.stop.map((s) => s.taskId),
    delayed: plan.delayed.map((d) => d.taskId),
    failed: plan.failed.map((f) => f.taskId),
    ignore: plan.ignore,
  };
}

/** True when the plan asks the control plane to change nothing. */
export function isQuiet(plan: Plan): boolean {
  return (
    plan.place.length === 0 &&
    plan.replace.length === 0 &&
    plan.migrate.length === 0 &&
    plan.stop.length === 0 &&
    plan.lost.length === 0
  );
}
