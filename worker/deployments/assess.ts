// The deployment watcher as a pure function: reads one deployment, its job's task rows and the nodes at
// `now`, and says what the deployment has become (progress, a promote, the next wave, success, failure),
// what the reconciler may do meanwhile (the gate), and when to look again.
//
// Rules:
// - A new task (a row of the deployment's version) counts as healthy once it has run healthy — by its
//   health check, or running without one — for update.minHealthy ("settled", as the reconciler says).
// - It fails the deployment when its copy ends failed (or a service copy exits), or when it has not
//   settled update.healthyDeadline after it was placed. A task on a host that is not ready is neither:
//   it is pending, and so is an old-version slot whose host is offline (it keeps its old version).
// - The progress deadline restarts whenever one more new task settles. It does not run while the
//   deployment waits for a promote, is paused, or waits only for offline hosts; those wait for the
//   offline deadline instead, after which the deployment ends and names the slots left behind.
// - Canaries: update.canary new tasks in slots -1 … -N beside the old version; the rest waits until they
//   are promoted (by the operator, or autoPromote once all are healthy). With waves they are placed per
//   wave, in the wave's region, and each wave waits for its own promote.
// - Waves (update.waves = region): one region at a time, in waveOrder, then the others by name. The next
//   wave starts when every slot of this one runs the new version healthy (or waits on an offline host).
// - Success: every slot 0 … replicas−1 runs the new version healthy, or is pending on an offline host past
//   the offline deadline. Canary rows are then retired.
import type { DeploymentRecord } from "../../db/queries/deployments";
import type { DeploymentStatus } from "../../db/schema";
import { holdsResources } from "../scheduler/reconcile";
import type { NodeView, RolloutGate, TaskView } from "../scheduler/types";

/** What the watcher reads of a deployment row. */
export type DeploymentState = Pick<
  DeploymentRecord,
  "id" | "version" | "fromVersion" | "status" | "description" | "promoted" | "wave" | "wavesDone" | "healthyCount" | "progressDeadlineAt" | "offlineSince" | "createdAt"
>;

export interface RolloutRules {
  minHealthyMs: number;
  healthyDeadlineMs: number;
  /** 0: none. */
  progressDeadlineMs: number;
  offlineDeadlineMs: number;
  canary: number;
  autoPromote: boolean;
  autoRevert: boolean;
  waves: "none" | "region";
  waveOrder: readonly string[];
}

export interface SlotProgress {
  slot: number;
  canary: boolean;
  /** The new version's row in the slot, if any. */
  taskId: string | null;
  nodeId: string | null;
  region: string | null;
  state: TaskView["state"] | null;
  placedAt: number | null;
  healthySince: number | null;
  /** Ran healthy for minHealthy. */
  healthy: boolean;
  /** An old-version copy still runs in the slot. */
  oldVersion: number | null;
  /** Waiting on a host that is not ready: pending, never failed. */
  offline: boolean;
}

export interface Assessment {
  /** The fields that change; null when nothing does. */
  update: Partial<Omit<DeploymentState, "id" | "version" | "fromVersion" | "createdAt">> | null;
  /** Deployment events to record with the update, in order. */
  events: { type: string; message: string }[];
  /** What the reconciler may do in this evaluation. */
  gate: RolloutGate;
  /** When the deployment should be looked at again (a deadline, a task settling); null: on the next report. */
  wakeAt: number | null;
  /** Set when it failed and the job asks for an automatic revert. */
  revert: boolean;
  /**
   * Where it stands, for people: the stored description while it has ended, else computed at each look
   * (progress is not written on every change, only what the tasks cannot tell).
   */
  summary: string;
  slots: SlotProgress[];
}

const ACTIVE: ReadonlySet<DeploymentStatus> = new Set(["running", "paused"]);

export function isActive(status: DeploymentStatus): boolean {
  return ACTIVE.has(status);
}

/** Per-slot progress of a deployment's version: slots -canaries … -1, then 0 … replicas−1. */
export function slotProgress(
  d: Pick<DeploymentState, "version">,
  rules: Pick<RolloutRules, "minHealthyMs">,
  replicas: number,
  canaries: number,
  tasks: readonly TaskView[],
  nodes: ReadonlyMap<string, NodeView>,
  now: number,
): SlotProgress[] {
  const bySlot = new Map<number, TaskView[]>();
  // Old copies told to stop that may still run: a host that went quiet before it heard the order keeps it.
  const stopping = new Map<number, TaskView>();
  for (const t of tasks) {
    if (t.desired !== "run" && t.version !== d.version && holdsResources(t) && t.state !== "placed") stopping.set(t.slot, t);
    if (t.desired !== "run" || t.state === "stopped") continue;
    let rows = bySlot.get(t.slot);
    if (rows === undefined) bySlot.set(t.slot, (rows = []));
    rows.push(t);
  }
  const out: SlotProgress[] = [];
  for (let slot = canaries > 0 ? -canaries : 0; slot < replicas; slot++) {
    const rows = bySlot.get(slot) ?? [];
    const own = rows.find((r) => r.version === d.version);
    const old = rows.find((r) => r.version !== d.version && holdsResources(r) && r.state !== "placed") ?? (own === undefined ? stopping.get(slot) : undefined);
    const nodeOf = (t: TaskView | undefined) => (t?.nodeId ? nodes.get(t.nodeId) : undefined);
    const ownNode = nodeOf(own);
    const oldNode = nodeOf(old);
    const healthy = own !== undefined && settledAt(own, rules.minHealthyMs) !== null && (settledAt(own, rules.minHealthyMs) as number) <= now;
    const ownOffline = own !== undefined && holdsResources(own) && ownNode?.status !== "ready";
    const oldOffline = !healthy && own === undefined && old !== undefined && oldNode?.status !== "ready";
    out.push({
      slot,
      canary: slot < 0,
      taskId: own?.id ?? null,
      nodeId: own?.nodeId ?? null,
      region: (ownNode ?? oldNode)?.region ?? null,
      state: own?.state ?? null,
      placedAt: own?.placedAt ?? null,
      healthySince: own?.healthySince ?? null,
      healthy,
      oldVersion: old?.version ?? null,
      offline: !healthy && (ownOffline || oldOffline),
    });
  }
  return out;
}

/** When a running, not unhealthy copy has settled (or will); null while it is not running healthy. */
function settledAt(t: TaskView, minHealthyMs: number): number | null {
  if (t.state !== "running" || t.healthy === false || t.healthySince === null || t.healthySince === undefined) return null;
  return t.healthySince + minHealthyMs;
}

/** The regions in wave order: waveOrder first, then every other region the slots touch, by name. */
export function waveRegions(rules: Pick<RolloutRules, "waveOrder">, slots: readonly SlotProgress[]): string[] {
  const named = [...rules.waveOrder];
  const others = [...new Set(slots.flatMap((s) => (s.region === null || named.includes(s.region) ? [] : [s.region])))].sort();
  return [...named, ...others];
}

const plural = (n: number, word: string) => `${n} ${n === 1 ? word : word.endsWith("y") ? `${word.slice(0, -1)}ies` : `${word}s`}`;

export function assessDeployment(
  d: DeploymentState,
  rules: RolloutRules,
  job: { replicas: number; type: "service" | "batch" },
  tasks: readonly TaskView[],
  nodes: ReadonlyMap<string, NodeView>,
  now: number,
): Assessment {
  const out: Assessment = { update: null, events: [], gate: { hold: false, canaries: 0 }, wakeAt: null, revert: false, summary: d.description, slots: [] };
  const change = (fields: NonNullable<Assessment["update"]>) => {
    out.update = { ...(out.update ?? {}), ...fields };
  };
  const wake = (at: number) => {
    if (at > now) out.wakeAt = out.wakeAt === null ? at : Math.min(out.wakeAt, at);
  };
  // Canaries are retired once a deployment has ended: its progress is its regular slots'.
  const canaries = d.fromVersion === null ? 0 : rules.canary;
  const slots = slotProgress(d, rules, job.replicas, isActive(d.status) ? canaries : 0, tasks, nodes, now);
  out.slots = slots;

  if (!isActive(d.status)) {
    // Failed (or reverted, cancelled) for the job's version: nothing more is rolled until a new version.
    // Successful: old slots left on offline hosts roll freely when they return.
    out.gate = { hold: d.status !== "successful", canaries: 0 };
    return out;
  }

  const waves = rules.waves === "region";
  const regions = waves ? waveRegions(rules, slots) : [];
  let wave = d.wave;
  let wavesDone = d.wavesDone;
  let promoted = d.promoted || canaries === 0;
  const regular = slots.filter((s) => !s.canary);
  const canarySlots = slots.filter((s) => s.canary);
  const slotDone = (s: SlotProgress) => s.healthy || (s.offline && s.taskId === null);

  // Failures first: a failed deployment rolls nothing more, whatever else it would have done.
  let failure: string | null = null;
  if (d.status === "running") {
    for (const s of slots) {
      const t = s.taskId === null ? undefined : tasks.find((r) => r.id === s.taskId);
      if (t === undefined || s.offline) continue;
      const name = s.canary ? `canary ${-s.slot}` : `slot ${s.slot}`;
      if (t.state === "failed" || (t.state === "complete" && job.type === "service")) {
        failure = `${name} of version ${d.version} ${t.state === "failed" ? "failed" : "exited"}`;
        break;
      }
      if (!s.healthy && holdsResources(t) && t.placedAt !== null && t.placedAt !== undefined) {
        const deadline = t.placedAt + rules.healthyDeadlineMs;
        if (now >= deadline) {
          failure = `${name} of version ${d.version} was not healthy within the healthy deadline (${formatMs(rules.healthyDeadlineMs)})`;
          break;
        }
        wake(deadline);
      }
      // A healthy copy that has not yet run for minHealthy settles at a known time.
      const at = settledAt(t, rules.minHealthyMs);
      if (at !== null && at > now) wake(at);
    }
  }

  const healthyNow = slots.filter((s) => s.healthy).length;
  let progressDeadlineAt = d.progressDeadlineAt;
  if (healthyNow !== d.healthyCount) {
    change({ healthyCount: healthyNow });
    if (healthyNow > d.healthyCount && rules.progressDeadlineMs > 0) progressDeadlineAt = now + rules.progressDeadlineMs;
  }
  if (progressDeadlineAt === null && rules.progressDeadlineMs > 0) progressDeadlineAt = now + rules.progressDeadlineMs;

  // Waves: choose the first, and move on once one is done.
  if (waves && failure === null && d.status === "running") {
    const pendingWave = (r: string) => regular.some((s) => s.region === r && !slotDone(s));
    if (wave !== null && promoted && !pendingWave(wave)) {
      wavesDone = [...wavesDone, wave];
      const next = nextWave(regions, wavesDone, pendingWave);
      out.events.push({ type: "deployment.wave", message: next === null ? `wave ${wave} done` : `wave ${wave} done; next: ${next}` });
      wave = next;
      if (next !== null && canaries > 0) promoted = false;
      change({ wave, wavesDone, promoted });
    } else if (wave === null) {
      const first = nextWave(regions, wavesDone, pendingWave);
      if (first !== null) {
        wave = first;
        out.events.push({ type: "deployment.wave", message: `wave ${first} started` });
        change({ wave });
      }
    }
  }

  // Canaries: wait for them, then for a promote (or promote them).
  let waitingForPromote = false;
  if (!promoted && failure === null) {
    const placedCanaries = canarySlots.filter((s) => s.healthy && (!waves || s.region === wave)).length;
    if (placedCanaries >= canaries) {
      if (rules.autoPromote && d.status === "running") {
        promoted = true;
        change({ promoted: true });
        out.events.push({ type: "deployment.promoted", message: `${plural(canaries, "canary")} healthy${wave !== null ? ` in ${wave}` : ""}: promoted automatically` });
        if (rules.progressDeadlineMs > 0) progressDeadlineAt = now + rules.progressDeadlineMs;
      } else waitingForPromote = true;
    }
  }

  const remaining = regular.filter((s) => !s.healthy);
  const offlineOnly = remaining.length > 0 && remaining.every((s) => s.offline);
  // Hosts back from offline: their slots roll now, and the progress deadline starts again for them (it
  // did not run while the rollout waited only for them).
  if (d.offlineSince !== null && !offlineOnly) {
    change({ offlineSince: null });
    if (rules.progressDeadlineMs > 0) progressDeadlineAt = now + rules.progressDeadlineMs;
  }
  const rollingDone = remaining.length === 0 || offlineOnly;
  const allDone = promoted && rollingDone && (!waves || wave === null || !regular.some((s) => s.region === wave && !slotDone(s)));

  if (d.status === "running" && failure === null && !waitingForPromote && !allDone && progressDeadlineAt !== null && !offlineOnly) {
    if (now >= progressDeadlineAt) failure = `no new task became healthy within the progress deadline (${formatMs(rules.progressDeadlineMs)})`;
    else wake(progressDeadlineAt);
  }
  if (progressDeadlineAt !== d.progressDeadlineAt) change({ progressDeadlineAt });

  if (failure !== null) {
    out.revert = rules.autoRevert;
    change({ status: "failed", description: `failed: ${failure}` });
    out.summary = `failed: ${failure}`;
    out.events.push({ type: "deployment.failed", message: failure });
    out.gate = { hold: true, canaries: 0 };
    return out;
  }

  if (d.status === "running" && allDone) {
    let offlineSince = d.offlineSince;
    if (offlineOnly) {
      if (offlineSince === null) {
        offlineSince = now;
        change({ offlineSince });
      }
      const deadline = offlineSince + rules.offlineDeadlineMs;
      if (now < deadline) {
        wake(deadline);
        out.summary = `waiting for ${plural(remaining.length, "slot")} on offline hosts (${remaining.map((s) => s.slot).join(", ")}); they keep their old version`;
        out.gate = { hold: false, canaries, ...(waves && wave !== null ? { regions: [...wavesDone, wave] } : {}) };
        return out;
      }
    } else if (offlineSince !== null) change({ offlineSince: null });
    const left = offlineOnly ? `; ${plural(remaining.length, "slot")} on offline hosts still run older versions (${remaining.map((s) => s.slot).join(", ")}) and update when their hosts return` : "";
    change({ status: "successful", description: `every slot runs version ${d.version} healthy${left}` });
    out.summary = `every slot runs version ${d.version} healthy${left}`;
    out.events.push({ type: "deployment.successful", message: `version ${d.version} rolled out${left}` });
    out.gate = { hold: false, canaries: 0 };
    return out;
  }

  const paused = d.status === "paused";
  const healthyRegular = regular.filter((s) => s.healthy).length;
  out.summary = paused
    ? `paused: ${healthyRegular} of ${job.replicas} slots at version ${d.version}`
    : waitingForPromote
      ? `${plural(canaries, "canary")} healthy${wave !== null ? ` in ${wave}` : ""}: waiting for promote`
      : !promoted
        ? `placing ${plural(canaries, "canary")}${wave !== null ? ` in ${wave}` : ""}`
        : `${healthyRegular} of ${job.replicas} slots at version ${d.version} healthy${wave !== null ? ` (wave ${wave})` : ""}`;
  out.gate = {
    hold: paused || !promoted,
    canaries,
    ...(waves && wave !== null ? { canaryRegion: wave, regions: [...wavesDone, wave] } : {}),
  };
  if (waves && wave === null) out.gate.hold = true;
  return out;
}

/**
 * The next region to roll: the first in order not yet done with slots left, else a done one that has slots
 * left again (a slot lost there and placed back at its old version meanwhile): a wave never leaves a slot behind.
 */
function nextWave(regions: readonly string[], done: readonly string[], pending: (region: string) => boolean): string | null {
  return regions.find((r) => !done.includes(r) && pending(r)) ?? regions.find((r) => pending(r)) ?? null;
}

function formatMs(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
