// The CLI's exit codes, in one place: what a script may branch on after apply, apply --wait and plan.
//
// 0 and 1 are the usual pair. The codes above 1 each name an outcome a script can act on differently:
// no room (add capacity, or change the job), given up (read the task's last error and fix the job),
// still on its way (wait longer). They mean the same in every command, so a future `plan` (2: a slot
// would not be placed) and a `wait JOB` command fit without new codes.

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
`;
