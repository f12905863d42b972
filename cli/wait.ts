// When apply --wait stops waiting, and what it says on the way. Pure: the caller polls the job (and, while a
// slot waits for room, the fleet) and hands each observation in with the time it was made.
//
// The wait ends as soon as the outcome is known rather than at its deadline:
// - ready: every slot is there (see readiness.ts);
// - gave up: a slot's task has ended and the control plane says (`final`) it will not replace it;
// - unplaced: some slots wait for room (pending, the reason as their message), and for NO_ROOM_SETTLE_MS
//   neither those reasons nor the fleet have changed. Whatever could make room — a node enrolling, turning
//   ready or eligible, a task ending somewhere — changes what GET /v1/nodes says, and the control plane
//   re-evaluates waiting jobs in the request that makes a node ready or eligible. So while the fleet stands
//   still nothing is coming. The window rides out a placement being written while we read (an apply whose
//   evaluation went to the background, a heartbeat in flight) and is still seconds, not the timeout.
//   One gap: room freed by another job's task ending is offered to waiting jobs by the sweep (every 5 s on
//   Node by default), not at once; a wait whose window closes first says "cannot be placed" although the
//   sweep is about to place the slot. Nothing is lost by it: the job is stored and is placed all the same.
import type { Node } from "./api-types";
import { EXIT } from "./exit-codes";
import { CliError } from "./io";
import type { Readiness, SlotReadiness } from "./readiness";

export const NO_ROOM_SETTLE_MS = 2_000;

export type WaitVerdict =
  | { kind: "ready" }
  | { kind: "gave-up"; slots: SlotReadiness[] }
  | { kind: "unplaced"; slots: SlotReadiness[] }
  | { kind: "timeout" }
  | { kind: "waiting" };

export interface WaitObservation {
  verdict: WaitVerdict;
  /** The progress line, when it changed since the last observation. */
  progress: string | null;
  /** Slots that have something new to say: a message (an error, a reason), or an end. */
  slots: SlotReadiness[];
}

/**
 * What of the fleet bears on placement: nodes, their state, eligibility, capacity and allocation. Heartbeat
 * times are left out, or every poll would look like a change.
 */
export function fleetFingerprint(nodes: Node[]): string {
  const rows = nodes.map((n) => [n.id, n.state, n.eligible, n.region, n.labels, n.capacity, n.allocated ?? null]);
  return JSON.stringify(rows.sort((a, b) => String(a[0]).localeCompare(String(b[0]))));
}

/**
 * The no-room rule on its own, for every wait that has slots pending for room: true once the fleet and the
 * waiting slots' reasons (`key`) have stood still for the settle window. A null key (nothing waits for room)
 * forgets it, so a later wait for room starts from nothing.
 */
export class NoRoomWindow {
  private since: { key: string; at: number } | null = null;

  constructor(private readonly settleMs = NO_ROOM_SETTLE_MS) {}

  settled(key: string | null, now: number): boolean {
    if (key === null) {
      this.since = null;
      return false;
    }
    if (this.since?.key !== key) this.since = { key, at: now };
    return now - this.since.at >= this.settleMs;
  }
}

export class WaitJudge {
  private lastProgress: string | null = null;
  private readonly lastPhrase = new Map<number, string>();
  private readonly noRoom: NoRoomWindow;

  constructor(settleMs = NO_ROOM_SETTLE_MS) {
    this.noRoom = new NoRoomWindow(settleMs);
  }

  /** `fleet` is fleetFingerprint of the nodes, needed only when some slot is unplaced (else null). */
  observe(r: Readiness, fleet: string | null, now: number): WaitObservation {
    if (r.ready) return { verdict: { kind: "ready" }, progress: null, slots: [] };
    const progress = r.progress !== this.lastProgress ? r.progress : null;
    this.lastProgress = r.progress;
    const changed = r.slots.filter((s) => !s.done && s.phrase !== this.lastPhrase.get(s.slot) && (s.message !== null || s.gaveUp));
    for (const s of r.slots) this.lastPhrase.set(s.slot, s.phrase);
    return { verdict: this.verdict(r, fleet, now), progress, slots: changed };
  }

  private verdict(r: Readiness, fleet: string | null, now: number): WaitVerdict {
    const gaveUp = r.slots.filter((s) => s.gaveUp);
    if (gaveUp.length > 0) return { kind: "gave-up", slots: gaveUp };
    const unplaced = r.slots.filter((s) => s.unplaced !== null);
    const key = unplaced.length === 0 ? null : JSON.stringify([fleet, unplaced.map((s) => [s.slot, s.unplaced])]);
    return this.noRoom.settled(key, now) ? { kind: "unplaced", slots: unplaced } : { kind: "waiting" };
  }

  /** At the deadline: slots still waiting for room say more than "timed out". */
  static atDeadline(r: Readiness): WaitVerdict {
    const unplaced = r.slots.filter((s) => s.unplaced !== null);
    return unplaced.length > 0 ? { kind: "unplaced", slots: unplaced } : { kind: "timeout" };
  }
}

/** What an unplaced job still has going for it. */
export const STORED_HINT = "the job is stored, and its slots are placed once the fleet has room for them";

/** The error a wait ends with, its exit code saying which end it came to; each names the slots' last word. */
export function waitFailure(jobId: string, verdict: Exclude<WaitVerdict, { kind: "ready" | "waiting" }>, r: Readiness, seconds: string): CliError {
  switch (verdict.kind) {
    case "gave-up": {
      const why = verdict.slots.map((s) => `slot ${s.slot} ${s.state}${s.message ? `: ${s.message}` : ""}`);
      return new CliError(`job ${jobId} cannot become ready: ${why.join("; ")} (its reschedule attempts are spent: it is not replaced)`, [], { exitCode: EXIT.failed });
    }
    case "unplaced": {
      const why = verdict.slots.map((s) => `slot ${s.slot}: ${s.unplaced}`);
      return new CliError(`job ${jobId} cannot be placed: ${why.join("; ")}; ${STORED_HINT}`, [], { exitCode: EXIT.unplaced });
    }
    case "timeout":
      return new CliError(`job ${jobId} not ready after ${seconds}s: ${r.progress}; ${r.missing.join("; ")}`, [], { exitCode: EXIT.timeout });
  }
}
