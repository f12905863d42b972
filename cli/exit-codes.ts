// The CLI's exit codes, in one place: what a script may branch on after apply, apply --wait and plan.
//
// 0 and 1 are the usual pair. The codes above 1 each name an outcome a script can act on differently:
// no room (add capacity, or change the job), given up (read the task's last error and fix the job),
// still on its way (wait longer). They mean the same in every command but `plan`, so a `wait JOB`
// command fits without new codes.
//
// `plan` answers a question rather than doing something, and keeps the codes of `nomad job plan`, which
// scripts already branch on: 1 there means "applying would change something", so its errors are 255.

export const EXIT = {
  /** Done: the request took (apply --wait: the job is ready). */
  ok: 0,
  /** Bad usage, an invalid job file, a refused request, an unreachable control plane, anything else. */
  error: 1,
  /** A slot cannot be placed: no node has room for it or matches it. The job is stored and waits for room. */
  unplaced: 2,
  /** A slot failed and the control plane will not replace it: its reschedule attempts are spent. */
  failed: 3,
  /** apply --wait ran out of time while the job could still become ready. */
  timeout: 4,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** The help epilogue; the README's "Exit codes" part says the same. */
export const EXIT_CODES_HELP = `
Exit codes:
  0  success (apply --wait: every replica is running and healthy, batch: complete)
  1  error: bad usage, an invalid job file, a refused request, an unreachable control plane
  2  a slot cannot be placed: no node has room or matches (apply, apply --wait)
  3  a slot failed and will not be replaced: its reschedule attempts are spent (apply --wait)
  4  apply --wait timed out while the job could still become ready
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
