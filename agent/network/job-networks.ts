// A Docker bridge network per job on this node (or per namespace, for tasks that ask for it), made before
// the first container of it starts, so its gateway (where the task's upstreams are served) is known when
// the container's env is written. Containers of the job reach each other on it by alias (<job>-<slot>, and
// <job> for any of them); containers of other networks do not reach them there (the engine isolates bridge
// networks from one another), only through published ports and upstreams.
//
// Invariants: a network's name is derived from its owner (cluster and node id) and whom it serves, so two
// agents on one engine never share one; networks are found and removed by the owner's labels only; a
// network is removed only when no running container is on it (the engine refuses otherwise), and never
// while a held task may still start on it (the caller's `keep`).
import { createHash } from "node:crypto";
import type { TaskSpec } from "../../api/agent-protocol";
import type { Logger } from "../log";
import { errorText } from "../log";
import type { ContainerRuntime, NetworkInfo, NetworkServes, NodeOwner } from "../runtime";

export type NetworkedTask = Pick<TaskSpec, "namespace" | "jobId" | "job" | "slot" | "network">;

/** Whom the task's network serves: its job, unless the task asks for its namespace's. */
export function networkServes(task: Pick<NetworkedTask, "namespace" | "jobId" | "network">): NetworkServes {
  return task.network === "namespace" ? { kind: "namespace", namespace: task.namespace } : { kind: "job", namespace: task.namespace, job: task.jobId };
}

/** lh-<namespace>[-<job>]-<hash of owner and whom it serves>: readable in `docker network ls`, unique per owner. */
export function networkName(owner: NodeOwner, task: NetworkedTask): string {
  const serves = networkServes(task);
  const hash = createHash("sha256")
    .update(JSON.stringify([owner.cluster, owner.nodeId, serves.kind, serves.namespace, serves.kind === "job" ? serves.job : ""]))
    .digest("hex")
    .slice(0, 12);
  const readable = [serves.namespace, ...(serves.kind === "job" ? [task.job] : [])].map(dnsLabel).join("-").slice(0, 40);
  return `lh-${readable}-${hash}`;
}

/** The names other containers of the network find the task's container by. */
export function networkAliases(task: Pick<NetworkedTask, "job" | "slot">): string[] {
  const job = dnsLabel(task.job);
  return [`${job}-${task.slot}`, job];
}

function dnsLabel(text: string): string {
  return (
    text
      .toLowerCase()
      .replace(/[^a-z0-9-]+/g, "-")
      .replace(/^-+|-+$/g, "")
      .slice(0, 50) || "x"
  );
}

export interface JobNetworks {
  /** The task's network, made if missing. */
  ensure(task: NetworkedTask): Promise<NetworkInfo>;
  /** The gateway address of the task's network on this host, or null while it has none (no container of it has started). */
  gateway(task: NetworkedTask): Promise<string | null>;
  /** The network's details (null: none yet), without making it. */
  find(task: NetworkedTask): Promise<NetworkInfo | null>;
  /** Removes the owner's networks no running container is on, but those named in `keep`; answers how many went. */
  sweep(keep: ReadonlySet<string>): Promise<number>;
  /** The name of the task's network. */
  nameOf(task: NetworkedTask): string;
}

export function createJobNetworks(deps: { runtime: ContainerRuntime; owner: NodeOwner; nodeName: string; log: Logger }): JobNetworks {
  // One ensure per name at a time: the tasks of a job start together, and one network is made for them.
  const making = new Map<string, Promise<NetworkInfo>>();
  const known = new Map<string, NetworkInfo>();
  const nameOf = (task: NetworkedTask) => networkName(deps.owner, task);

  async function find(task: NetworkedTask): Promise<NetworkInfo | null> {
    const name = nameOf(task);
    const cached = known.get(name);
    if (cached) return cached;
    const found = (await deps.runtime.listNetworks({ owner: deps.owner })).find((n) => n.name === name) ?? null;
    if (found) known.set(name, found);
    return found;
  }

  return {
    nameOf,
    find,
    async ensure(task) {
      const name = nameOf(task);
      const pending = making.get(name);
      if (pending) return pending;
      const made = deps.runtime
        .ensureNetwork({ name, owner: deps.owner, node: deps.nodeName, serves: networkServes(task) })
        .then((info) => {
          known.set(name, info);
          return info;
        })
        .finally(() => making.delete(name));
      making.set(name, made);
      return made;
    },
    async gateway(task) {
      return (await find(task))?.gateway ?? null;
    },
    async sweep(keep) {
      let removed = 0;
      for (const n of await deps.runtime.listNetworks({ owner: deps.owner })) {
        if (keep.has(n.name) || making.has(n.name)) continue;
        try {
          const outcome = await deps.runtime.removeNetwork(n.id);
          if (outcome === "in-use") continue;
          known.delete(n.name);
          if (outcome === "removed") {
            removed++;
            deps.log.debug("removed a network no container is on", { network: n.name });
          }
        } catch (err) {
          deps.log.warn("could not remove a network", { network: n.name, error: errorText(err) });
        }
      }
      return removed;
    },
  };
}
