// Work a request starts and the response does not wait for.
import type { Context } from "hono";
import type { AppEnv, ResolvedDeps } from "../context";

/** Runs work after the response: waitUntil on Workers, a detached promise on Node. */
export function runInBackground(c: Context<AppEnv>, deps: ResolvedDeps, work: () => Promise<unknown>): void {
  const promise = work()
    .catch((err: unknown) => deps.log("background work failed", { error: err instanceof Error ? err.message : String(err) }))
    .finally(() => deps.inFlight.delete(promise));
  deps.inFlight.add(promise);
  try {
    c.executionCtx.waitUntil(promise);
  } catch {
    // Node has no execution context: the promise simply runs on.
  }
}
