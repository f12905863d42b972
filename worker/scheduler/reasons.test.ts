// Why a slot was not placed: reason constants per rejected node, aggregated into one sentence.
import { describe, expect, it } from "vitest";
import { failureKind } from "./reasons";
import { schedule } from "./schedule";
import { input, job, node, task } from "./test-support";

describe("placement failure reasons", () => {
  it("counts every node under its first reason and writes the sentence largest count first", () => {
    const nodes = [
      node("down", { status: "down" }),
      node("init", { status: "initializing" }),
      node("off", { eligible: false }),
      node("drain", { draining: true }),
      node("us1", { region: "us" }),
      node("us2", { region: "us" }),
      node("us3", { region: "us" }),
      node("small", { capacity: { cpu: 1000, memory: 8192 } }),
      node("lowmem", { capacity: { cpu: 4000, memory: 256 } }),
      node("port", {}),
    ];
    const tasks = [task("holder", { jobId: "other", nodeId: "port", hostPorts: [8080] })];
    const web = job({
      resources: { cpu: 2000, memory: 512 },
      ports: [{ name: "http", container: 80, host: 8080 }],
      constraints: [{ attribute: "region", operator: "=", value: "eu" }],
    });
    const plan = schedule(input({ jobs: [web], nodes, tasks }));
    expect(plan.place).toEqual([]);
    expect(plan.unplaced).toHaveLength(1);
    const [failure] = plan.unplaced;
    expect(failure?.metrics).toEqual({
      nodesEvaluated: 10,
      filtered: { "node not ready": 2, "node ineligible": 1, "node draining": 1, "constraint region = eu": 3 },
      exhausted: { cpu: 1, memory: 1, "port 8080": 1 },
    });
    expect(failure?.reason).toBe(
      "no node with 2000m cpu, 512MiB memory and port 8080 where region = eu: " +
        "3 nodes filtered by constraint region = eu, 2 nodes not ready, 1 node short on cpu, 1 node short on memory, " +
        "1 node with port 8080 in use, 1 node draining, 1 node ineligible",
    );
  });

  it("names each constraint operator", () => {
    const web = job({
      constraints: [
        { attribute: "label.disk", operator: "in", value: ["ssd", "nvme"] },
        { attribute: "label.gpu", operator: "not_exists" },
        { attribute: "name", operator: "!=", value: "n1" },
      ],
    });
    const nodes = [node("n0", { labels: { disk: "hdd" } }), node("n1", { labels: { disk: "ssd", gpu: "a100" } }), node("n2", { labels: { disk: "ssd" } }), node("n1x", { name: "n1", labels: { disk: "ssd" } })];
    const plan = schedule(input({ jobs: [web], nodes }));
    expect(plan.place.map((p) => p.nodeId)).toEqual(["n2"]);
    const none = schedule(input({ jobs: [{ ...web, replicas: 2 }], nodes: nodes.filter((n) => n.id !== "n2") }));
    expect(none.unplaced[0]?.reason).toBe(
      "no node with 500m cpu and 256MiB memory where label.disk in [ssd, nvme] and label.gpu not_exists and name != n1: " +
        "1 node filtered by constraint label.disk in [ssd, nvme], 1 node filtered by constraint label.gpu not_exists, " +
        "1 node filtered by constraint name != n1",
    );
  });

  it("says so when there are no nodes at all", () => {
    const plan = schedule(input({ jobs: [job()] }));
    expect(plan.unplaced[0]?.reason).toBe("no node with 500m cpu and 256MiB memory: the fleet has no nodes");
  });

  it("reports each unplaced slot of a job, with the same reasons", () => {
    const plan = schedule(input({ jobs: [job({ replicas: 3, resources: { cpu: 9000, memory: 1 } })], nodes: [node("n1")] }));
    expect(plan.unplaced.map((u) => u.slot)).toEqual([0, 1, 2]);
    expect(new Set(plan.unplaced.map((u) => u.reason)).size).toBe(1);
  });

  it("names a failure's kind by its commonest obstacle, from a fixed set", () => {
    const kind = (filtered: Record<string, number>, exhausted: Record<string, number> = {}, nodesEvaluated = 4) => failureKind({ nodesEvaluated, filtered, exhausted });
    expect(kind({}, {}, 0)).toBe("no_nodes");
    expect(kind({ "constraint region = eu": 3 }, { cpu: 1 })).toBe("constraint");
    // Equal counts: the resource leads, as in the sentence.
    expect(kind({ "node draining": 2 }, { memory: 2 })).toBe("memory");
    expect(kind({}, { "port 8080": 3, cpu: 1 })).toBe("port");
    expect(kind({ "node not ready": 2, "node ineligible": 1 })).toBe("not_ready");
    expect(kind({ "node ineligible": 3 })).toBe("ineligible");
    expect(kind({ "node draining": 3 })).toBe("draining");
    expect(kind({}, { cpu: 4 })).toBe("cpu");
  });
});
