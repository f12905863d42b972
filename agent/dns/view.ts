// What the agent's DNS serves: per listening address (a job network's gateway), the upstreams declared
// there and the current endpoint set of each service; compiled once per update into answerable names.
//
// Invariants: a service name exists at an address only when that address has an upstream for it, so a
// job network never learns of services its jobs did not declare; an endpoint is served only while it is
// healthy and its node has an address this node can dial.
import { dialAddress, proximity, serviceKey } from "../../api/services";
import type { Endpoint, ServiceSnapshot } from "../../api/services";

/** One upstream a job network's tasks reach through the agent's local proxy on the gateway address. */
export type DnsUpstream = {
  service: string;
  namespace: string;
  /** The port the agent's proxy for it listens on at the gateway address. DNS answers only the address: the job knows the port it declared. */
  port: number;
};

export type DnsView = {
  /** Keyed by listening address: the upstreams of the job network whose gateway that is. */
  upstreams: Readonly<Record<string, readonly DnsUpstream[]>>;
  /** The current snapshot of each service, keyed by serviceKey(namespace, name). */
  services: Readonly<Record<string, ServiceSnapshot>>;
};

export const emptyView: DnsView = { upstreams: {}, services: {} };

/** The node this DNS runs on, as dialAddress sees a caller. */
export type DnsCaller = { nodeId: string; region: string };

export type ServedEndpoint = {
  /** The first DNS label of its SRV target: the task id, short. */
  label: string;
  address: string;
  port: number;
  /** SRV priority: 0 on this node, 1 in this region, 2 elsewhere. */
  priority: number;
};

export type ServedService = { namespace: string; service: string; endpoints: ServedEndpoint[] };

/** For each listening address, its services by serviceKey (lower case). */
export type ServedNames = ReadonlyMap<string, ReadonlyMap<string, ServedService>>;

const LOOPBACK = "127.0.0.1";

export function compileView(view: DnsView, caller: DnsCaller): ServedNames {
  const served = new Map<string, Map<string, ServedService>>();
  for (const [address, upstreams] of Object.entries(view.upstreams)) {
    const services = new Map<string, ServedService>();
    for (const upstream of upstreams) {
      const namespace = upstream.namespace.toLowerCase();
      const service = upstream.service.toLowerCase();
      const snapshot = view.services[serviceKey(upstream.namespace, upstream.service)];
      const endpoints = servedEndpoints(snapshot?.endpoints ?? [], caller, address);
      services.set(serviceKey(namespace, service), { namespace, service, endpoints });
    }
    served.set(address, services);
  }
  return served;
}

/**
 * The healthy, reachable endpoints with their SRV labels. A same-node endpoint's dial address is the
 * node's loopback, which inside a container is the container itself; the askers here sit on a job network
 * whose gateway is this node, so they are given the gateway address instead (host ports are published on
 * every host interface).
 */
function servedEndpoints(endpoints: readonly Endpoint[], caller: DnsCaller, gateway: string): ServedEndpoint[] {
  const reachable: Array<{ endpoint: Endpoint; address: string; priority: number }> = [];
  for (const endpoint of endpoints) {
    if (!endpoint.healthy) continue;
    const address = dialAddress(endpoint, caller);
    const priority = proximity(endpoint, caller);
    if (address === null || priority === null) continue;
    reachable.push({ endpoint, address: address === LOOPBACK ? gateway : address, priority });
  }
  const labels = taskLabels(reachable.map((r) => r.endpoint.taskId));
  return reachable
    .map((r, i) => ({ label: labels[i] ?? "", address: r.address, port: r.endpoint.port, priority: r.priority }))
    .sort((a, b) => a.priority - b.priority || a.label.localeCompare(b.label));
}

/**
 * A DNS label per task id: its first 8 letters and digits, as in container names, or all of them (up to
 * a label's 63) for ids that share those 8 within one service, so each SRV target names one task.
 */
export function taskLabels(taskIds: readonly string[]): string[] {
  const full = taskIds.map((id) => id.toLowerCase().replace(/[^a-z0-9]/g, "").slice(0, 63) || "task");
  const short = full.map((id) => id.slice(0, 8));
  const counts = new Map<string, number>();
  for (const s of short) counts.set(s, (counts.get(s) ?? 0) + 1);
  return short.map((s, i) => ((counts.get(s) ?? 0) > 1 ? (full[i] ?? s) : s));
}
