// The CLI's exit codes, in one place: what a script may branch on after apply, apply --wait, rollout status
// and plan.
//
// 0 and 1 are the usual pair. The codes above 1 each name an outcome a script can act on differently:
// no room (add capacity, or change the job), failed (read the reason and fix the job), still on its way
// (wait longer), superseded (someone else changed the job: nothing is known of this version). They mean
// the same in every command, so a future `plan` (2: a slot would not be placed) fits without new codes.
//
// A deployment that failed and was then reverted (update.autoRevert) ends with 3, as a failed one does:
// the revert is written after the failure, so a wait may see either, and the version failed in both.

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
`;
