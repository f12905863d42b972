// The node's task networks: a bridge network per job (or namespace), the DNS served on their gateways, and
// the supervisor's networking built on them.
export { createJobNetworks, networkAliases, networkName, networkServes } from "./job-networks";
export type { JobNetworks, NetworkedTask } from "./job-networks";
export { createTaskNetworking } from "./task-networking";
export { createNodeDns } from "./node-dns";
export type { NodeDns } from "./node-dns";
