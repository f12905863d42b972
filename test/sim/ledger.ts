// The operator's ledger and check 5, nothing acknowledged is lost: each 200 holds until a later request of
// the job (answered or not: an unanswered one may have happened) may have undone it.
import { ACTIVE_DEPLOYMENT, type Snapshot } from "./snapshot";

export type LedgerKind = "apply" | "rollback" | "scale" | "stop" | "delete" | "promote" | "pause" | "resume" | "fail";

/** An operator request and whether its 200 came back. */
export interface LedgerEntry {
  seq: number;
  kind: LedgerKind;
  job: string;
  acked: boolean;
  /** apply, rollback: the version the reply named. */
  version?: number;
  /** scale: the count asked for. */
  replicas?: number;
  /** promote, pause, resume, fail: the deployment acted on, and its finished waves as the reply said. */
  deployment?: string;
  wavesDone?: number;
}

/** Requests that may undo each kind of acknowledged write (besides a delete, which undoes them all). */
const UNDONE_BY: Record<LedgerKind, LedgerKind[]> = {
  apply: ["delete"],
  rollback: ["delete"],
  // Anything that writes the job's count: an apply (its file's count), a rollback (today's count, which
  // a racing scale may change), another scale.
  scale: ["apply", "rollback", "scale", "delete"],
  stop: ["apply", "rollback", "delete"],
  delete: ["apply", "rollback"],
  // A paused deployment changes only by the operator's hand: a resume, a fail, or a new version (an apply
  // or rollback supersedes it; a stop cancels it). Nothing the control plane does on its own touches it.
  pause: ["resume", "fail", "apply", "rollback", "stop", "delete"],
  resume: ["pause", "delete"],
  // A failed deployment stays failed, or becomes reverted: nothing else.
  fail: ["delete"],
  promote: ["delete"],
};

export function checkLedger(s: Snapshot, ledger: readonly LedgerEntry[]): [string, string] | null {
  const undone = (e: LedgerEntry) => ledger.some((o) => o.job === e.job && o.seq > e.seq && UNDONE_BY[e.kind].includes(o.kind));
  const stoppedSince = (e: LedgerEntry) => ledger.some((o) => o.job === e.job && o.seq > e.seq && o.kind === "stop");
  for (const e of ledger) {
    if (!e.acked || undone(e)) continue;
    const job = s.jobs.get(e.job);
    const d = e.deployment === undefined ? undefined : s.deployments.find((x) => x.id === e.deployment);
    const at = `${e.job} (request ${e.seq})`;
    switch (e.kind) {
      case "apply":
      case "rollback": {
        const lost = `5 acknowledged ${e.kind} lost`;
        if (!job) return [lost, `${at} v${e.version ?? "?"}: job is gone`];
        if (e.version !== undefined && !s.versions.get(e.job)?.has(e.version)) return [lost, `${at}: version ${e.version} missing`];
        if (e.version !== undefined && job.version < e.version) return [lost, `${at}: current version ${job.version} < acknowledged ${e.version}`];
        if (!stoppedSince(e) && job.status !== "running") return [lost, `${at}: status ${job.status} after an acknowledged ${e.kind}`];
        break;
      }
      case "scale":
        if (!job || job.replicas !== e.replicas) return ["5 acknowledged scale lost", `${at}: ${job ? `count ${job.replicas}` : "gone"}, acknowledged ${e.replicas}`];
        break;
      case "stop":
        if (!job || job.status !== "stopped") return ["5 acknowledged stop lost", `${at}: ${job ? `status ${job.status}` : "gone"}`];
        break;
      case "delete":
        if (job) return ["5 acknowledged delete lost", `${at} still exists`];
        break;
      case "pause":
        if (!d || d.status !== "paused") return ["5 acknowledged pause lost", `${at} v${d?.version ?? "?"}: deployment ${d ? d.status : "gone"}`];
        break;
      case "resume":
        if (!d || d.status === "paused") return ["5 acknowledged resume lost", `${at} v${d?.version ?? "?"}: deployment ${d ? d.status : "gone"}`];
        break;
      case "fail":
        if (!d || (d.status !== "failed" && d.status !== "reverted")) return ["5 acknowledged fail lost", `${at} v${d?.version ?? "?"}: deployment ${d ? d.status : "gone"}`];
        break;
      case "promote":
        // A promote holds for its wave: the next wave waits for a promote of its own.
        if (!d || (ACTIVE_DEPLOYMENT.has(d.status) && !d.promoted && d.wavesDone.length <= (e.wavesDone ?? 0))) {
          return ["5 acknowledged promote lost", `${at} v${d?.version ?? "?"}: deployment ${d ? `${d.status}, not promoted, waves done ${d.wavesDone.length}` : "gone"}`];
        }
        break;
    }
  }
  return null;
}
