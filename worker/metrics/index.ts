// The control plane's metrics: the port, the catalog, the dependency-free registry, the request middleware
// and the store-derived gauges. prom-client-metrics.ts (Node only) is imported by path, never from here.
export { AGENT_RESULTS, COUNTERS, EVALUATION_RESULTS, HISTOGRAMS } from "./catalog";
export type { CounterName, HistogramName, LabelsOf } from "./catalog";
export { countedClaim, countedHeartbeat } from "./agent-requests";
export { countPlacementFailures, timedEvaluation } from "./evaluations";
export { fleetGaugesText, readFleetCounts } from "./fleet";
export { requestMetrics, routeLabel, UNMATCHED_ROUTE } from "./http";
export { secondsSince } from "./metrics";
export type { Metrics } from "./metrics";
export { createMetricsRegistry } from "./registry";
export { EXPOSITION_CONTENT_TYPE } from "./text";
