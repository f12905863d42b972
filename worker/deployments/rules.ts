// A version's update block as the deployment watcher reads it. Specs stored before a field existed lack it:
// they get its default, the same as a spec written today without it.
import type { JobSpec } from "../../api/job-spec";
import type { RolloutRules } from "./assess";

export function rolloutRules(update: JobSpec["update"]): RolloutRules {
  const u = update as Partial<JobSpec["update"]>;
  return {
    minHealthyMs: u.minHealthy ?? 5_000,
    healthyDeadlineMs: u.healthyDeadline ?? 300_000,
    progressDeadlineMs: u.progressDeadline ?? 600_000,
    offlineDeadlineMs: u.offlineDeadline ?? 900_000,
    canary: u.canary ?? 0,
    autoPromote: u.autoPromote ?? false,
    autoRevert: u.autoRevert ?? false,
    waves: u.waves ?? "none",
    waveOrder: u.waveOrder ?? [],
  };
}
