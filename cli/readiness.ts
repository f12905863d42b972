// Whether a job has what it asked for: every desired slot running and healthy at the current version
// (batch: every slot complete), and for each slot that is not there yet, what it waits for and whether it
// can still get there. Pure, so apply --wait, status and their tests share one definition.
import type { JobDetail, Task } from "./api-types";
import { oneLine } from "./format";

export interface SlotReadiness {
  slot: number;
  /** The slot's task's state; null while it has no task at the current version. */
  state: string | null;
  /** Running and healthy (batch: complete). */
  done: boolean;
  /** "running, healthy", "pending (1 node short on cpu)", "no task at version 2 yet". */
  phrase: string;
  /** Why no node takes the slot: the control plane keeps it as a pending task whose message is the reason. */
  unplaced: string | null;
  /** The slot's task has ended and the control plane will not replace it (`final`): it cannot get there. */
  gaveUp: boolean;
  /** The task's message (its last error, or why it waits), else a non-zero exit code: for saying why. */
  message: string | null;
}

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
  /** Every desired slot, in order. */
  slots: SlotReadiness[];
}

/** States in which a task is on its way or running: the control plane has not finished with it. */
const UNDER_WAY = new Set(["pending", "placed", "leased", "running"]);

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
  const slots: SlotReadiness[] = [];
  for (let slot = 0; slot < desired; slot++) {
    const t = bySlot.get(slot);
    if (!t) {
      slots.push({ slot, state: null, done: false, phrase: `no task at version ${job.version} yet`, unplaced: null, gaveUp: false, message: null });
      continue;
    }
    if (t.state === "running") running++;
    if (t.state === "running" && isHealthy(t)) healthy++;
    if (t.state === "complete") complete++;
    const done = batch ? t.state === "complete" : t.state === "running" && isHealthy(t);
    const message = t.message ? oneLine(t.message) : t.exitCode !== null && t.exitCode !== 0 ? `exit ${t.exitCode}` : null;
    const state = t.state === "running" ? `running, ${t.health ?? (done ? "healthy" : "no health yet")}` : t.state;
    slots.push({
      slot,
      state: t.state,
      done,
      phrase: `${state}${message && !done ? ` (${message})` : ""}`,
      unplaced: t.state === "pending" && t.nodeId === null && t.message ? message : null,
      // A missing `final` (a control plane that predates it) is false: the slot may still be replaced.
      gaveUp: !done && t.final === true && !UNDER_WAY.has(t.state),
      message,
    });
  }
  const progress = batch ? `${complete}/${desired} complete, ${running} running` : `${running}/${desired} running, ${healthy} healthy`;
  const missing = slots.filter((s) => !s.done).map((s) => `slot ${s.slot}: ${s.phrase}`);
  return { ready: missing.length === 0, desired, running, healthy, complete, progress, missing, slots };
}
