// Task stats through heartbeats against a real libSQL file: a reported sample shows on the job's task and
// in GET …/stats, aged by the control plane's clock; each task keeps its newest 60; a sample carried by a
// report that does not count (another node's lease) is not stored; reads are under RBAC, bad queries named.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { HollowAgent, type Fetcher } from "../../bench/hollow-agent";
import { TASK_STATS_KEPT } from "../../db/queries/task-stats";
import { createTestControlPlane, type TestControlPlane } from "../support/control-plane";
import { expectJson, expectProblem } from "./helpers";

let cp: TestControlPlane;

interface Sample {
  at: number;
  cpuPercent: number;
  memoryBytes: number;
  memoryLimitBytes: number | null;
}
interface JobTask {
  id: string;
  slot: number;
  stats: Sample | null;
}
interface TaskSamples {
  taskId: string;
  job: string;
  slot: number;
  nodeId: string | null;
  samples: Sample[];
}

beforeEach(async () => {
  cp = await createTestControlPlane();
});

afterEach(async () => {
  await cp.settled();
  cp.close();
});

async function enrolled(name: string): Promise<HollowAgent> {
  const { token } = await expectJson<{ token: string }>(await cp.call("POST", "/v1/join-tokens", { body: {} }), 201);
  const fetcher: Fetcher = async (path, init) => cp.app.request(path, init);
  const agent = new HollowAgent(fetcher, name, { cpu: 4000, memory: 8192 });
  await agent.enroll(token);
  await agent.heartbeat();
  return agent;
}

/** web with two replicas, both running on `agent`. */
async function running(agent: HollowAgent): Promise<string[]> {
  await expectJson(await cp.call("POST", "/v1/jobs", { body: { name: "web", image: "img", replicas: 2, resources: { cpu: 100, memory: 64 } } }));
  await cp.settled();
  await agent.claim();
  await agent.heartbeat();
  return [...agent.leases.keys()];
}

const jobTasks = async () => (await expectJson<{ tasks: JobTask[] }>(await cp.call("GET", "/v1/namespaces/default/jobs/web"))).tasks;
const stats = async (query = "") => (await expectJson<{ tasks: TaskSamples[] }>(await cp.call("GET", `/v1/namespaces/default/stats${query}`))).tasks;

describe("task stats", () => {
  it("shows a reported sample on the job's task and in the stats, taken at the heartbeat's time less its age", async () => {
    const agent = await enrolled("a");
    const [first, second] = await running(agent);
    expect(first && second).toBeTruthy();
    expect((await jobTasks()).every((t) => t.stats === null)).toBe(true);

    agent.leases.get(first!)!.usage = { cpuPercent: 12.5, memoryBytes: 50_000_000, memoryLimitBytes: 67_108_864, ageMs: 3_000 };
    await agent.heartbeat();
    const now = cp.clock.now();
    const tasks = await jobTasks();
    expect(tasks.find((t) => t.id === first)!.stats).toEqual({ at: now - 3_000, cpuPercent: 12.5, memoryBytes: 50_000_000, memoryLimitBytes: 67_108_864 });
    expect(tasks.find((t) => t.id === second)!.stats).toBeNull();

    // A heartbeat without a sample adds none.
    cp.clock.advance(1_000);
    await agent.heartbeat();
    const listed = await stats();
    expect(listed).toEqual([{ taskId: first, job: "web", slot: expect.any(Number), nodeId: agent.nodeId, state: "running", samples: [{ at: now - 3_000, cpuPercent: 12.5, memoryBytes: 50_000_000, memoryLimitBytes: 67_108_864 }] }]);
    expect(await stats("?job=web")).toEqual(listed);
    expect(await stats("?job=other")).toEqual([]);
  });

  it(`keeps each task's newest ${TASK_STATS_KEPT} samples, newest first`, async () => {
    const agent = await enrolled("a");
    const [first] = await running(agent);
    const total = TASK_STATS_KEPT + 15;
    for (let i = 0; i < total; i++) {
      cp.clock.advance(1_000);
      agent.leases.get(first!)!.usage = { cpuPercent: i, memoryBytes: 1_000 + i, memoryLimitBytes: null, ageMs: 0 };
      await agent.heartbeat();
    }
    const rows = await cp.store.client.execute({ sql: "SELECT count(*) AS n FROM task_stats WHERE task_id = ?", args: [first!] });
    expect(Number(rows.rows[0]!["n"])).toBe(TASK_STATS_KEPT);
    const [entry] = await stats(`?samples=${TASK_STATS_KEPT}`);
    expect(entry!.samples.map((s) => s.cpuPercent)).toEqual(Array.from({ length: TASK_STATS_KEPT }, (_, i) => total - 1 - i));
    expect((await stats("?samples=3"))[0]!.samples.map((s) => s.memoryBytes)).toEqual([1_000 + total - 1, 1_000 + total - 2, 1_000 + total - 3]);
    expect((await jobTasks()).find((t) => t.id === first)!.stats!.cpuPercent).toBe(total - 1);
  });

  it("stores no sample from a report that does not count", async () => {
    const a = await enrolled("a");
    const b = await enrolled("b");
    const [first] = await running(a);
    // b presents a's lease: the lease names a's node, so b's report (and its sample) is refused.
    const lease = a.leases.get(first!)!;
    b.leases.set(first!, { ...lease, usage: { cpuPercent: 99, memoryBytes: 1, memoryLimitBytes: null, ageMs: 0 } });
    const reply = await b.heartbeat();
    expect(reply.revoked.map((r) => r.reason)).toContain("wrong-node");
    expect(await stats()).toEqual([]);
  });

  it("is read under RBAC, and a bad query is named", async () => {
    const agent = await enrolled("a");
    await running(agent);
    const outsider = await cp.token({ prod: "viewer" }, "pat");
    await expectProblem(await cp.call("GET", "/v1/namespaces/default/stats", { token: outsider }), 403);
    for (const [query, field] of [["?samples=0", "samples"], [`?samples=${TASK_STATS_KEPT + 1}`, "samples"], ["?job=Bad_Name!", "job"]] as const) {
      const problem = await expectProblem(await cp.call("GET", `/v1/namespaces/default/stats${query}`), 400);
      expect(JSON.stringify(problem), query).toContain(field);
    }
    const bad = await cp.app.request("/v1/agent/heartbeat", {
      method: "POST",
      headers: { authorization: `Bearer ${agent.credential}`, "content-type": "application/json" },
      body: JSON.stringify({ tasks: [{ ...agent.heartbeatBody().tasks[0], usage: { cpuPercent: -1, memoryBytes: 1, ageMs: 0 } }] }),
    });
    const problem = await expectProblem(bad, 400);
    expect(JSON.stringify(problem)).toContain("tasks.0.usage.cpuPercent");
  });
});
