// Following one deployment until it ends, for rollout status and apply --wait. It reads the deployment's
// detail again whenever an event of its job arrives (and every few seconds regardless), shows each look,
// and stops as soon as the outcome is known:
// - successful: it returns the last detail;
// - failed, or failed and reverted: EXIT.failed, with the description and the failed tasks' last errors;
// - cancelled (a newer version, the job stopped): EXIT.cancelled, with what ended it;
// - slots of the new version waiting for room while nothing changes (the no-room rule of wait.ts):
//   EXIT.unplaced, with each slot's reason;
// - the deadline: EXIT.timeout, with the counts and each slot not there yet.
// A paused deployment, or one waiting for a promote, is still under way: it waits, and says so.
import type { DeploymentDetail, Task } from "./api-types";
import type { ControlPlaneClient } from "./client";
import { endOf, endReason, jobNameOf, missingSlots, progressPhrase, shortDeploymentId, slotName, waitsForPromote } from "./deployment-progress";
import { EXIT } from "./exit-codes";
import { oneLine } from "./format";
import { EventWaker } from "./event-follow";
import { CliError, type FieldError, type Writable } from "./io";
import { createRolloutView, type ViewOptions } from "./rollout-view";
import { fleetFingerprint, NoRoomWindow, STORED_HINT } from "./wait";

export interface FollowOptions {
  namespace: string;
  /** The deployment as first read; followed by its id. */
  deployment: DeploymentDetail;
  timeoutMs: number;
  /** How errors name what was awaited: "deployment 61c70627 of default/web", "job default/web version 2". */
  subject: string;
  out: Writable;
  view: ViewOptions;
}

export interface Followed {
  detail: DeploymentDetail;
  /** How long it took, "3.1". */
  seconds: string;
}

interface Unplaced {
  slot: number;
  reason: string;
}

/** Follows the deployment; returns once it is successful, throws a CliError with its exit code otherwise. */
export async function followDeployment(client: ControlPlaneClient, opts: FollowOptions): Promise<Followed> {
  const { namespace } = opts;
  const started = Date.now();
  const deadline = started + opts.timeoutMs;
  const view = createRolloutView(opts.out, opts.view);
  const noRoom = new NoRoomWindow();
  const waker = new EventWaker(client, { namespace, job: jobNameOf(opts.deployment) });
  try {
    return await follow();
  } finally {
    waker.close();
  }

  async function follow(): Promise<Followed> {
    let d = opts.deployment;
    for (;;) {
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      const end = endOf(d.status);
      const unplaced = end === null && waitsForRoom(d) ? await unplacedSlots(client, d) : [];
      view.show(d, Date.now() - started, notesFor(d, namespace, unplaced));
      if (end === "successful") return { detail: d, seconds };
      if (end !== null) throw await endedError(client, opts.subject, d);
      const key = unplaced.length === 0 ? null : JSON.stringify([await fleetOf(client), unplaced]);
      if (noRoom.settled(key, Date.now())) throw unplacedError(opts.subject, unplaced);
      const left = deadline - Date.now();
      if (left <= 0) {
        if (unplaced.length > 0) throw unplacedError(opts.subject, unplaced);
        throw new CliError(`${opts.subject} not ready after ${seconds}s: ${progressPhrase(d)} (${d.description}); ${missingSlots(d).join("; ")}`, [], { exitCode: EXIT.timeout });
      }
      await waker.wait(Math.min(waker.lookAgainMs(unplaced.length > 0), left));
      d = await client.getDeployment(namespace, d.id);
    }
  }
}

/** A new-version slot pending with no node: perhaps no room. The job's tasks say why (their message). */
const waitsForRoom = (d: DeploymentDetail) => d.slots.some((s) => s.state === "pending" && s.nodeId === null);

/** The new version's tasks: a failed one's last error, a pending one's reason, are only in the job's detail. */
async function versionTasks(client: ControlPlaneClient, d: DeploymentDetail): Promise<Task[]> {
  const { tasks } = await client.getJob(d.namespace, jobNameOf(d));
  return tasks.filter((t) => t.version === d.version && t.desired === "run").sort((a, b) => a.slot - b.slot);
}

async function unplacedSlots(client: ControlPlaneClient, d: DeploymentDetail): Promise<Unplaced[]> {
  const tasks = await versionTasks(client, d);
  return tasks.filter((t) => t.state === "pending" && t.nodeId === null && t.message).map((t) => ({ slot: t.slot, reason: oneLine(t.message ?? "") }));
}

function notesFor(d: DeploymentDetail, namespace: string, unplaced: readonly Unplaced[]): string[] {
  const notes = unplaced.map((u) => `${slotName(u.slot)}: pending (${u.reason})`);
  const command = (action: string) => `leasehold${namespace === "default" ? "" : ` -n ${namespace}`} deployment ${action} ${shortDeploymentId(d.id)}`;
  if (waitsForPromote(d)) notes.push(`promote with: ${command("promote")}`);
  if (d.status === "paused") notes.push(`resume with: ${command("resume")}`);
  return notes;
}

/** The end of a deployment that did not succeed, with the failed tasks' last errors as its lines. */
async function endedError(client: ControlPlaneClient, subject: string, d: DeploymentDetail): Promise<CliError> {
  if (d.status === "cancelled") return new CliError(`${subject} ${endReason(d)}`, [], { exitCode: EXIT.cancelled });
  let fields: FieldError[] = [];
  try {
    fields = (await versionTasks(client, d))
      .filter((t) => t.state === "failed" || t.state === "complete" || t.state === "lost")
      .flatMap((t) => {
        const why = t.message ? oneLine(t.message) : t.exitCode !== null && t.exitCode !== 0 ? `exit ${t.exitCode}` : null;
        return why === null ? [] : [{ path: slotName(t.slot), message: `${t.state} (${why})` }];
      });
  } catch {
    // The reason is the deployment's description; the tasks' errors only add to it.
  }
  return new CliError(`${subject} ${endReason(d)}`, fields, { exitCode: EXIT.failed });
}

function unplacedError(subject: string, unplaced: readonly Unplaced[]): CliError {
  const why = unplaced.map((u) => `${slotName(u.slot)}: ${u.reason}`);
  return new CliError(`${subject} cannot be placed: ${why.join("; ")}; ${STORED_HINT}`, [], { exitCode: EXIT.unplaced });
}

/** The fleet's fingerprint; a fleet that cannot be read counts as unchanged, so the slots' reasons decide. */
export async function fleetOf(client: ControlPlaneClient): Promise<string> {
  try {
    return fleetFingerprint((await client.listNodes()).nodes);
  } catch {
    return "unknown";
  }
}
