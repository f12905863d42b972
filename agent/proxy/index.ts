// Upstreams and ingress: TCP listeners balancing over the endpoints of services, fed by heartbeat replies.
export { pickTarget, reachableTargets } from "./balance";
export type { BalancePolicy, Caller, PickState, Target } from "./balance";
export { createServiceCatalog } from "./catalog";
export type { ServiceCatalog } from "./catalog";
export { createServicePool, FAILURE_HOLD_MS, NoEndpointError } from "./service-pool";
export type { ServicePool } from "./service-pool";
export { createTraffic, inSubnet, upstreamEnvName } from "./traffic";
export type { Traffic, Upstream, UpstreamSite, UpstreamWant } from "./traffic";
