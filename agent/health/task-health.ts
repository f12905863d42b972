// A task's health check as its lease carries it (the job spec's health block): the probe to run, and
// what the agent does once the task is unhealthy.
import type { TaskSpec } from "../../api/agent-protocol";
import { healthOnFailure, type HealthCheck as JobHealthCheck } from "../../api/job-spec";
import type { HealthCheckSpec } from "./health-check";

export type TaskHealth = {
  check: HealthCheckSpec;
  /** restart: an unhealthy task is a failed attempt under its restart policy; ignore: it is only reported. */
  onFailure: "restart" | "ignore";
};

/**
 * The check of `spec`, or null when it has none or names a port the task does not have (the control plane
 * refuses such a spec, so only a lease from elsewhere can carry one).
 */
export function taskHealthOf(spec: Pick<TaskSpec, "health" | "ports">): TaskHealth | null {
  // Validated by the control plane before it was signed into the lease.
  const h = spec.health as JobHealthCheck | undefined;
  if (!h) return null;
  const timing = { intervalMs: h.interval, timeoutMs: h.timeout, failures: h.failures, graceMs: h.grace };
  const onFailure = healthOnFailure(h);
  if (h.type === "exec") return { check: { type: "exec", command: h.command, ...timing }, onFailure };
  const port = spec.ports.find((p) => p.name === h.port)?.container;
  if (port === undefined) return null;
  const check: HealthCheckSpec = h.type === "http" ? { type: "http", port, path: h.path, ...timing } : { type: "tcp", port, ...timing };
  return { check, onFailure };
}
