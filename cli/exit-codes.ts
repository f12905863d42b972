// The CLI's exit codes, in one place: what a script may branch on after apply, apply --wait, rollout status
// and plan.
//
// 0 and 1 are the usual pair. The codes above 1 each name an outcome a script can act on differently:
// no room (add capacity, or change the job), failed (read the reason and fix the job), still on its way
// (wait longer), superseded (someone else changed the job: nothing is known of this version). They mean
// the same in every command but `plan`.
//
// A deployment that failed and was then reverted (update.autoRevert) ends with 3, as a failed one does:
// the revert is written after the failure, so a wait may see either, and the version failed in both.
//
// `plan` answers a question rather than doing something, and keeps the codes of `nomad job plan`, which
// scripts already branch on: 1 there means "applying would change something", so its errors are 255.

export const EXIT = {
  /** Done: the request took (apply --wait, rollout status: the new version runs healthy in every slot). */
  ok: 0,
  /** Bad usage, an invalid job file, a refused request, an unreachable control plane, anything else. */
  error: 1,
  /** A slot cannot be placed: no node has room for it or matches it. The job is stored and waits for room. */
  unplaced: 2,
  /** A slot failed and will not be replaced, or the deployment failed (and perhaps was reverted). */
  failed: 3,
  /** apply --wait or rollout status ran out of time while the job could still become ready. */
  timeout: 4,
  /** The deployment was cancelled: a newer version superseded it, or the job was stopped. */
  cancelled: 5,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** The help epilogue; the README's "Exit codes" part says the same. */
export const EXIT_CODES_HELP = `
Exit codes:
  0  success (apply --wait, rollout status: the new version runs healthy in every slot; batch: complete)
  1  error: bad usage, an invalid job file, a refused request, an unreachable control plane
  2  a slot cannot be placed: no node has room or matches (apply, apply --wait, rollout status)
  3  failed: the deployment failed or was reverted, or a slot failed and will not be replaced
  4  apply --wait or rollout status timed out while the job could still become ready
  5  the deployment was cancelled: a newer version superseded it, or the job was stopped
  plan has its own, as nomad job plan: 0 no change, 1 changes, 255 error (leasehold plan --help)
`;

/** leasehold plan's codes: whether applying the file would change anything. */
export const PLAN_EXIT = {
  /** Applying the file would change nothing. */
  unchanged: 0,
  /** Applying it would create the job, scale it, or store a new version. */
  changes: 1,
  /** Bad usage, an invalid job file, a refused request, an unreachable control plane, anything else. */
  error: 255,
} as const;

export const PLAN_EXIT_CODES_HELP = `
Exit codes (as nomad job plan):
  0    applying the file would change nothing
  1    applying it would change the job: create it, scale it, or store a new version
  255  error: bad usage, an invalid job file, a refused request, an unreachable control plane
`;
