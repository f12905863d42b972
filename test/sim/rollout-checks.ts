// The rollout invariants, checked after every step against the step before: deployments as the rules keep
// them (6), a scale writes no version and restarts no surviving replica (7), and an update starts only
// while fewer than update.parallelism slots are in flight (8).
//
// Time: a rule judged at `now` (a lease lapsed, a copy settled) is judged here in the latest frame any
// instance may have decided in (see World.next), and each check counts only what holds in every frame an
// instance may have used, so that clock skew can make a check miss a fault but never invent one.
import { short } from "./agent";
import { ACTIVE_DEPLOYMENT, replicasOf, type Snapshot, type TaskRow } from "./snapshot";

const ENDED = new Set(["successful", "failed", "reverted", "cancelled"]);
const HELD = new Set(["leased", "running"]);

/** A copy that was running a job's current version below both counts when the count changed. */
interface Survivor {
  jobId: string;
  version: number;
  replicas: number;
  taskId: string;
  epoch: number;
  nodeId: string;
  slot: number;
}

/** How often each rollout check found something to judge in a run (a check that never fires proves nothing). */
export interface RolloutCoverage {
  /** Steps that started updates, checked against the parallelism. */
  updateStarts: number;
  /** Copies watched across a scale. */
  survivors: number;
  /** Deployments seen to end. */
  ended: number;
}

export class RolloutChecker {
  readonly coverage: RolloutCoverage = { updateStarts: 0, survivors: 0, ended: 0 };
  private prev: Snapshot | null = null;
  /** Each deployment's status once it has ended. */
  private readonly ended = new Map<string, string>();
  private survivors: Survivor[] = [];

  check(s: Snapshot, now: number): [string, string] | null {
    const prev = this.prev;
    this.prev = s;
    return deploymentRecords(s) ?? this.endedStaysEnded(s) ?? (prev ? newVersionsChangeTheTemplate(prev, s) : null) ?? this.scaleKeepsSurvivors(prev, s, now) ?? (prev ? updatesWithinBudget(prev, s, now, this.coverage) : null);
  }

  /** 6b. A deployment that ended never runs again; the only change after its end is failed → reverted. */
  private endedStaysEnded(s: Snapshot): [string, string] | null {
    for (const d of s.deployments) {
      const was = this.ended.get(d.id);
      if (was !== undefined && d.status !== was && !(was === "failed" && d.status === "reverted")) {
        return ["6 ended deployment changed", `${d.jobId} v${d.version}: ${was} -> ${d.status}`];
      }
      if (ENDED.has(d.status) && was === undefined) this.coverage.ended++;
      if (ENDED.has(d.status)) this.ended.set(d.id, d.status);
    }
    return null;
  }

  /**
   * 7. A scale writes no version and restarts no surviving replica. When a job's count changes at the same
   * version, each copy that held a current-version lease in a slot below both counts is watched until the
   * job next changes (a version, a count, a stop): it keeps its row, epoch and node, and its row stays
   * desired to run. Exempt, as the rules allow: a copy whose lease has lapsed (or was marked lost, as a
   * node taken over is), one on a draining node, and one that failed on its own (its agent reported it
   * failed while it was still desired to run, as a bad version's start does): that is no restart by a scale.
   */
  private scaleKeepsSurvivors(prev: Snapshot | null, s: Snapshot, now: number): [string, string] | null {
    if (prev) {
      for (const [jobId, job] of s.jobs) {
        const before = prev.jobs.get(jobId);
        if (!before || before.version !== job.version || before.status !== "running" || job.status !== "running") continue;
        const from = replicasOf(prev, jobId);
        const to = replicasOf(s, jobId);
        if (from === to) continue;
        this.survivors = this.survivors.filter((x) => x.jobId !== jobId);
        for (const t of prev.tasks) {
          if (t.jobId !== jobId || t.version !== job.version || t.desired !== "run" || !HELD.has(t.state) || t.nodeId === null) continue;
          if (t.slot < 0 || t.slot >= Math.min(from, to) || !unexpired(t, now) || prev.nodes.get(t.nodeId)?.draining) continue;
          this.survivors.push({ jobId, version: job.version, replicas: to, taskId: t.id, epoch: t.epoch, nodeId: t.nodeId, slot: t.slot });
          this.coverage.survivors++;
        }
      }
    }
    const rows = new Map(s.tasks.map((t) => [t.id, t]));
    this.survivors = this.survivors.filter((x) => {
      const job = s.jobs.get(x.jobId);
      return job !== undefined && job.status === "running" && job.version === x.version && replicasOf(s, x.jobId) === x.replicas;
    });
    for (const x of this.survivors) {
      const t = rows.get(x.taskId);
      if (t && (t.state === "lost" || !unexpired(t, now) || s.nodes.get(x.nodeId)?.draining)) continue;
      if (t && failedByItself(t, x)) continue;
      if (!t || t.desired !== "run" || t.epoch !== x.epoch || t.nodeId !== x.nodeId || !HELD.has(t.state)) {
        const seen = t ? `${t.state}/${t.desired}@${t.epoch} on ${t.nodeId === null ? "-" : (s.nodes.get(t.nodeId)?.name ?? "?")}` : "no row";
        return ["7 scale restarted a survivor", `${x.jobId}#${x.slot} ${short(x.taskId)}@${x.epoch} on ${s.nodes.get(x.nodeId)?.name ?? "?"} (count now ${x.replicas}): now ${seen}`];
      }
    }
    this.survivors = this.survivors.filter((x) => {
      const t = rows.get(x.taskId);
      return t !== undefined && t.state !== "lost" && !failedByItself(t, x) && unexpired(t, now) && !s.nodes.get(x.nodeId)?.draining;
    });
    return null;
  }
}

/** Reported failed by its agent while still desired to run, at the epoch and node it was watched at. */
function failedByItself(t: TaskRow, x: { epoch: number; nodeId: string }): boolean {
  return t.state === "failed" && t.desired === "run" && t.epoch === x.epoch && t.nodeId === x.nodeId;
}

/** As the reconciler's settled: running, not unhealthy, and so for minHealthy. */
function settled(t: TaskRow, minHealthyMs: number, now: number): boolean {
  if (t.state !== "running" || t.health === "unhealthy" || t.health === "starting") return false;
  return minHealthyMs <= 0 || (t.healthyAt !== null && t.healthyAt + minHealthyMs <= now);
}

/**
 * 7a. A change of the count alone is a scale, and writes no version: while a job runs, each new version's
 * template differs from the one before it. (A stopped job applied again gets a new version whatever its
 * template, with nothing running to roll from.)
 */
function newVersionsChangeTheTemplate(prev: Snapshot, s: Snapshot): [string, string] | null {
  for (const [jobId, job] of s.jobs) {
    const before = prev.jobs.get(jobId);
    if (!before || before.status !== "running" || job.version <= before.version) continue;
    const versions = s.versions.get(jobId);
    for (let v = before.version + 1; v <= job.version; v++) {
      const hash = versions?.get(v)?.specHash;
      if (hash !== undefined && hash === versions?.get(v - 1)?.specHash) return ["7 a version of the same template", `${jobId} v${v} repeats v${v - 1}'s template (a count alone changed?)`];
    }
  }
  return null;
}

function unexpired(t: TaskRow, now: number): boolean {
  return t.leaseExpiresAt !== null && t.leaseExpiresAt > now;
}

/**
 * 6a. Deployments as the rules keep them: one per version of a (service) job, written with it; at most one
 * active per job, and that one of the job's current version while it runs; none active in a stopped job.
 */
function deploymentRecords(s: Snapshot): [string, string] | null {
  const count = new Map<string, number>();
  for (const d of s.deployments) {
    const key = `${d.jobId} v${d.version}`;
    count.set(key, (count.get(key) ?? 0) + 1);
    if (!s.versions.get(d.jobId)?.has(d.version)) return ["6 deployment without its version", key];
  }
  for (const [jobId, versions] of s.versions) {
    for (const version of versions.keys()) {
      const n = count.get(`${jobId} v${version}`) ?? 0;
      if (n !== 1) return ["6 one deployment per version", `${jobId} v${version} has ${n}`];
    }
  }
  for (const [jobId, job] of s.jobs) {
    const active = s.deployments.filter((d) => d.jobId === jobId && ACTIVE_DEPLOYMENT.has(d.status));
    if (active.length > 1) return ["6 two active deployments", `${jobId}: ${active.map((d) => `v${d.version} ${d.status}`).join(", ")}`];
    const d = active[0];
    if (d && job.status !== "running") return ["6 active deployment of a stopped job", `${jobId} v${d.version} ${d.status}`];
    if (d && d.version !== job.version) return ["6 active deployment of an old version", `${jobId} v${d.version} ${d.status}, job at v${job.version}`];
  }
  return null;
}

/**
 * 8. The rollout budget. The reconciler starts an update (tells a slot's live old-version copy to stop, or
 * places its new copy beside it under start-first) only while fewer than update.parallelism slots are in
 * flight, counting what its plan places without budget (new slots, replacements of lost or failed copies).
 * So whenever a step starts an update, the slots in flight after it are at most update.parallelism.
 *
 * Why not "never more than parallelism in flight": faults and scale-ups legitimately exceed it (three copies
 * lost at once are replaced at once, whatever the parallelism), and a fault's effects outlast it (a lease
 * lapses up to a fence window after its partition healed), so fault-free windows hardly exist before the
 * heal. This form holds under faults too, and in a window without them it is the plain bound: the slots
 * a rollout itself started never number more than parallelism.
 *
 * In flight, as the reconciler counts it, of regular slots 0 … replicas−1: a current-version copy placed,
 * leased, or running but not yet settled (healthy for minHealthy); or, stop-first, no row to run but a
 * copy asked to stop that may still run. Only what is in flight in every frame counts: settled is judged
 * at the latest frame, a lease as running while unexpired at it. Lost, failed and pending rows, which the
 * reconciler may delay rather than count, are left out. A job with a task on a node past its drain
 * deadline is skipped: the deadline lifts the parallelism, so that everything on the node moves at once.
 */
function updatesWithinBudget(prev: Snapshot, s: Snapshot, now: number, coverage: RolloutCoverage): [string, string] | null {
  for (const [jobId, job] of s.jobs) {
    if (job.status !== "running" || prev.jobs.get(jobId)?.status !== "running") continue;
    const info = s.versions.get(jobId)?.get(job.version);
    if (!info) continue;
    // Past a drain deadline the job's parallelism is lifted: everything on the node moves at once.
    const forced = (snap: Snapshot) => snap.tasks.some((t) => t.jobId === jobId && t.nodeId !== null && (snap.nodes.get(t.nodeId)?.drainDeadline ?? Infinity) <= now);
    if (forced(prev) || forced(s)) continue;
    const replicas = replicasOf(s, jobId);
    const rows = new Map(s.tasks.filter((t) => t.jobId === jobId).map((t) => [t.id, t]));
    const prevRows = prev.tasks.filter((t) => t.jobId === jobId && t.slot >= 0 && t.slot < replicas);
    const started = prevRows.filter((o) => {
      if (o.version === job.version || o.desired !== "run" || !HELD.has(o.state)) return false;
      const after = rows.get(o.id);
      return after !== undefined && after.desired === "stop" && HELD.has(after.state) && unexpired(after, now);
    });
    if (started.length === 0) continue;
    coverage.updateStarts++;
    const inFlight = slotsInFlight(s, jobId, job.version, replicas, info.minHealthyMs, info.startFirst, now);
    if (inFlight.length > info.parallelism) {
      return ["8 update past the parallelism", `${jobId} v${job.version} (parallelism ${info.parallelism}): updates of slots ${started.map((o) => o.slot).join(",")} started with ${inFlight.length} slots in flight (${inFlight.join("; ")})`];
    }
  }
  return null;
}

function slotsInFlight(s: Snapshot, jobId: string, version: number, replicas: number, minHealthyMs: number, startFirst: boolean, now: number): string[] {
  const out: string[] = [];
  const rows = s.tasks.filter((t) => t.jobId === jobId && t.slot >= 0 && t.slot < replicas);
  for (let slot = 0; slot < replicas; slot++) {
    const here = rows.filter((t) => t.slot === slot);
    // The store holds at most one row to run per slot.
    const run = here.find((t) => t.desired === "run");
    if (run === undefined) {
      const fence = here.find((t) => t.desired !== "run" && ((HELD.has(t.state) && unexpired(t, now)) || (t.state === "lost" && t.lostAt !== null && t.lostAt > now)));
      if (!startFirst && fence) out.push(`#${slot} waits for ${short(fence.id)} to stop`);
      continue;
    }
    if (run.version !== version) continue;
    if (run.state === "placed" || run.state === "leased") out.push(`#${slot} ${short(run.id)} ${run.state}`);
    else if (run.state === "running" && !settled(run, minHealthyMs, now)) out.push(`#${slot} ${short(run.id)} running, not settled`);
  }
  return out;
}
