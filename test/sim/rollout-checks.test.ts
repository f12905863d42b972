// Check 7 on hand-made snapshots: it flags a survivor a scale stopped, and lets be one that failed by itself.
import { describe, expect, it } from "vitest";
import { RolloutChecker } from "./rollout-checks";
import type { Snapshot, TaskRow, VersionInfo } from "./snapshot";

const NOW = 100_000;
const VERSION: VersionInfo = {
  startFirst: false,
  keep: true,
  replicas: 2,
  specHash: "h1",
  parallelism: 1,
  minHealthyMs: 0,
  healthyDeadlineMs: 300_000,
  progressDeadlineMs: 600_000,
  canary: 0,
  autoRevert: false,
  waves: false,
  bad: null,
};

function task(slot: number, over: Partial<TaskRow> = {}): TaskRow {
  return { id: `t${slot}`, jobId: "default/web", slot, version: 1, nodeId: "n1", state: "running", desired: "run", epoch: 1, leaseExpiresAt: NOW + 10_000, cpu: 100, memory: 64, health: "healthy", healthyAt: 1, lostAt: null, ...over };
}

function snap(replicas: number, tasks: TaskRow[]): Snapshot {
  return {
    tasks,
    nodes: new Map([["n1", { name: "n1", region: "r1", cpu: 4000, memory: 4096, draining: false, drainDeadline: null }]]),
    jobs: new Map([["default/web", { status: "running", version: 1, replicas }]]),
    versions: new Map([["default/web", new Map([[1, VERSION]])]]),
    deployments: [{ id: "d1", jobId: "default/web", version: 1, status: "successful", promoted: true, wave: null, wavesDone: [], revertOf: null, description: "", createdAt: 1 }],
  };
}

/** Two copies, then a scale to 3 in the second snapshot, then `after` of slot 0 in the third. */
function scaleThen(after: Partial<TaskRow>): [string, string] | null {
  const c = new RolloutChecker();
  expect(c.check(snap(2, [task(0), task(1)]), NOW)).toBeNull();
  expect(c.check(snap(3, [task(0), task(1), task(2, { state: "placed" })]), NOW)).toBeNull();
  return c.check(snap(3, [task(0, after), task(1), task(2, { state: "placed" })]), NOW);
}

describe("check 7: a scale restarts no survivor", () => {
  it("flags a survivor told to stop, or moved to a new epoch, while the count changed", () => {
    expect(scaleThen({ desired: "stop" })?.[0]).toBe("7 scale restarted a survivor");
    expect(scaleThen({ epoch: 2 })?.[0]).toBe("7 scale restarted a survivor");
  });

  it("lets be a survivor that failed by itself, or whose lease lapsed", () => {
    expect(scaleThen({ state: "failed" })).toBeNull();
    expect(scaleThen({ leaseExpiresAt: NOW - 1 })).toBeNull();
    expect(scaleThen({})).toBeNull();
  });
});
