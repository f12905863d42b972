// How a scheduler plan for a hypothetical job reads as each node's placed, stopped, kept and rolled slots.
import { describe, expect, it } from "vitest";
import { schedule } from "../scheduler";
import { NOW, input, job, node, task } from "../scheduler/test-support";
import type { JobView, NodeView, Plan, TaskView } from "../scheduler";
import { summarisePlan } from "./plan-summary";

const ALL_AT_ONCE = { parallelism: Number.MAX_SAFE_INTEGER };
const nodes = [node("n1", { name: "alpha" }), node("n2", { name: "beta" })];

function summary(j: JobView, tasks: TaskView[], ns: NodeView[] = nodes) {
  return summarisePlan(j, tasks, ns, schedule(input({ jobs: [j], nodes: ns, tasks })));
}

const emptyPlan = (): Plan => ({ evalId: "e", place: [], replace: [], migrate: [], stop: [], lost: [], delayed: [], failed: [], ignore: [], unplaced: [], wake: [] });

describe("summarisePlan", () => {
  it("a scale up keeps the running slots where they are and places the new ones", () => {
    const tasks = [0, 1, 2].map((slot) => task(`t${slot}`, { slot, nodeId: "n1" }));
    const s = summary(job({ replicas: 5, update: ALL_AT_ONCE }), tasks);
    const alpha = s.nodes.find((n) => n.name === "alpha");
    expect(alpha).toMatchObject({ id: "n1", kept: [0, 1, 2], stopped: [], rolled: [] });
    expect(s.nodes.flatMap((n) => n.placed).sort()).toEqual([3, 4]);
    expect(s.unplaced).toEqual([]);
  });

  it("a scale down stops the running copies at or above the count; a finished row retired there runs nothing to stop", () => {
    const tasks = [
      task("t0", { slot: 0, nodeId: "n1" }),
      task("t1", { slot: 1, nodeId: "n2" }),
      task("t2", { slot: 2, nodeId: "n1" }),
      task("t3", { slot: 3, nodeId: "n2", state: "failed", lostAt: NOW - 1000 }),
    ];
    const s = summary(job({ replicas: 1, update: ALL_AT_ONCE }), tasks);
    expect(s.nodes).toEqual([
      { id: "n1", name: "alpha", placed: [], stopped: [2], kept: [0], rolled: [] },
      { id: "n2", name: "beta", placed: [], stopped: [1], kept: [], rolled: [] },
    ]);
  });

  it("a new version rolls every running slot on the node it runs on, stop-first placing nothing yet", () => {
    const tasks = [task("t0", { slot: 0, nodeId: "n2" }), task("t1", { slot: 1, nodeId: "n1" }), task("t2", { slot: 2, nodeId: "n2" })];
    const s = summary(job({ version: 2, replicas: 3, update: ALL_AT_ONCE }), tasks);
    expect(s.nodes).toEqual([
      { id: "n1", name: "alpha", placed: [], stopped: [], kept: [], rolled: [1] },
      { id: "n2", name: "beta", placed: [], stopped: [], kept: [], rolled: [0, 2] },
    ]);
  });

  it("a slot whose old copy is already stopping (a roll under way, or a stopped job run again) is rolled too", () => {
    const tasks = [task("stopping", { slot: 0, nodeId: "n1", desired: "stop" }), task("t1", { slot: 1, nodeId: "n2" })];
    const s = summary(job({ version: 2, replicas: 2, update: ALL_AT_ONCE }), tasks);
    expect(s.nodes).toEqual([
      { id: "n1", name: "alpha", placed: [], stopped: [], kept: [], rolled: [0] },
      { id: "n2", name: "beta", placed: [], stopped: [], kept: [], rolled: [1] },
    ]);
    expect(s.unplaced).toEqual([]);
  });

  it("start-first places a rolled slot's new copy in the same plan: it is still the roll, not a new slot", () => {
    const tasks = [task("t0", { slot: 0, nodeId: "n1" })];
    const s = summary(job({ version: 2, replicas: 2, update: { ...ALL_AT_ONCE, order: "start-first" } }), tasks);
    expect(s.nodes.flatMap((n) => n.rolled)).toEqual([0]);
    expect(s.nodes.find((n) => n.id === "n1")?.rolled).toEqual([0]);
    expect(s.nodes.flatMap((n) => n.placed)).toEqual([1]);
  });

  it("a lost copy is not kept: its slot is placed again; a finished old row is retired, not rolled", () => {
    const tasks = [
      task("lost", { slot: 0, nodeId: "n1", leaseExpiresAt: NOW - 1 }),
      task("old-failed", { slot: 1, nodeId: "n1", state: "failed", lostAt: NOW - 10_000 }),
      task("old-running", { slot: 2, nodeId: "n2" }),
    ];
    const s = summary(job({ version: 2, replicas: 3, update: ALL_AT_ONCE }), tasks);
    expect(s.nodes.flatMap((n) => n.kept)).toEqual([]);
    expect(s.nodes.flatMap((n) => n.rolled)).toEqual([2]);
    expect(s.nodes.flatMap((n) => n.placed).sort()).toEqual([0, 1]);
  });

  it("reports this job's unplaced slots in slot order, and a node missing from the fleet by its id", () => {
    const plan = emptyPlan();
    plan.unplaced = [
      { jobId: "web", slot: 2, reason: "no room", metrics: { nodesEvaluated: 0, filtered: {}, exhausted: {} } },
      { jobId: "other", slot: 0, reason: "not ours", metrics: { nodesEvaluated: 0, filtered: {}, exhausted: {} } },
      { jobId: "web", slot: 1, reason: "no room", metrics: { nodesEvaluated: 0, filtered: {}, exhausted: {} } },
    ];
    plan.place = [{ jobId: "web", slot: 0, version: 1, nodeId: "gone", resources: { cpu: 1, memory: 4 }, hostPorts: [] }];
    const s = summarisePlan(job({ replicas: 3 }), [], nodes, plan);
    expect(s.unplaced).toEqual([
      { slot: 1, reason: "no room" },
      { slot: 2, reason: "no room" },
    ]);
    expect(s.nodes).toEqual([{ id: "gone", name: "gone", placed: [0], stopped: [], kept: [], rolled: [] }]);
  });

  it("leaves other jobs' tasks out, even on the same nodes", () => {
    const tasks = [task("mine", { slot: 0, nodeId: "n1" }), task("theirs", { jobId: "db", slot: 0, nodeId: "n2" })];
    const s = summary(job({ replicas: 1, update: ALL_AT_ONCE }), tasks);
    expect(s.nodes).toEqual([{ id: "n1", name: "alpha", placed: [], stopped: [], kept: [0], rolled: [] }]);
  });
});
