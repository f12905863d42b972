// Service discovery: what nodes advertise, what the catalog serves, and what agents learn through their
// heartbeats. Agents only dial out: endpoints reach them in heartbeat replies, by index, never by a call in.
import { z } from "zod";

/** Where a node can be reached: `region` for hosts of its region (typically a LAN), `public` for anyone. */
export const ADDRESS_SCOPES = ["region", "public"] as const;
export type AddressScope = (typeof ADDRESS_SCOPES)[number];

export const advertisedAddressSchema = z.strictObject({
  address: z.union([z.ipv4(), z.ipv6()]).describe("An IP address other hosts can dial"),
  scope: z.enum(ADDRESS_SCOPES).default("region"),
});
export type AdvertisedAddress = z.output<typeof advertisedAddressSchema>;

/** One task serving a service: where it is and whether it is healthy. */
export const endpointSchema = z.object({
  taskId: z.string(),
  jobId: z.string(),
  slot: z.number(),
  version: z.number(),
  nodeId: z.string(),
  nodeName: z.string(),
  region: z.string(),
  /** The addresses its node advertises; which one a caller dials depends on where the caller is (dialAddress). */
  addresses: z.array(z.object({ address: z.string(), scope: z.enum(ADDRESS_SCOPES) })),
  /** The TLS port of its node's mesh, where other nodes' proxies reach it; null: reachable from its own node only. */
  meshPort: z.number().nullable(),
  /** The host port its service port is published on. */
  port: z.number(),
  tags: z.array(z.string()),
  healthy: z.boolean(),
});
export type Endpoint = z.infer<typeof endpointSchema>;

/**
 * A service's endpoint set at one moment. `index` names the set: it changes whenever the set does (an
 * endpoint added, removed, moved, or its health changed), and is the same on every instance for the same
 * set. It is opaque: pass back the one you were given; it does not only rise.
 */
export const serviceSnapshotSchema = z.object({
  namespace: z.string(),
  name: z.string(),
  index: z.number(),
  endpoints: z.array(endpointSchema),
  callers: z.array(z.string()).describe("The nodes that may open its endpoints through their mesh: those running a task that declares it as an upstream, and those serving an ingress of it"),
});
export type ServiceSnapshot = z.infer<typeof serviceSnapshotSchema>;

/** The key a service goes by in heartbeat maps: "namespace/name". */
export const serviceKey = (namespace: string, name: string) => `${namespace}/${name}`;

/** An ingress listener the control plane asks a node to run: a host port balanced to a service's endpoints. */
export const ingressListenerSchema = z.object({
  port: z.number(),
  namespace: z.string(),
  service: z.string(),
  jobId: z.string().describe("The job that declared it"),
});
export type IngressListener = z.infer<typeof ingressListenerSchema>;

/**
 * Which of an endpoint's addresses a caller dials: its own node's loopback when the endpoint is on the
 * same node, a region address when both are in one region, else a public one. Null when none fits: hosts
 * with no common network cannot reach each other, and the caller is not handed an address that will not
 * answer.
 */
export function dialAddress(endpoint: Pick<Endpoint, "nodeId" | "region" | "addresses">, caller: { nodeId: string; region: string }): string | null {
  if (endpoint.nodeId === caller.nodeId) return "127.0.0.1";
  if (endpoint.region === caller.region) {
    const local = endpoint.addresses.find((a) => a.scope === "region");
    if (local) return local.address;
  }
  return endpoint.addresses.find((a) => a.scope === "public")?.address ?? null;
}

/** How near an endpoint is to a caller: 0 same node, 1 same region, 2 reachable elsewhere, null unreachable. */
export function proximity(endpoint: Pick<Endpoint, "nodeId" | "region" | "addresses">, caller: { nodeId: string; region: string }): 0 | 1 | 2 | null {
  const address = dialAddress(endpoint, caller);
  if (address === null) return null;
  if (endpoint.nodeId === caller.nodeId) return 0;
  return endpoint.region === caller.region && endpoint.addresses.some((a) => a.scope === "region" && a.address === address) ? 1 : 2;
}
