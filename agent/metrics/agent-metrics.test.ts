// The agent's metrics: values move with the hooks the supervisor, contact log and heartbeat loop call; a
// gone task's series disappear at the next scrape; two agents' registries do not mix.
import { describe, expect, it } from "vitest";
import { createContactLog } from "../contact-log";
import { silentLogger } from "../log";
import type { HeldTaskView } from "../supervisor";
import { createAgentMetrics } from "./agent-metrics";

const task = (taskId: string, phase: HeldTaskView["phase"], slot = 0): HeldTaskView => ({ taskId, epoch: 1, phase, containerId: `c-${taskId}`, restarts: 0, namespace: "default", job: "web", slot });

/** The sample lines of the exposition, without HELP and TYPE. */
async function samples(metrics: ReturnType<typeof createAgentMetrics>): Promise<string[]> {
  return (await metrics.registry.metrics()).split("\n").filter((l) => l !== "" && !l.startsWith("#"));
}

describe("the agent's metrics", () => {
  it("count tasks by phase, every phase present", async () => {
    const metrics = createAgentMetrics();
    const tasks = [task("a", "running"), task("b", "running", 1), task("c", "backoff", 2)];
    metrics.watchTasks(() => tasks);
    const lines = await samples(metrics);
    expect(lines).toContain('leasehold_agent_containers{state="running"} 2');
    expect(lines).toContain('leasehold_agent_containers{state="backoff"} 1');
    expect(lines).toContain('leasehold_agent_containers{state="failed"} 0');
  });

  it("move when a task restarts, a health check fails or a pull ends", async () => {
    const metrics = createAgentMetrics();
    metrics.taskRestarted();
    metrics.taskRestarted();
    metrics.healthCheckFailed();
    metrics.imagePulled({ image: "busybox", seconds: 1.5, ok: true });
    metrics.imagePulled({ image: "busybox", seconds: 0.1, ok: false });
    const lines = await samples(metrics);
    expect(lines).toContain("leasehold_agent_task_restarts_total 2");
    expect(lines).toContain("leasehold_agent_health_check_failures_total 1");
    expect(lines).toContain("leasehold_agent_image_pull_seconds_count 1");
    expect(lines).toContain("leasehold_agent_image_pull_seconds_sum 1.5");
    expect(lines).toContain("leasehold_agent_image_pull_failures_total 1");
  });

  it("follow the contact log: unreachable is 0, an answer is 1 and stamps the last contact", async () => {
    const metrics = createAgentMetrics({ now: () => 1_700_000_000_000 });
    const contact = metrics.watchContact(createContactLog(silentLogger));
    expect(await samples(metrics)).toContain("leasehold_agent_control_plane_reachable 0");
    expect(await samples(metrics)).toContain("leasehold_agent_control_plane_last_contact_timestamp_seconds 0");
    contact.reached();
    expect(await samples(metrics)).toEqual(expect.arrayContaining(["leasehold_agent_control_plane_reachable 1", "leasehold_agent_control_plane_last_contact_timestamp_seconds 1700000000"]));
    contact.unreachable(new Error("ECONNREFUSED"));
    expect(await samples(metrics)).toContain("leasehold_agent_control_plane_reachable 0");
  });

  it("time answered heartbeats only", async () => {
    const metrics = createAgentMetrics();
    await metrics.heartbeat(new Promise((done) => setTimeout(done, 20)));
    await expect(metrics.heartbeat(Promise.reject(new Error("timeout")))).rejects.toThrow("timeout");
    const lines = await samples(metrics);
    expect(lines).toContain("leasehold_agent_heartbeat_seconds_count 1");
    const sum = Number(lines.find((l) => l.startsWith("leasehold_agent_heartbeat_seconds_sum"))!.split(" ")[1]);
    expect(sum).toBeGreaterThanOrEqual(0.015);
  });

  it("drop a task's series once it is no longer held, and its memory once it no longer runs", async () => {
    const metrics = createAgentMetrics();
    let tasks = [task("a", "running"), task("b", "running", 1)];
    metrics.watchTasks(() => tasks);
    metrics.taskUsage(tasks[0]!, { cpuSecondsAdded: 1.25, memoryBytes: 4096 });
    metrics.taskUsage(tasks[1]!, { cpuSecondsAdded: 2, memoryBytes: 8192 });
    expect(await samples(metrics)).toEqual(
      expect.arrayContaining([
        'leasehold_agent_task_cpu_seconds_total{namespace="default",job="web",slot="0",task_id="a"} 1.25',
        'leasehold_agent_task_memory_bytes{namespace="default",job="web",slot="1",task_id="b"} 8192',
      ]),
    );
    tasks = [task("b", "backoff", 1)];
    const lines = await samples(metrics);
    expect(lines.filter((l) => l.includes('task_id="a"'))).toEqual([]);
    // b waits to restart: what it used stays counted, but it has no container using memory.
    expect(lines.filter((l) => l.includes('task_id="b"'))).toEqual(['leasehold_agent_task_cpu_seconds_total{namespace="default",job="web",slot="1",task_id="b"} 2']);
    tasks = [];
    expect((await samples(metrics)).filter((l) => l.includes("task_id="))).toEqual([]);
  });

  it("keep two agents apart: each has its own registry", async () => {
    const one = createAgentMetrics();
    const two = createAgentMetrics({ processMetrics: true });
    one.taskRestarted();
    expect(await samples(one)).toContain("leasehold_agent_task_restarts_total 1");
    expect(await samples(two)).toContain("leasehold_agent_task_restarts_total 0");
    expect((await samples(two)).some((l) => l.startsWith("process_cpu_user_seconds_total"))).toBe(true);
    expect((await samples(one)).some((l) => l.startsWith("process_"))).toBe(false);
    // prom-client's gauges named like counters are left out (promtool refuses them).
    expect((await samples(two)).some((l) => l.startsWith("nodejs_active_handles_total"))).toBe(false);
  });
});
