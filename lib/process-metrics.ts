// Node's own process metrics (prom-client's default metrics) on a registry, for the agent and the control
// plane alike, less the ones `promtool check metrics` refuses.
import { collectDefaultMetrics, type Registry } from "prom-client";

/**
 * Gauges that prom-client names like counters: promtool refuses them, and scrapers treating them as
 * counters would be misled. The handle and request counts are not worth the confusion.
 */
const MISNAMED_DEFAULT_METRICS = ["nodejs_active_handles_total", "nodejs_active_requests_total", "nodejs_active_resources_total"];

export function collectProcessMetrics(registry: Registry): void {
  collectDefaultMetrics({ register: registry });
  for (const name of MISNAMED_DEFAULT_METRICS) registry.removeSingleMetric(name);
}
