// The reconciler: compares one job's desired slots with its task rows at `now` and says what must change —
// stops, replacements, delays, give-ups, and the placements to attempt — without looking at node capacity.
//
// Invariants:
// - A task row is one slot of one job version. For each slot below `replicas` the occupant is the best
//   current-version row whose desired state is run and which is not stopped.
// - Fencing: under `update.order: stop-first` (the default) a slot gets a new copy (a new row, or its row
//   moved to another node) only while no other copy of it may be running: every other row of the slot has
//   been reported stopped or ended, or its lease has lapsed (the stored expiry includes the fence window of
//   `disconnect: stop` jobs). Until then the slot waits and counts as in flight. A running row is never
//   moved in place: a drain or an update first stops it, and the slot is placed again once it is gone.
//   `start-first` is the operator's choice to let the two overlap for a moment.
// - In a running job every other desired-run row is stopped, live or finished: rows at or above `replicas`,
//   duplicates, and old versions. The store allows one desired-run row per slot, so a finished old row must
//   be retired in the same plan that places its slot's new row, or the insert would clash. A live old row
//   is the exception while its slot has no occupant: it keeps running until an update replaces it.
// - Budget: after this plan, at most `update.parallelism` slots of a job are in flight (a current-version
//   task not yet running and healthy, or a slot waiting for its old copy to stop), counting the placements
//   this plan asks for. Updates and migrations of running, healthy tasks spend it; migrating a task that is
//   already in flight spends nothing. The one exception is a node past its drain deadline: its tasks move
//   at once, in flight like the rest but outside the budget; updates of the job's other slots keep it.
// - Deployments (job.rollout): while the gate holds (paused, failed, canaries awaiting a promote) no old-version
//   slot is updated; with waves only slots whose old copies sit in the allowed regions are. A slot whose old
//   copy is on a node that is not ready is never updated in place: its stop could not reach the node, so the
//   slot would only wait, fenced. It keeps its old version until its host returns or its lease lapses (then
//   it is lost and placed again like any lost slot). Drains are never held.
// - Canary slots are -1 … -canaries: the job's version beside the old one, outside the count and the
//   budget. Rows in other negative slots, or of another version, or (with a canary region) elsewhere, are
//   retired.
// - Rows whose desired state is stop are on their way out and are left alone (but they fence their slot
//   while they may run). A stopped job's finished rows are left alone too, so that restarting the job finds
//   its slots' history.
import type { JobView, NodeStatus, ReplaceReason, ReschedulePolicy, StopReason, TaskView } from "./types";

/**
 * A task is lost when its lease has expired (leased, running) or its node is down or gone. A placed task,
 * which no agent has claimed yet, is lost as soon as its node is anything but ready: a node that has gone
 * quiet will not claim it, and waiting for the node to be declared down would hold the slot for nothing.
 * (schedule() keeps it where it is, though, while no ready node has room for it.)
 * (A leased or running task on a quiet node stays until its lease lapses: that is what fencing waits for.)
 */
export function lostSince(task: TaskView, nodeStatus: NodeStatus | undefined, now: number): number | null {
  if (task.state === "placed") return nodeStatus === "ready" ? null : now;
  if (task.state !== "leased" && task.state !== "running") return null;
  if (task.leaseExpiresAt !== null && task.leaseExpiresAt < now) return task.leaseExpiresAt;
  // A node marked down keeps its tasks until their leases lapse: a `disconnect: stop` lease outlives three
  // TTLs of silence (it includes the fence window), and its agent may still be running it behind a partition.
  // (A row with no expiry at all has nothing to wait for.)
  return nodeStatus === undefined || (nodeStatus === "down" && task.leaseExpiresAt === null) ? now : null;
}

/**
 * Whether a copy of this row may still be running somewhere: leased or running under a lease that has not
 * lapsed, or lost with a loss time still ahead (a node taken over by another host: its old holder keeps
 * its lease until it lapses).
 */
export function mayRun(task: TaskView, lost: boolean, now: number): boolean {
  if (task.state === "leased" || task.state === "running") return !lost;
  return task.state === "lost" && task.lostAt !== null && task.lostAt > now;
}

/** Live = on a node and holding its resources. */
export function holdsResources(task: TaskView): boolean {
  return task.state === "placed" || task.state === "leased" || task.state === "running";
}

/**
 * Whether stopping this task gives its resources back at once. Only a task no agent has started
 * (placed, pending) is stopped outright; a leased or running one holds its node until its agent
 * reports it stopped, and the store counts it until then, so the plan must too.
 */
export function stopFreesAtOnce(task: TaskView): boolean {
  return task.state === "placed" || task.state === "pending";
}

/** However short a job's reschedule.delay, a failed copy's slot waits at least this long: no hot loop. */
export const MIN_RESCHEDULE_DELAY_MS = 1_000;

/** The k-th replacement of a failed copy waits min(maxDelay, delay·2^(k−1)) after the failure, and at least 1 s. */
export function rescheduleDelay(job: Pick<JobView, "reschedule">, attempt: number): number {
  const { delayMs, maxDelayMs } = job.reschedule;
  // 2^(k−1) overflows to Infinity for absurd k; min() then yields maxDelay, which is what we want.
  const backoff = Math.min(maxDelayMs, Math.max(delayMs, MIN_RESCHEDULE_DELAY_MS) * 2 ** Math.max(0, attempt - 1));
  return Math.max(MIN_RESCHEDULE_DELAY_MS, backoff);
}

type AttemptCount = Pick<TaskView, "attempt" | "attemptSince">;

/**
 * The replacements that still count against the policy for a failure at `at`: those since attemptSince,
 * if that lies within the job's interval. A row with no start of its window (none yet, or written before
 * windows were kept) starts afresh.
 */
export function countedAttempts(policy: ReschedulePolicy, task: AttemptCount, at: number): number {
  const since = task.attemptSince ?? null;
  return since !== null && at - since < policy.intervalMs ? task.attempt : 0;
}

/** Whether a failed (or exited service) copy has used up its slot's replacements: the slot stays failed. */
export function replacementsSpent(policy: ReschedulePolicy, task: AttemptCount & Pick<TaskView, "lostAt">, now: number): boolean {
  return policy.attempts > 0 && countedAttempts(policy, task, task.lostAt ?? now) >= policy.attempts;
}

export type PlacementRequest =
  /** A slot with no row of the current version (new, scaled up, or its old version already gone). */
  | { kind: "place"; slot: number }
  /** The same row, re-placed after loss or failure, or placed for the first time. */
  | { kind: "replace"; task: TaskView; reason: ReplaceReason; attempt: number; attemptSince: number | null }
  /** A canary slot's first row, in this region if one is named. */
  | { kind: "canary"; slot: number; region?: string }
  /** The same row, moved off a draining node (only while nothing runs it, or under start-first). */
  | { kind: "migrate"; task: TaskView }
  /** The slot's old-version rows are stopped only if the new version finds a node. */
  | { kind: "update"; slot: number; old: TaskView[] };

export interface JobReconciliation {
  stop: { task: TaskView; reason: StopReason }[];
  delayed: { taskId: string; until: number }[];
  failed: { taskId: string; reason: string }[];
  /** In the order to try them: unbudgeted first (replacements, new slots), then updates, then migrations. */
  requests: PlacementRequest[];
  /** This job's tasks that stay live through the plan unless a request moves or stops them. */
  survivors: TaskView[];
  /** When a copy now counted in flight only for its min healthy time settles, if the budget held work back. */
  wakeAt: number | null;
}

export interface ReconcileContext {
  now: number;
  /** Tasks found lost at this evaluation, with when. */
  lostAt: ReadonlyMap<string, number>;
  isDraining(nodeId: string): boolean;
  /** Draining past its deadline: its tasks move now, outside the budget (absent: no node is). */
  isDrainForced?(nodeId: string): boolean;
  /** Whether the node is ready: an order sent to it is heard. */
  isReachable(nodeId: string): boolean;
  regionOf(nodeId: string): string | undefined;
}

/** Occupant preference: live, then pending, then a finished batch run, then a row to replace. */
function occupantRank(task: TaskView, lost: boolean, job: JobView): number {
  if (lost) return 1;
  if (holdsResources(task)) return 4;
  if (task.state === "pending") return 3;
  if (task.state === "complete" && job.type === "batch") return 2;
  return 1;
}

export function reconcileJob(job: JobView, tasks: readonly TaskView[], ctx: ReconcileContext): JobReconciliation {
  const out: JobReconciliation = { stop: [], delayed: [], failed: [], requests: [], survivors: [], wakeAt: null };
  const isLost = (t: TaskView): boolean => ctx.lostAt.has(t.id);
  const live = (t: TaskView): boolean => holdsResources(t) && !isLost(t);
  const nonTerminal = (t: TaskView): boolean => live(t) || t.state === "pending";
  const startFirst = job.update.order === "start-first";
  const gate = job.rollout;
  const canaries = Math.max(0, Math.floor(gate?.canaries ?? 0));
  const minHealthy = job.update.minHealthyMs ?? 0;
  let settling: number | null = null;
  /** A running copy that is not unhealthy settles once it has been so for the min healthy time. */
  const settled = (t: TaskView): boolean => {
    if (t.state !== "running" || t.healthy === false) return false;
    if (minHealthy <= 0) return true;
    const at = (t.healthySince ?? ctx.now) + minHealthy;
    if (at <= ctx.now) return true;
    settling = settling === null ? at : Math.min(settling, at);
    return false;
  };

  if (job.status === "stopped") {
    for (const t of tasks) if (t.desired === "run" && nonTerminal(t)) out.stop.push({ task: t, reason: "job-stopped" });
    return out;
  }

  const bySlot = new Map<number, TaskView[]>();
  // Rows asked to stop that may still run: they fence their slot until they are gone.
  const fencing = new Map<number, number>();
  for (const t of tasks) {
    if (t.desired !== "run") {
      if (mayRun(t, isLost(t), ctx.now)) fencing.set(t.slot, (fencing.get(t.slot) ?? 0) + 1);
      continue;
    }
    if (!Number.isInteger(t.slot) || t.slot < -canaries || t.slot >= job.replicas) {
      out.stop.push({ task: t, reason: t.slot < 0 ? "canary" : "scale-down" });
      continue;
    }
    let rows = bySlot.get(t.slot);
    if (rows === undefined) bySlot.set(t.slot, (rows = []));
    rows.push(t);
  }

  const unbudgeted: PlacementRequest[] = [];
  const updates: { request: PlacementRequest; draining: boolean; forced: boolean; slot: number }[] = [];
  const migrations: { request: PlacementRequest; free: boolean; forced: boolean }[] = [];
  const forcedOff = (nodeId: string | null) => nodeId !== null && ctx.isDrainForced?.(nodeId) === true;
  let inFlight = 0;
  const none: TaskView[] = [];

  for (let slot = canaries > 0 ? -canaries : 0; slot < job.replicas; slot++) {
    const canary = slot < 0;
    const rows = bySlot.get(slot) ?? none;
    let occupant: TaskView | undefined;
    let best = 0;
    for (const r of rows) {
      if (r.version !== job.version || r.state === "stopped") continue;
      const rank = occupantRank(r, isLost(r), job);
      if (rank > best || (rank === best && occupant !== undefined && r.id < occupant.id)) {
        occupant = r;
        best = rank;
      }
    }

    const oldLive: TaskView[] = [];
    for (const r of rows) {
      if (r === occupant) continue;
      // Another current-version row (a duplicate, or one stopped while still desired): one occupant is enough.
      if (r.version === job.version) out.stop.push({ task: r, reason: "scale-down" });
      else if (canary) out.stop.push({ task: r, reason: "canary" });
      else if (live(r)) oldLive.push(r);
      else out.stop.push({ task: r, reason: "update" }); // pending or finished: nothing running to roll
    }
    // Stop-first: while another copy of the slot may run, nothing new starts for it.
    const fenced = !startFirst && (fencing.has(slot) || rows.some((r) => r !== occupant && mayRun(r, isLost(r), ctx.now)));
    // A canary of another wave's region is retired, and its slot placed again in this wave's region.
    if (canary && occupant !== undefined && gate?.canaryRegion !== undefined && holdsResources(occupant) && !isLost(occupant)) {
      if (occupant.nodeId === null || ctx.regionOf(occupant.nodeId) !== gate.canaryRegion) {
        out.stop.push({ task: occupant, reason: "canary" });
        continue;
      }
    }
    // Canaries stand beside the rollout: they neither spend nor wait for its budget.
    const waits = (): void => {
      if (!canary) inFlight++;
    };

    if (occupant === undefined) {
      if (oldLive.length === 0) {
        if (fenced) waits();
        else if (canary) unbudgeted.push({ kind: "canary", slot, ...(gate?.canaryRegion !== undefined ? { region: gate.canaryRegion } : {}) });
        else unbudgeted.push({ kind: "place", slot });
      } else {
        out.survivors.push(...oldLive);
        const draining = oldLive.some((t) => t.nodeId !== null && ctx.isDraining(t.nodeId));
        // Offline: its stop would not be heard, and the slot would wait fenced. It keeps its old version.
        const offline = oldLive.some((t) => t.nodeId === null || !ctx.isReachable(t.nodeId));
        const allowed = gate === undefined || (!gate.hold && (gate.regions === undefined || oldLive.every((t) => t.nodeId !== null && gate.regions!.includes(ctx.regionOf(t.nodeId) ?? ""))));
        const forced = oldLive.some((t) => forcedOff(t.nodeId));
        if (draining || (allowed && !offline)) updates.push({ request: { kind: "update", slot, old: oldLive }, draining, forced, slot });
      }
      continue;
    }
    for (const t of oldLive) out.stop.push({ task: t, reason: "update" });

    const lostAt = ctx.lostAt.get(occupant.id);
    if (lostAt === undefined && holdsResources(occupant)) {
      out.survivors.push(occupant);
      const isSettled = settled(occupant);
      if (!isSettled) waits();
      if (occupant.nodeId !== null && ctx.isDraining(occupant.nodeId)) {
        migrations.push({ request: { kind: "migrate", task: occupant }, free: !isSettled, forced: forcedOff(occupant.nodeId) });
      }
      continue;
    }
    if (fenced) {
      // Lost, failed or pending, but another copy of the slot may still run: wait for it.
      waits();
      continue;
    }
    if (occupant.state === "pending") {
      unbudgeted.push({ kind: "replace", task: occupant, reason: "pending", attempt: occupant.attempt, attemptSince: occupant.attemptSince ?? null });
      continue;
    }
    if (occupant.state === "complete" && job.type === "batch") continue; // done for good
    if (occupant.state === "placed") {
      // Placed on a node that went quiet before it claimed: it never ran, so moving it is no reschedule.
      unbudgeted.push({ kind: "replace", task: occupant, reason: "lost", attempt: occupant.attempt, attemptSince: occupant.attemptSince ?? null });
      continue;
    }

    // Lost now, or a lost row: its node is gone, not the task at fault. It is replaced once its old holder's
    // lease has lapsed (a node taken over records that moment as the loss), without backoff, and it does not
    // count against the reschedule policy.
    if (lostAt !== undefined || occupant.state === "lost") {
      const lapses = lostAt ?? occupant.lostAt ?? ctx.now;
      if (ctx.now < lapses) {
        out.delayed.push({ taskId: occupant.id, until: lapses });
        continue;
      }
      unbudgeted.push({ kind: "replace", task: occupant, reason: "lost", attempt: occupant.attempt, attemptSince: occupant.attemptSince ?? null });
      continue;
    }
    // A failed or (service) exited copy: replaced under the reschedule policy, with backoff, until its
    // attempts within the interval are spent. Then the slot stays failed until the operator acts.
    const reason: ReplaceReason = occupant.state === "complete" ? "complete" : "failed";
    const failedAt = occupant.lostAt ?? ctx.now;
    const policy = job.reschedule;
    const counted = countedAttempts(policy, occupant, failedAt);
    if (policy.attempts > 0 && counted >= policy.attempts) {
      out.failed.push({
        taskId: occupant.id,
        reason: `reschedule attempts spent: slot ${slot} was replaced ${counted} times within ${formatWindow(policy.intervalMs)} (last ${reason})`,
      });
      continue;
    }
    const attempt = counted + 1;
    const attemptSince = counted === 0 ? ctx.now : (occupant.attemptSince ?? ctx.now);
    const until = failedAt + rescheduleDelay(job, attempt);
    if (ctx.now < until) out.delayed.push({ taskId: occupant.id, until });
    else unbudgeted.push({ kind: "replace", task: occupant, reason, attempt, attemptSince });
  }

  // Past a drain deadline everything on the node moves at once, whatever the parallelism; it is in flight
  // like the rest, so what else the budget allows waits for it. Updates of slots elsewhere keep the budget.
  const forcedUpdates = updates.filter((u) => u.forced);
  const forcedMigrations = migrations.filter((m) => m.forced && !m.free);
  // Placements asked for above will be in flight too once applied.
  let budget = Math.max(1, Math.floor(job.update.parallelism)) - inFlight - unbudgeted.length - forcedUpdates.length - forcedMigrations.length;
  out.requests = [...unbudgeted, ...forcedUpdates.map((u) => u.request), ...forcedMigrations.map((m) => m.request)];
  // Old versions on draining nodes first: they have to move anyway.
  updates.sort((a, b) => Number(b.draining) - Number(a.draining) || a.slot - b.slot);
  let heldBack = false;
  for (const u of updates) {
    if (u.forced) continue;
    if (budget <= 0) {
      heldBack = true;
      break;
    }
    out.requests.push(u.request);
    budget--;
  }
  for (const m of migrations) {
    if (m.forced && !m.free) continue;
    if (m.free) out.requests.push(m.request);
    else if (budget > 0) {
      out.requests.push(m.request);
      budget--;
    } else heldBack = true;
  }
  if (heldBack) out.wakeAt = settling;
  return out;
}

/** "1h", "90m", "45s": the reschedule window as a person would write it. */
function formatWindow(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  return `${Math.round(ms / 1000)}s`;
}
