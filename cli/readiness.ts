// Whether a job has what it asked for: every desired slot running and healthy at the current version
// (batch jobs: every slot complete). Pure, so apply --wait and its tests share one definition.
import type { JobDetail, Task } from "./api-types";

export interface Readiness {
  ready: boolean;
  desired: number;
  running: number;
  healthy: number;
  complete: number;
  /** "2/3 running, 1 healthy" (batch: "1/3 complete, 2 running"). */
  progress: string;
  /** One phrase per slot that is not there yet. */
  missing: string[];
}

export function readiness(detail: JobDetail): Readiness {
  const { job, spec, tasks } = detail;
  const desired = job.status === "stopped" ? 0 : (spec?.replicas ?? 1);
  const batch = job.type === "batch";
  // Without a health check a running task reports no health; it counts as healthy.
  const hasHealthCheck = spec?.health !== undefined && spec.health !== null;
  const isHealthy = (t: Task) => t.health === "healthy" || (t.health === null && !hasHealthCheck);

  // At most one task per slot is wanted at a time; older versions being replaced do not count.
  const bySlot = new Map<number, Task>();
  for (const t of tasks) if (t.desired === "run" && t.version === job.version) bySlot.set(t.slot, t);

  let running = 0;
  let healthy = 0;
  let complete = 0;
  const missing: string[] = [];
  for (let slot = 0; slot < desired; slot++) {
    const t = bySlot.get(slot);
    if (!t) {
      missing.push(`slot ${slot}: no task at version ${job.version} yet`);
      continue;
    }
    if (t.state === "running") running++;
    if (t.state === "running" && isHealthy(t)) healthy++;
    if (t.state === "complete") complete++;
    const done = batch ? t.state === "complete" : t.state === "running" && isHealthy(t);
    if (done) continue;
    const state = t.state === "running" ? `running, ${t.health ?? "no health yet"}` : t.state;
    missing.push(`slot ${slot}: ${state}${t.message ? ` (${t.message})` : ""}`);
  }
  const progress = batch ? `${complete}/${desired} complete, ${running} running` : `${running}/${desired} running, ${healthy} healthy`;
  return { ready: missing.length === 0, desired, running, healthy, complete, progress, missing };
}
