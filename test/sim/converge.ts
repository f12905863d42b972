// Convergence once faults stop: what "at its desired state" means for each job, and the bound it must meet.
//
// A job is settled when its latest deployment has ended and its slots are as that end says:
// - successful (or cancelled): every slot 0 … replicas−1 runs exactly one copy, of the job's version;
// - failed, and no auto-revert is due: the rollout stopped where it was, so a slot may run either version
//   (a mix, by design), but still exactly one copy;
// - failed with an auto-revert due (the version asks for it, it is no revert itself, and an earlier
//   successful version with another template exists): not yet; the revert's own deployment must end.
// A running or paused deployment is not settled: once faults stop the operator resumes what it paused and
// promotes canaries waiting for it (Operator.settle), as a person watching the rollout would; counting
// them as settled would hide a rollout that never finishes after the resume.
// In every case each running copy's row agrees (running, desired to run, same node and epoch), no copy runs
// in a canary slot or at or above the count, and a stopped or deleted job runs nothing. A slot may be empty
// only while its row to run is of a version the operator made to fail (its starts fail, and its slot is
// replaced under the reschedule policy until the attempts are spent).
import type { SimAgent } from "./agent";
import { short } from "./agent";
import { latestDeployment, replicasOf, type DeploymentRow, type Snapshot, type VersionInfo } from "./snapshot";
import { SWEEP_MS, TTL_MS } from "./world";

/** The fence window of a disconnect-stop job: after 2 s + stop grace 1 s + the control plane's 5 s margin. */
export const FENCE_MS = 2_000 + 1_000 + 5_000;
/** A rollout step, less its min healthy time: told to stop, report stopped, place, claim, start, report running. */
const STEP_BASE_MS = 4_000;

/** Why the run is not at its desired state yet (with the job's rows), or null once every job is. */
export function unconverged(s: Snapshot, agents: SimAgent[], now: number): string | null {
  const why = unconvergedJob(s, agents);
  if (why === null) return null;
  const rows = s.tasks
    .filter((t) => t.jobId === why.job && !(t.state === "stopped" && t.desired === "stop"))
    .map((t) => `#${t.slot} v${t.version} ${short(t.id)}@${t.epoch} ${t.state}/${t.desired} on ${t.nodeId ? (s.nodes.get(t.nodeId)?.name ?? "?") : "-"}${t.leaseExpiresAt !== null ? ` expiry ${t.leaseExpiresAt - now >= 0 ? "+" : ""}${t.leaseExpiresAt - now}ms` : ""}`);
  const job = s.jobs.get(why.job);
  const d = latestDeployment(s, why.job);
  const deployment = d ? `; deployment v${d.version} ${d.status}: ${d.description.slice(0, 120)}` : "";
  return `${why.reason} [job ${job ? `${job.status} v${job.version}` : "gone"}${deployment}; rows: ${rows.join("; ") || "none"}]`;
}

function unconvergedJob(s: Snapshot, agents: SimAgent[]): { job: string; reason: string } | null {
  const r = (job: string, reason: string) => ({ job, reason });
  const copies = new Map<string, { agent: SimAgent; epoch: number; version: number; slot: number; taskId: string }[]>();
  for (const a of agents) {
    for (const c of a.containers) {
      if (!c.running) continue;
      copies.set(c.jobId, [...(copies.get(c.jobId) ?? []), { agent: a, epoch: c.epoch, version: c.version, slot: c.slot, taskId: c.taskId }]);
    }
  }
  for (const [jobId, list] of copies) {
    const job = s.jobs.get(jobId);
    if (!job || job.status !== "running") return r(jobId, `${jobId} (${job ? job.status : "deleted"}) still has ${list.length} running`);
  }
  for (const [jobId, job] of s.jobs) {
    if (job.status !== "running") continue;
    const d = latestDeployment(s, jobId);
    if (d && (d.status === "running" || d.status === "paused")) return r(jobId, `${jobId}: deployment of v${d.version} is ${d.status}`);
    if (d && d.status === "reverted") return r(jobId, `${jobId}: latest deployment (v${d.version}) is reverted, but no revert version followed it`);
    if (d && revertDue(s, d)) return r(jobId, `${jobId}: deployment of v${d.version} failed and its auto-revert has not come`);
    const mixed = d?.status === "failed";
    const replicas = replicasOf(s, jobId);
    const list = copies.get(jobId) ?? [];
    const bad = (version: number) => s.versions.get(jobId)?.get(version)?.bad ?? null;
    for (let slot = 0; slot < replicas; slot++) {
      const here = list.filter((c) => c.slot === slot);
      if (here.length === 0) {
        const row = s.tasks.find((t) => t.jobId === jobId && t.slot === slot && t.desired === "run");
        if (row && bad(row.version) === "fail") continue;
        return r(jobId, `${jobId}#${slot}: no running copy`);
      }
      if (here.length > 1) return r(jobId, `${jobId}#${slot}: ${here.length} running copies`);
      const c = here[0];
      if (!c) continue;
      if (!mixed && c.version !== job.version) return r(jobId, `${jobId}#${slot}: runs v${c.version}, want v${job.version}`);
      const row = s.tasks.find((t) => t.id === c.taskId);
      if (!row || row.state !== "running" || row.epoch !== c.epoch || row.nodeId !== c.agent.nodeId || row.desired !== "run") {
        return r(jobId, `${jobId}#${slot}: store has ${row ? `${row.state}/${row.desired}@${row.epoch}` : "no row"} for ${c.agent.name}@${c.epoch}`);
      }
    }
    const extra = list.filter((c) => c.slot >= replicas || c.slot < 0);
    if (extra.length > 0) return r(jobId, `${jobId}: ${extra.length} running outside slots 0-${replicas - 1} (${extra.map((c) => `#${c.slot}`).join(",")})`);
  }
  return null;
}

/**
 * Whether the control plane still owes this failed deployment its auto-revert: its version asks for one,
 * it is no revert itself, and there is an earlier successful version to go back to whose template differs
 * (going back to the same template changes nothing, and the deployment says so and stays failed).
 */
function revertDue(s: Snapshot, d: DeploymentRow): boolean {
  if (d.status !== "failed" || d.revertOf !== null) return false;
  const versions = s.versions.get(d.jobId);
  if (!versions?.get(d.version)?.autoRevert) return false;
  let target: DeploymentRow | undefined;
  for (const o of s.deployments) if (o.jobId === d.jobId && o.status === "successful" && o.version < d.version && (!target || o.version > target.version)) target = o;
  return target !== undefined && versions.get(target.version)?.specHash !== versions.get(d.version)?.specHash;
}

/**
 * The convergence bound, from the store at the heal: 2 × lease TTL (6 s) + the fence window (8 s) + 4 sweep
 * intervals (2 s), then the longest job's rollout. A version's rollout takes a step per canary wave, a step
 * per parallelism's worth of slots, a step more per wave boundary and one for drains; a step is 4 s plus its
 * min healthy time. A deployment that may still fail and revert adds its healthy deadline and a step (the
 * failure) and the longest rollout of an earlier version (the revert's). A version is rolled out by the
 * latest deployment only, so one job's terms never add up beyond that.
 */
export function convergenceBound(s: Snapshot): number {
  const regions = new Set([...s.nodes.values()].map((n) => n.region)).size;
  const rollout = (v: VersionInfo, replicas: number) => {
    const waves = v.waves ? regions : 1;
    const steps = (v.canary > 0 ? waves : 0) + Math.ceil(replicas / Math.max(1, v.parallelism)) + (waves - 1) + 1;
    return steps * (STEP_BASE_MS + v.minHealthyMs);
  };
  let longest = STEP_BASE_MS + 1_000;
  for (const [jobId, job] of s.jobs) {
    const versions = s.versions.get(jobId);
    const v = versions?.get(job.version);
    if (job.status !== "running" || !versions || !v) continue;
    const replicas = replicasOf(s, jobId);
    let t = rollout(v, replicas);
    const d = latestDeployment(s, jobId);
    const mayRevert = v.autoRevert && d !== undefined && d.revertOf === null && (d.status === "running" || d.status === "paused" || d.status === "failed");
    if (mayRevert) {
      const earlier = Math.max(0, ...[...versions].filter(([n]) => n < job.version).map(([, o]) => rollout(o, replicas)));
      t += v.healthyDeadlineMs + STEP_BASE_MS + v.minHealthyMs + earlier;
    }
    longest = Math.max(longest, t);
  }
  return 2 * TTL_MS + FENCE_MS + 4 * SWEEP_MS + longest;
}
