// Bridge networks through the Docker Engine API: made on demand for one owner, and listed and removed by
// its labels alone, like its containers. dockerode's types stay inside the Docker adapter's files.
import type Dockerode from "dockerode";
import { ContainerRuntimeError } from "./container-runtime";
import type { ContainerRuntime, NetworkInfo, NetworkRemoval, NetworkSpec } from "./container-runtime";
import { LABELS, networkLabels, ownerSelector, type NodeOwner } from "./labels";
import { reason, statusCode, wrap } from "./docker-values";

export type DockerNetworks = Pick<ContainerRuntime, "ensureNetwork" | "listNetworks" | "removeNetwork">;

export function createDockerNetworks(docker: Dockerode): DockerNetworks {
  // The engine's duplicate check is not atomic: two creates of one name that race can both succeed. So the
  // creates of one name are made one at a time here, and duplicates left by anyone else are cleared below.
  const making = new Map<string, Promise<NetworkInfo>>();

  async function named(name: string, owner: NodeOwner): Promise<Dockerode.NetworkInspectInfo | undefined> {
    try {
      return (await docker.getNetwork(name).inspect()) as Dockerode.NetworkInspectInfo;
    } catch (error) {
      if (statusCode(error) === 404) return undefined;
      if (/ambiguous/i.test(reason(error))) return await keepOldest(name, owner);
      throw wrap(error, `inspect network ${name}`);
    }
  }

  /** Several networks of one name, made by racing creates: the oldest of the owner's stays, the rest go if they can. */
  async function keepOldest(name: string, owner: NodeOwner): Promise<Dockerode.NetworkInspectInfo | undefined> {
    const rows = (await docker.listNetworks({ filters: { name: [name], label: ownerSelector(owner) } })).filter((n) => n.Name === name);
    rows.sort((a, b) => Date.parse(a.Created ?? "") - Date.parse(b.Created ?? "") || (a.Id < b.Id ? -1 : 1));
    const [oldest, ...rest] = rows;
    if (!oldest) throw new ContainerRuntimeError("conflict", `several networks are named ${name}, none of them this node's`);
    for (const extra of rest) await docker.getNetwork(extra.Id).remove().catch(() => undefined);
    return (await docker.getNetwork(oldest.Id).inspect()) as Dockerode.NetworkInspectInfo;
  }

  function ownedInfo(raw: Dockerode.NetworkInspectInfo, owner: NodeOwner): NetworkInfo {
    const labels = raw.Labels ?? {};
    if (labels[LABELS.cluster] !== owner.cluster || labels[LABELS.nodeId] !== owner.nodeId) {
      throw new ContainerRuntimeError("conflict", `network ${raw.Name} exists and is not this node's`);
    }
    return infoOf(raw);
  }

  async function make(spec: NetworkSpec): Promise<NetworkInfo> {
    const existing = await named(spec.name, spec.owner);
    if (existing) return ownedInfo(existing, spec.owner);
    try {
      await docker.createNetwork({
        Name: spec.name,
        Driver: "bridge",
        CheckDuplicate: true,
        Labels: networkLabels(spec.owner, spec.node, spec.serves),
      });
    } catch (error) {
      // Made meanwhile by another client of the engine: the inspection below finds it.
      if (statusCode(error) !== 409) throw wrap(error, `create network ${spec.name}`);
    }
    const made = await named(spec.name, spec.owner);
    if (!made) throw new ContainerRuntimeError("engine", `network ${spec.name} is gone right after it was made`);
    return ownedInfo(made, spec.owner);
  }

  function ensureNetwork(spec: NetworkSpec): Promise<NetworkInfo> {
    const key = JSON.stringify([spec.owner.cluster, spec.owner.nodeId, spec.name]);
    const pending = making.get(key);
    if (pending) return pending;
    const made = make(spec).finally(() => making.delete(key));
    making.set(key, made);
    return made;
  }

  async function listNetworks({ owner }: { owner: NodeOwner }): Promise<NetworkInfo[]> {
    try {
      const rows = await docker.listNetworks({ filters: { label: ownerSelector(owner) } });
      return rows.map(infoOf);
    } catch (error) {
      throw wrap(error, `list networks of node ${owner.nodeId}`);
    }
  }

  async function removeNetwork(id: string): Promise<NetworkRemoval> {
    try {
      await docker.getNetwork(id).remove();
      return "removed";
    } catch (error) {
      const status = statusCode(error);
      if (status === 404) return "missing";
      // The engine refuses (403, some versions 409) while a running container is attached.
      if ((status === 403 || status === 409) && /active endpoints/i.test(reason(error))) return "in-use";
      throw wrap(error, `remove network ${id}`);
    }
  }

  return { ensureNetwork, listNetworks, removeNetwork };
}

function infoOf(raw: Dockerode.NetworkInspectInfo): NetworkInfo {
  const config = (raw.IPAM?.Config ?? []).find((c) => typeof c.Subnet === "string" && c.Subnet.includes("."));
  const subnet = config?.Subnet ?? "";
  const gateway = config?.Gateway || firstHost(subnet);
  if (!gateway) throw new ContainerRuntimeError("engine", `network ${raw.Name} has no IPv4 subnet`);
  return { id: raw.Id, name: raw.Name, gateway, subnet, labels: raw.Labels ?? {} };
}

/** The engine's own choice of gateway when IPAM does not name one: the subnet's first address. */
function firstHost(cidr: string): string | undefined {
  const match = /^(\d+)\.(\d+)\.(\d+)\.(\d+)\/(\d+)$/.exec(cidr);
  if (!match) return undefined;
  const [a, b, c, d, bits] = match.slice(1).map(Number) as [number, number, number, number, number];
  const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
  const host = ((((a << 24) | (b << 16) | (c << 8) | d) & mask) >>> 0) + 1;
  return [host >>> 24, (host >>> 16) & 255, (host >>> 8) & 255, host & 255].join(".");
}
