// What a heartbeat reply tells a node about discovery: the endpoint sets of the services it asked for
// (those its tasks' upstreams and ingress listeners use) whose index is not the one it holds, and its
// ingress listeners when they changed. Agents only dial out: this is how endpoints reach them.
import type { HeartbeatRequest } from "../../api/agent-protocol";
import { canonicalJson } from "../../api/payload-hash";
import type { IngressListener, ServiceSnapshot } from "../../api/services";
import type { ResolvedDeps } from "../context";
import { indexOf, ingressDeclarations, readServices, servesIngress } from "./catalog";

export interface DiscoveryReply {
  services?: ServiceSnapshot[];
  ingress?: { index: number; listeners: IngressListener[] };
}

export async function discoveryReply(deps: ResolvedDeps, nodeId: string, request: Pick<HeartbeatRequest, "services" | "ingress">): Promise<DiscoveryReply> {
  const reply: DiscoveryReply = {};
  const asked = Object.entries(request.services ?? {});
  if (asked.length > 0) {
    const sets = await readServices(deps.store.client, deps.clock.now(), { keys: asked.map(([key]) => key) });
    const held = new Map(asked);
    const changed = sets.filter((s) => held.get(`${s.namespace}/${s.name}`) !== s.index);
    if (changed.length > 0) reply.services = changed;
  }
  if (request.ingress !== undefined) {
    const listeners = await ingressFor(deps, nodeId);
    const index = await indexOf(listeners);
    if (index !== request.ingress) reply.ingress = { index, listeners };
  }
  return reply;
}

async function ingressFor(deps: ResolvedDeps, nodeId: string): Promise<IngressListener[]> {
  const declarations = await ingressDeclarations(deps.store.client);
  if (declarations.length === 0) return [];
  const n = await deps.store.client.execute({ sql: "SELECT name, region, labels FROM nodes WHERE id = ?", args: [nodeId] });
  const row = n.rows[0];
  if (!row) return [];
  const node = { name: String(row["name"]), region: String(row["region"]), labels: JSON.parse(String(row["labels"] ?? "{}")) as Record<string, string> };
  const listeners: IngressListener[] = [];
  for (const d of declarations) {
    for (const g of d.ingress) {
      if (servesIngress(g, node)) listeners.push({ port: g.port, namespace: d.namespace, service: g.service, jobId: d.jobId });
    }
  }
  // One listener per port: the first declaration (in job id order) wins, the same on every instance.
  listeners.sort((a, b) => a.port - b.port || (a.jobId < b.jobId ? -1 : 1));
  const seen = new Set<number>();
  return JSON.parse(canonicalJson(listeners.filter((l) => (seen.has(l.port) ? false : (seen.add(l.port), true))))) as IngressListener[];
}
