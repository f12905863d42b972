// Ranking: bin-pack, anti-affinity, spread, and the seeded tie-break.
import { describe, expect, it } from "vitest";
import { hashString, mulberry32 } from "./random";
import { schedule } from "./schedule";
import { input, job, node, task } from "./test-support";

describe("ranking", () => {
  it("bin-packs: a new job goes to the fuller of two nodes that fit", () => {
    const nodes = [node("empty"), node("busy")];
    const tasks = [task("other", { jobId: "db", nodeId: "busy", resources: { cpu: 2000, memory: 4096 } })];
    for (const evalId of ["a", "b", "c", "d"]) {
      const plan = schedule(input({ evalId, jobs: [job()], nodes, tasks }));
      expect(plan.place.map((p) => p.nodeId)).toEqual(["busy"]);
    }
  });

  it("keeps replicas of one job apart even when packing would stack them", () => {
    const nodes = [node("empty"), node("busy")];
    const tasks = [task("other", { jobId: "db", nodeId: "busy", resources: { cpu: 2000, memory: 4096 } })];
    const plan = schedule(input({ jobs: [job({ replicas: 2 })], nodes, tasks }));
    expect(plan.place.map((p) => p.nodeId).sort()).toEqual(["busy", "empty"]);
  });

  it("stacks replicas only once every node holds one", () => {
    const plan = schedule(input({ jobs: [job({ replicas: 6 })], nodes: [node("n1"), node("n2"), node("n3")] }));
    const perNode = new Map<string, number>();
    for (const p of plan.place) perNode.set(p.nodeId, (perNode.get(p.nodeId) ?? 0) + 1);
    expect([...perNode.values()]).toEqual([2, 2, 2]);
  });

  it("spreads replicas over the values of an attribute, however many nodes each value has", () => {
    const nodes = [
      ...["e1", "e2", "e3", "e4", "e5"].map((id) => node(id, { region: "eu" })),
      node("u1", { region: "us" }),
      node("a1", { region: "ap", capacity: { cpu: 16_000, memory: 16_384 } }),
    ];
    const plan = schedule(input({ jobs: [job({ replicas: 6, spread: { attribute: "region" } })], nodes }));
    const perRegion = new Map<string, number>();
    for (const p of plan.place) {
      const region = nodes.find((n) => n.id === p.nodeId)?.region ?? "?";
      perRegion.set(region, (perRegion.get(region) ?? 0) + 1);
    }
    expect(Object.fromEntries(perRegion)).toEqual({ eu: 2, us: 2, ap: 2 });
  });

  it("spreads by a label and counts the job's existing tasks", () => {
    const nodes = [node("a", { labels: { rack: "r1" } }), node("b", { labels: { rack: "r2" } }), node("c", { labels: { rack: "r2" } })];
    const tasks = [task("t0", { slot: 0, nodeId: "b" }), task("t1", { slot: 1, nodeId: "c" })];
    const plan = schedule(input({ jobs: [job({ replicas: 4, spread: { attribute: "label.rack" } })], nodes, tasks }));
    expect(plan.place.map((p) => p.nodeId)).toEqual(["a", "a"]);
  });

  it("breaks ties with a shuffle seeded by the evaluation id", () => {
    const nodes = Array.from({ length: 10 }, (_, i) => node(`n${i}`));
    const pick = (evalId: string) => schedule(input({ evalId, jobs: [job()], nodes })).place[0]?.nodeId;
    expect(pick("e1")).toBe(pick("e1"));
    const chosen = new Set(Array.from({ length: 30 }, (_, i) => pick(`e${i}`)));
    expect(chosen.size).toBeGreaterThan(3);
  });
});

describe("seeded randomness", () => {
  it("repeats a stream for a seed and stays in [0, 1)", () => {
    const a = mulberry32(hashString("eval-1"));
    const b = mulberry32(hashString("eval-1"));
    const xs = Array.from({ length: 1000 }, () => a());
    expect(Array.from({ length: 1000 }, () => b())).toEqual(xs);
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
    expect(hashString("eval-1")).not.toBe(hashString("eval-2"));
  });
});
