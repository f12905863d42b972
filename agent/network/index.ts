// The node's task networks: a bridge network per job (or namespace), and the supervisor's networking built on it.
export { createJobNetworks, networkAliases, networkName, networkServes } from "./job-networks";
export type { JobNetworks, NetworkedTask } from "./job-networks";
export { createTaskNetworking } from "./task-networking";
