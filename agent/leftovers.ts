// Containers of this node that no held task accounts for: running ones are stopped (no lease covers
// them); exited ones are removed, but for the newest `keepExited` of each slot, kept for `leasehold logs`.
//
// Invariant: the caller passes every container a held task still accounts for as `known`. A task is held
// until its end has been reported to the control plane, so nothing whose end is unreported is removed,
// and only the owner's containers (cluster and node id) are ever listed.
import { errorText, type Logger } from "./log";
import type { ContainerRuntime, ContainerSummary, NodeOwner } from "./runtime";

export interface LeftoverDeps {
  runtime: ContainerRuntime;
  owner: NodeOwner;
  log: Logger;
  keepExited: number;
}

export async function clearLeftovers(deps: LeftoverDeps, known: ReadonlySet<string>): Promise<void> {
  const exitedBySlot = new Map<string, ContainerSummary[]>();
  for (const c of await deps.runtime.list({ owner: deps.owner, all: true })) {
    if (known.has(c.id)) continue;
    if (c.state === "running" || c.state === "paused" || c.state === "restarting") {
      deps.log.warn("stopping container with no lease", { container: c.name });
      await deps.runtime.stop(c.id, { graceMs: 10_000 }).catch(() => undefined);
      continue;
    }
    if (c.state === "removing") continue;
    const slot = c.task ? `${c.task.job}#${c.task.slot}` : c.id;
    exitedBySlot.set(slot, [...(exitedBySlot.get(slot) ?? []), c]);
  }
  for (const exited of exitedBySlot.values()) {
    exited.sort(newestFirst);
    for (const c of exited.slice(deps.keepExited)) {
      deps.log.debug("removing exited container", { container: c.name });
      await deps.runtime.remove(c.id).catch((err: unknown) => deps.log.warn("remove failed", { container: c.name, error: errorText(err) }));
    }
  }
}

/** The engine gives creation times to the second, so the job version and the epoch break ties. */
function newestFirst(a: ContainerSummary, b: ContainerSummary): number {
  return b.createdAt.getTime() - a.createdAt.getTime() || (b.task?.version ?? 0) - (a.task?.version ?? 0) || (b.task?.epoch ?? 0) - (a.task?.epoch ?? 0);
}
