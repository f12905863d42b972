// Two control planes (say staging and prod), each with an agent of the same name, on one Docker engine:
// neither agent may touch the other cluster's containers, on any path (reconcile, adoption after a
// restart, cleanup of exited containers, log reads).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestCluster, type AgentProcess } from "../support/cluster";
import { requireDocker, TEST_IMAGE, uniqueNode } from "../support/docker";

const WINDOW_MS = 8_000;

beforeAll(async () => {
  await requireDocker();
});

describe("two clusters with same-named agents on one engine", () => {
  const staging = new TestCluster();
  const prod = new TestCluster();
  // One name for both agents, as two hosts would both default to the hostname.
  const name = uniqueNode("e2e-shared");
  const agents = new Map<TestCluster, AgentProcess>();

  /** The cluster's web task and its container, as the control plane and Docker show them. */
  async function snapshot(cluster: TestCluster): Promise<{ taskId: string; epoch: number; restarts: number; state: string; containers: string[] }> {
    const [task] = (await cluster.job("web")).tasks.filter((t) => t.desired === "run");
    if (!task) throw new Error("no web task");
    const containers = (await cluster.containers(name, true)).filter((c) => c.Labels["io.leasehold.task"] === task.id && c.State === "running").map((c) => c.Id);
    return { taskId: task.id, epoch: task.epoch, restarts: task.restarts, state: task.state, containers };
  }

  beforeAll(async () => {
    await Promise.all([staging.start(), prod.start()]);
    for (const cluster of [staging, prod]) {
      agents.set(cluster, await cluster.spawnAgent(name));
      await cluster.api("POST", "/v1/jobs", {
        name: "web",
        image: TEST_IMAGE,
        command: ["sh", "-c", `echo hello from ${cluster === staging ? "staging" : "prod"}; exec httpd -f -p 8080 -h /www`],
        resources: { cpu: 50, memory: 16 },
        restart: { mode: "always", attempts: 10, interval: "1m", delay: "200ms" },
        stopGrace: "500ms",
      });
    }
  }, 90_000);
  afterAll(() => Promise.all([staging.stop(), prod.stop()]), 60_000);

  it("neither agent stops, restarts or replaces the other cluster's task over a window, nor after one of them restarts", async () => {
    const first = new Map<TestCluster, Awaited<ReturnType<typeof snapshot>>>();
    for (const cluster of [staging, prod]) {
      first.set(cluster, await cluster.waitFor("web running", async () => {
        const s = await snapshot(cluster);
        return s.state === "running" && s.containers.length === 1 ? s : undefined;
      }, 30_000, () => agents.get(cluster)?.output.join("").slice(-2000) ?? ""));
    }
    const steady = async (why: string) => {
      for (const cluster of [staging, prod]) {
        const now = await snapshot(cluster);
        const was = first.get(cluster)!;
        const context = `${why}, ${cluster === staging ? "staging" : "prod"}:\n${agents.get(cluster)?.output.join("").slice(-2000)}`;
        expect(now, context).toEqual({ ...was, epoch: 1, restarts: 0, state: "running" });
      }
    };
    await new Promise((r) => setTimeout(r, WINDOW_MS));
    await steady("after the window");

    // Adoption after a restart lists the engine's containers too: prod's agent restarts from its data dir.
    const old = agents.get(prod)!;
    await old.kill("SIGKILL");
    agents.set(prod, await prod.spawnAgent(name, { dataDir: old.dataDir, joinToken: null }));
    await new Promise((r) => setTimeout(r, WINDOW_MS / 2));
    await steady("after prod's agent restarted");
    for (const [cluster, agent] of agents) expect(agent.output.join(""), cluster === staging ? "staging" : "prod").not.toMatch(/without a valid lease|with no lease/);
  }, 90_000);

  it("each cluster's logs come from its own container", async () => {
    for (const [cluster, word] of [[staging, "staging"], [prod, "prod"]] as const) {
      const logs = await cluster.cli("logs", "web", "--tail", "20", "--timeout", "20s");
      expect(logs.code, logs.stderr).toBe(0);
      expect(logs.stdout).toContain(`hello from ${word}`);
      expect(logs.stdout).not.toContain(`hello from ${word === "staging" ? "prod" : "staging"}`);
    }
  }, 60_000);
});
