// The task stats sampler: cpuAdded keeps a task's CPU counter rising across its containers, and a pass
// samples running tasks only and feeds the metrics.
import { describe, expect, it } from "vitest";
import { silentLogger } from "../log";
import type { ContainerStatsSample } from "../runtime";
import type { HeldTaskView } from "../supervisor";
import { createAgentMetrics } from "./agent-metrics";
import { cpuAdded, startTaskStatsSampler } from "./task-stats";

describe("cpuAdded", () => {
  it("adds what the same container used since its last reading", () => {
    expect(cpuAdded({ containerId: "a", cpuSeconds: 1.5 }, { containerId: "a", cpuSeconds: 4 })).toBe(2.5);
  });
  it("adds all a new container (a restart, or the first reading) has used", () => {
    expect(cpuAdded(undefined, { containerId: "a", cpuSeconds: 2 })).toBe(2);
    expect(cpuAdded({ containerId: "a", cpuSeconds: 9 }, { containerId: "b", cpuSeconds: 0.25 })).toBe(0.25);
  });
  it("never takes away, even if a reading goes back", () => {
    expect(cpuAdded({ containerId: "a", cpuSeconds: 5 }, { containerId: "a", cpuSeconds: 3 })).toBe(0);
  });
});

const task = (taskId: string, phase: HeldTaskView["phase"], containerId: string | null): HeldTaskView => ({ taskId, epoch: 1, phase, containerId, restarts: 0, namespace: "default", job: "web", slot: 0 });

describe("the task stats sampler", () => {
  it("samples running tasks only and counts each task's CPU across its containers", async () => {
    const metrics = createAgentMetrics();
    let tasks = [task("t1", "running", "c1"), task("t2", "backoff", "c2")];
    metrics.watchTasks(() => tasks);
    const usage = new Map<string, ContainerStatsSample>([["c1", { cpuPercent: 0, cpuSeconds: 2, memoryBytes: 1000, memoryLimitBytes: 0 }]]);
    const asked: string[] = [];
    const sampler = startTaskStatsSampler({
      runtime: {
        stats: async (id) => {
          asked.push(id);
          const s = usage.get(id);
          if (!s) throw new Error(`no such container: ${id}`);
          return s;
        },
      },
      held: () => tasks,
      metrics,
      log: silentLogger,
      intervalMs: 60_000,
    });
    try {
      await sampler.sample();
      expect(asked).toEqual(["c1"]);
      const cpu = async () => (await metrics.registry.getSingleMetric("leasehold_agent_task_cpu_seconds_total")!.get()).values.map((v) => [v.labels["task_id"], v.value]);
      expect(await cpu()).toEqual([["t1", 2]]);
      usage.set("c1", { cpuPercent: 0, cpuSeconds: 3.5, memoryBytes: 1000, memoryLimitBytes: 0 });
      await sampler.sample();
      expect(await cpu()).toEqual([["t1", 3.5]]);
      // Restarted: the new container counts from zero, the task's counter goes on from where it was.
      tasks = [task("t1", "running", "c3"), tasks[1]!];
      usage.set("c3", { cpuPercent: 0, cpuSeconds: 0.5, memoryBytes: 1000, memoryLimitBytes: 0 });
      await sampler.sample();
      expect(await cpu()).toEqual([["t1", 4]]);
    } finally {
      sampler.stop();
    }
  });
});
