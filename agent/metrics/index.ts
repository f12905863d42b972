// The agent's Prometheus metrics: the registry and its hooks, the task stats sampler, the /metrics server.
export { createAgentMetrics } from "./agent-metrics";
export type { AgentMetrics, AgentMetricsOptions, TaskHolder, TaskSeries } from "./agent-metrics";
export { cpuAdded, DEFAULT_STATS_INTERVAL_MS, startTaskStatsSampler } from "./task-stats";
export type { CpuReading, TaskStatsSampler } from "./task-stats";
export { listenMetrics, parseListenAddress } from "./metrics-server";
export type { ListenAddress, MetricsServer } from "./metrics-server";
