// What a deployment's detail says, in words: old and new replicas as what they are ("v2: 2/6 healthy,
// v1: 4 still serving"), each slot's mark and phrase, and how a deployment ended. Pure, so deployment
// status, rollout status, apply --wait and their tests share one reading.
import type { DeploymentDetail, DeploymentSlot, DeploymentStatus } from "./api-types";

/** Task states in which the new version's copy has ended: the deployment fails on them. */
const ENDED = new Set(["failed", "complete", "lost"]);

/**
 * What a slot shows: the new version healthy, on its way or failed; a host that is away; an old copy still
 * serving; or nothing yet (waiting: no new copy placed, and no old one running).
 */
export type SlotMark = "healthy" | "starting" | "failed" | "offline" | "old" | "waiting";

export function markOf(s: DeploymentSlot): SlotMark {
  if (s.healthy) return "healthy";
  if (s.offline) return "offline";
  // A new task pending with no node is not on its way yet (no room, or its turn has not come).
  if (s.taskId !== null && !(s.state === "pending" && s.nodeId === null)) return s.state !== null && ENDED.has(s.state) ? "failed" : "starting";
  return s.oldVersion !== null ? "old" : "waiting";
}

/** "canary 1" for slot -1, "slot 0" for slot 0: how messages name a slot. */
export const slotName = (slot: number) => (slot < 0 ? `canary ${-slot}` : `slot ${slot}`);

/** A deployment id as listings show it; the API takes any unique prefix. */
export const shortDeploymentId = (id: string) => id.slice(0, 8);

/** The job's name: deployments carry the job's id, `namespace/name`. */
export const jobNameOf = (d: { jobId: string; namespace: string }) => d.jobId.slice(d.namespace.length + 1);

/** "1 → 2", or "2" for a job's first version. */
export const versionsOf = (d: { version: number; fromVersion: number | null }) => (d.fromVersion === null ? String(d.version) : `${d.fromVersion} → ${d.version}`);

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** The new version's counts and the old copies', apart, so the canaries can go between them. */
function countParts(version: number, slots: readonly DeploymentSlot[], named: boolean): { fresh: string[]; old: string[] } {
  const marks = slots.map(markOf);
  const count = (m: SlotMark) => marks.filter((x) => x === m).length;
  const fresh = [`${named ? `v${version}: ` : ""}${count("healthy")}/${slots.length} healthy`];
  if (count("starting") > 0) fresh.push(`${count("starting")} starting`);
  if (count("failed") > 0) fresh.push(`${count("failed")} failed`);
  if (count("waiting") > 0) fresh.push(`${count("waiting")} not placed yet`);
  if (count("offline") > 0) fresh.push(`${plural(count("offline"), "slot")} waiting on offline hosts`);
  // Old copies are grouped by their version: a rollout that superseded another may meet two.
  const byVersion = new Map<number, number>();
  for (const s of slots) if (s.oldVersion !== null) byVersion.set(s.oldVersion, (byVersion.get(s.oldVersion) ?? 0) + 1);
  const old = [...byVersion].sort((a, b) => b[0] - a[0]).map(([v, n]) => `v${v}: ${n} still serving`);
  return { fresh, old };
}

/** Some regular slots' counts: "v2: 2/6 healthy, 1 starting, v1: 4 still serving" (unnamed: "2/6 healthy, …"). */
export function countsPhrase(version: number, slots: readonly DeploymentSlot[], opts: { named?: boolean } = {}): string {
  const { fresh, old } = countParts(version, slots, opts.named !== false);
  return [...fresh, ...old].join(", ");
}

/** The canaries' count: "canary 1/1 healthy", "canaries 1/2 healthy"; null without canaries. */
export function canaryPhrase(slots: readonly DeploymentSlot[]): string | null {
  const canaries = slots.filter((s) => s.canary);
  if (canaries.length === 0) return null;
  return `${canaries.length === 1 ? "canary" : "canaries"} ${canaries.filter((s) => s.healthy).length}/${canaries.length} healthy`;
}

/** The slots that matter: once a deployment has succeeded its canaries are retired, and their slots are empty. */
export const liveSlots = (d: DeploymentDetail) => (d.status === "successful" ? d.slots.filter((s) => !s.canary || s.taskId !== null) : d.slots);

/** The whole deployment in one line: "v2: 2/6 healthy, canary 1/1 healthy, v1: 4 still serving". */
export function progressPhrase(d: DeploymentDetail): string {
  const slots = liveSlots(d);
  const { fresh, old } = countParts(d.version, slots.filter((s) => !s.canary), true);
  const canaries = canaryPhrase(slots);
  return [...fresh, ...(canaries === null ? [] : [canaries]), ...old].join(", ");
}

/** One slot that is not there yet: "placed", "v1 still serving", "running, not healthy yet (host offline)". */
export function slotPhrase(s: DeploymentSlot): string {
  if (s.taskId === null) {
    const what = s.oldVersion !== null ? `v${s.oldVersion} still serving` : "no task yet";
    return s.offline ? `${what}, its host is offline` : what;
  }
  const state = s.state === "running" && !s.healthy ? "running, not healthy yet" : (s.state ?? "unknown");
  return s.offline ? `${state} (host offline)` : state;
}

/** "slot 0: placed" for every slot that does not run the new version healthy yet. */
export function missingSlots(d: DeploymentDetail): string[] {
  return d.slots.filter((s) => !s.healthy).map((s) => `${slotName(s.slot)}: ${slotPhrase(s)}`);
}

/** The canaries are healthy and the rollout waits for an operator's promote. */
export function waitsForPromote(d: DeploymentDetail): boolean {
  const canaries = d.slots.filter((s) => s.canary && (d.wave === null || s.region === d.wave));
  return d.status === "running" && !d.promoted && canaries.length > 0 && canaries.every((s) => s.healthy);
}

/** Whether the deployment rolls region by region (update.waves: region). */
export const hasWaves = (d: DeploymentDetail) => d.wave !== null || d.wavesDone.length > 0;

/** How a deployment ended, as a wait reports it; null while it runs or is paused. A reverted one failed first. */
export type DeploymentEnd = "successful" | "failed" | "cancelled";

export function endOf(status: DeploymentStatus): DeploymentEnd | null {
  switch (status) {
    case "successful":
      return "successful";
    case "failed":
    case "reverted":
      return "failed";
    case "cancelled":
      return "cancelled";
    case "running":
    case "paused":
      return null;
  }
}

/** "failed: slot 0 of version 2 failed; reverted to …" without the word the status already says. */
export function endReason(d: { status: DeploymentStatus; description: string }): string {
  const reason = d.description.replace(/^failed: /, "");
  switch (d.status) {
    case "failed":
      return `failed: ${reason}`;
    case "reverted":
      return `failed and was reverted: ${reason}`;
    case "cancelled":
      return `was cancelled: ${d.description}`;
    default:
      return `${d.status}: ${d.description}`;
  }
}
