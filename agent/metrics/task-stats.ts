// Samples the CPU and memory of the node's running tasks on an interval (10 s unless told otherwise: a
// one-shot engine stats call waits for a second reading, so it is not made at every heartbeat) and hands
// the figures to the metrics.
//
// CPU is a counter per task across its containers: a restarted task's new container counts from zero, so
// what it has used is added to what the task's earlier containers used (see cpuAdded).
import { errorText, type Logger } from "../log";
import type { ContainerRuntime } from "../runtime";
import type { AgentMetrics, TaskHolder } from "./agent-metrics";

export const DEFAULT_STATS_INTERVAL_MS = 10_000;

/** The container a task was last sampled in and the CPU seconds that container had used then. */
export type CpuReading = { containerId: string; cpuSeconds: number };

/**
 * CPU seconds to add to a task's counter for a new reading. The same container: what it used since the last
 * reading (never less than 0). Another container (a restart) or the first reading: all it has used, since
 * that is new to the counter.
 */
export function cpuAdded(previous: CpuReading | undefined, next: CpuReading): number {
  if (!previous || previous.containerId !== next.containerId) return Math.max(0, next.cpuSeconds);
  return Math.max(0, next.cpuSeconds - previous.cpuSeconds);
}

export interface TaskStatsSampler {
  /** One pass over the running tasks (also what the interval runs); a pass in flight is joined, not doubled. */
  sample(): Promise<void>;
  stop(): void;
}

export function startTaskStatsSampler(deps: {
  runtime: Pick<ContainerRuntime, "stats">;
  held: TaskHolder;
  metrics: Pick<AgentMetrics, "taskUsage">;
  log: Logger;
  intervalMs?: number;
}): TaskStatsSampler {
  const readings = new Map<string, CpuReading>();
  let inFlight: Promise<void> | null = null;

  async function pass(): Promise<void> {
    const tasks = deps.held();
    const ids = new Set(tasks.map((t) => t.taskId));
    for (const taskId of readings.keys()) if (!ids.has(taskId)) readings.delete(taskId);
    await Promise.all(
      tasks.map(async (t) => {
        if (t.phase !== "running" || t.containerId === null) return;
        const containerId = t.containerId;
        try {
          const sample = await deps.runtime.stats(containerId);
          const next = { containerId, cpuSeconds: sample.cpuSeconds };
          deps.metrics.taskUsage(t, { cpuSecondsAdded: cpuAdded(readings.get(t.taskId), next), memoryBytes: sample.memoryBytes });
          readings.set(t.taskId, next);
        } catch (err) {
          // Usually a container that exited between the listing and the call: the next pass sees it gone.
          deps.log.debug("could not sample a task's stats", { task: t.taskId, error: errorText(err) });
        }
      }),
    );
  }

  function sample(): Promise<void> {
    inFlight ??= pass().finally(() => {
      inFlight = null;
    });
    return inFlight;
  }

  const timer = setInterval(() => void sample(), deps.intervalMs ?? DEFAULT_STATS_INTERVAL_MS);
  timer.unref();
  return {
    sample,
    stop: () => clearInterval(timer),
  };
}
