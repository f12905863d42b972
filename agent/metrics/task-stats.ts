// Samples the CPU and memory of the node's running tasks on an interval (10 s unless told otherwise: a
// one-shot engine stats call waits for a second reading, so it is not made at every heartbeat), hands the
// figures to the metrics, and keeps each task's newest sample for the next heartbeat to report, once.
//
// CPU is a counter per task across its containers: a restarted task's new container counts from zero, so
// what it has used is added to what the task's earlier containers used (see cpuAdded).
import { errorText, type Logger } from "../log";
import type { ContainerRuntime } from "../runtime";
import type { TaskUsage } from "../../api/agent-protocol";
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
  /**
   * The samples taken since the last call, by task, each for the epoch it was taken at, aged to `now`: a
   * heartbeat reports each once. A sample whose heartbeat fails is not sent again; the next one comes a
   * sampling interval later.
   */
  takeUsage(now?: number): (taskId: string, epoch: number) => TaskUsage | undefined;
  stop(): void;
}

interface FreshSample {
  epoch: number;
  takenAt: number;
  usage: Omit<TaskUsage, "ageMs">;
}

export function startTaskStatsSampler(deps: {
  runtime: Pick<ContainerRuntime, "stats">;
  held: TaskHolder;
  metrics: Pick<AgentMetrics, "taskUsage">;
  log: Logger;
  intervalMs?: number;
  /** A monotonic clock in milliseconds (performance.now by default): samples are aged with it. */
  now?: () => number;
  /** The host's memory: a limit this large (or larger) is the engine saying there is none. */
  hostMemoryBytes?: number;
}): TaskStatsSampler {
  const readings = new Map<string, CpuReading>();
  let fresh = new Map<string, FreshSample>();
  let inFlight: Promise<void> | null = null;
  const now = deps.now ?? (() => performance.now());

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
          // The engine reports the host's memory as the limit of a container without one.
          const limit = sample.memoryLimitBytes > 0 && sample.memoryLimitBytes < (deps.hostMemoryBytes ?? Number.POSITIVE_INFINITY) ? sample.memoryLimitBytes : null;
          fresh.set(t.taskId, { epoch: t.epoch, takenAt: now(), usage: { cpuPercent: Math.round(sample.cpuPercent * 100) / 100, memoryBytes: Math.round(sample.memoryBytes), memoryLimitBytes: limit } });
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
    takeUsage(at = now()) {
      const taken = fresh;
      fresh = new Map();
      return (taskId, epoch) => {
        const f = taken.get(taskId);
        if (!f || f.epoch !== epoch) return undefined;
        return { ...f.usage, ageMs: Math.min(3_600_000, Math.max(0, Math.round(at - f.takenAt))) };
      };
    },
    stop: () => clearInterval(timer),
  };
}
