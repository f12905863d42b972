// The state view: a read-only snapshot of the store for the scheduler, at one instant of the store's clock.
import type { JobSpec } from "../../api/job-spec";
import { readBatch } from "../../db/batch";
import { currentDeploymentsStatement, deploymentsOf, type DeploymentRecord } from "../../db/queries/deployments";
import { jobRowsOf, jsonRows, viewStatements, type JobRowView, type NodeTuple, type TaskTuple, type UsageTuple } from "../../db/queries/scheduler-view";
import type { ResolvedDeps } from "../context";
import type { Timing } from "../leases/timing";
import { placeableStatus } from "../nodes/status";
import { fleetSilentQuery } from "../leases/recovery";
import type { JobView, NodeView, SchedulerInput, TaskView } from "../scheduler";

export interface StateView extends SchedulerInput {
  /** Each job's fence window (see fenceWindow), written on the rows it places. */
  fenceMs: Map<string, number>;
  /** Jobs that chose start-first, whose new rows may be leased while an old copy runs. */
  startFirst: Set<string>;
  /** Each job's newest deployment of its current version, if it has one. */
  deployments: Map<string, DeploymentRecord>;
  /** Each job's current version spec (the deployment watcher reads its update block). */
  specs: Map<string, JobSpec>;
}

/**
 * How long a lease of a self-fencing task must last: the agent stops it within `after` of losing contact
 * (checked every couple of seconds), then waits up to the stop grace; a margin covers both and clock skew.
 */
export const FENCE_MARGIN_MS = 5_000;
export function fenceWindow(spec: JobSpec): number {
  return spec.disconnect.policy === "stop" ? spec.disconnect.after + spec.stopGrace + FENCE_MARGIN_MS : 0;
}

export async function loadView(deps: ResolvedDeps, jobIds: readonly string[], evalId: string, timing: Timing): Promise<StateView> {
  const storeClock = deps.clock.inBatch(true);
  const { leaseTtlMs, heartbeatIntervalMs } = timing;
  const [jobRows, nodeRows, ownTasks, usage, deploymentRows, silence, clock] = await readBatch(deps.store.client, [
    ...viewStatements(jobIds),
    currentDeploymentsStatement(jobIds),
    fleetSilentQuery(deps.clock.now(), leaseTtlMs),
    storeClock.statement,
  ]);
  storeClock.take(clock);
  const now = deps.clock.now();

  const nodes: NodeView[] = jsonRows<NodeTuple>(nodeRows).map(([id, name, region, labels, cpu, memory, status, eligible, drainDeadline, lastHeartbeatAt]) => {
    return {
      id,
      name,
      region,
      labels,
      capacity: { cpu, memory },
      status: placeableStatus(status as NodeView["status"], lastHeartbeatAt, now, leaseTtlMs, heartbeatIntervalMs),
      eligible: eligible === 1,
      draining: drainDeadline !== null,
      ...(drainDeadline !== null && drainDeadline <= now ? { drainForced: true } : {}),
    };
  });
  const tasks: TaskView[] = jsonRows<TaskTuple>(ownTasks).map(taskView);
  const fenceMs = new Map<string, number>();
  const startFirst = new Set<string>();
  const specs = new Map<string, JobSpec>();
  const deployments = new Map<string, DeploymentRecord>();
  for (const d of deploymentsOf(deploymentRows)) deployments.set(d.jobId, d);
  const jobs = jobRowsOf(jobRows).map((r) => {
    specs.set(r.id, r.spec);
    fenceMs.set(r.id, fenceWindow(r.spec));
    if (r.spec.update.order === "start-first") startFirst.add(r.id);
    return jobView(r);
  });
  // While the whole fleet is silent the control plane was the one cut off (see recovery.ts): the first
  // heartbeat will extend these leases, so an evaluation due meanwhile must not find them lapsed.
  if (Number(silence?.rows[0]?.["silent"]) === 1) {
    for (const t of tasks) {
      if ((t.state === "leased" || t.state === "running") && t.desired === "run" && (fenceMs.get(t.jobId) ?? 0) === 0 && t.leaseExpiresAt !== null) {
        t.leaseExpiresAt = Math.max(t.leaseExpiresAt, now + leaseTtlMs);
      }
    }
  }
  for (const [nodeId, cpu, memory, ports] of jsonRows<UsageTuple>(usage)) tasks.push(usageRow(nodeId, cpu, memory, ports.flat()));
  return { evalId, now, jobs, nodes, tasks, fenceMs, startFirst, deployments, specs };
}

/** Other jobs' live tasks on a node, summed into one row: usage only. */
function usageRow(nodeId: string, cpu: number, memory: number, hostPorts: number[]): TaskView {
  return {
    id: `usage:${nodeId}`,
    jobId: "",
    slot: 0,
    version: 0,
    nodeId,
    state: "running",
    desired: "run",
    epoch: 0,
    leaseExpiresAt: null,
    attempt: 0,
    lostAt: null,
    healthy: null,
    resources: { cpu, memory },
    hostPorts,
  };
}

function taskView([id, jobId, slot, version, nodeId, state, desired, epoch, leaseExpiresAt, attempt, attemptSince, lostAt, health, healthyAt, cpu, memory, hostPorts, placedAt]: TaskTuple): TaskView {
  return {
    id,
    jobId,
    slot,
    version,
    nodeId,
    state: state as TaskView["state"],
    desired: desired as TaskView["desired"],
    epoch,
    leaseExpiresAt,
    attempt,
    attemptSince,
    lostAt,
    healthy: health === null ? null : health === "healthy",
    healthySince: healthyAt,
    resources: { cpu, memory },
    hostPorts,
    placedAt,
  };
}

/** Specs stored before reschedule.interval existed lack it: they get the default window. */
const DEFAULT_RESCHEDULE_INTERVAL_MS = 3_600_000;

export function reschedulePolicy(r: JobSpec["reschedule"]): JobView["reschedule"] {
  return { attempts: r.attempts, intervalMs: r.interval ?? DEFAULT_RESCHEDULE_INTERVAL_MS, delayMs: r.delay, maxDelayMs: r.maxDelay };
}

/** A job row as the scheduler sees it. */
export function jobView(r: JobRowView): JobView {
  const { spec } = r;
  return {
    id: r.id,
    namespace: r.namespace,
    name: r.name,
    version: r.version,
    type: spec.type,
    status: r.status,
    replicas: r.replicas,
    resources: spec.resources,
    ports: spec.ports.map((p) => ({ name: p.name, container: p.container, ...(p.host !== undefined ? { host: p.host } : {}) })),
    constraints: spec.constraints.map((c) => ({ attribute: c.attribute, operator: c.operator, ...(c.value !== undefined ? { value: c.value } : {}) })),
    ...(spec.spread ? { spread: spec.spread } : {}),
    reschedule: reschedulePolicy(spec.reschedule),
    update: { parallelism: spec.update.parallelism, order: spec.update.order ?? "stop-first", minHealthyMs: spec.update.minHealthy },
  };
}
