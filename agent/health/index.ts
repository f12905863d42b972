// Health checks for running tasks: http, tcp and exec probes and the monitor that turns them into a status.
export { createHealthCheck, runProbe } from "./health-check";
export type { HealthCheck, HealthCheckDeps, HealthCheckSpec, HealthSnapshot, HealthStatus } from "./health-check";
export { probeExec, probeHttp, probeTcp, resolveAddress, systemTimers } from "./probes";
export type { HealthTarget, HealthTimers, ProbeResult } from "./probes";
export { taskHealthOf } from "./task-health";
export type { TaskHealth } from "./task-health";
