// A job's counts as its list and page show them: running and healthy copies of the current version
// against the desired count (the CLI's readiness, cli/readiness.ts, counts the same way).
import type { JobDetail, Task } from "./api/types";

export interface JobCounts {
  desired: number;
  running: number;
  healthy: number;
  complete: number;
}

/** Without a health check a running task reports no health: it counts as healthy. */
export function isHealthy(task: Task, hasHealthCheck: boolean): boolean {
  return task.state === "running" && (task.health === "healthy" || (task.health === null && !hasHealthCheck));
}

export function jobCounts(detail: JobDetail): JobCounts {
  const { job, spec, tasks } = detail;
  const desired = job.status === "stopped" ? 0 : job.replicas;
  const hasHealthCheck = spec !== null && spec["health"] !== undefined && spec["health"] !== null;
  // One task per slot at the current version counts; old versions being replaced do not.
  const bySlot = new Map<number, Task>();
  for (const t of tasks) if (t.desired === "run" && t.version === job.version && t.slot < desired) bySlot.set(t.slot, t);
  let running = 0;
  let healthy = 0;
  let complete = 0;
  for (const t of bySlot.values()) {
    if (t.state === "running") running++;
    if (isHealthy(t, hasHealthCheck)) healthy++;
    if (t.state === "complete") complete++;
  }
  return { desired, running, healthy, complete };
}

/** The state a task row shows: one on its way out, or one the control plane gave up on, says so. */
export function taskStateLabel(t: Task): string {
  if (t.desired === "stop" && t.state !== "stopped") return `${t.state} (stopping)`;
  if (t.final === true && t.desired === "run" && (t.state === "failed" || t.state === "lost")) return `${t.state} (final)`;
  return t.state;
}
