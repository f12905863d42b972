// What apply --wait counts as ready: the current version's slots running and healthy (batch: complete).
import { describe, expect, it } from "vitest";
import type { JobDetail, Task } from "../../cli/api-types";
import { readiness } from "../../cli/readiness";

function task(slot: number, over: Partial<Task> = {}): Task {
  return { id: `t${slot}`, slot, version: 2, nodeId: "n1", state: "running", desired: "run", epoch: 1, leaseExpiresAt: null, health: null, exitCode: null, restarts: 0, attempt: 1, boundPorts: [], message: null, ...over };
}

function job(tasks: Task[], spec: JobDetail["spec"], over: Partial<JobDetail["job"]> = {}): JobDetail {
  return { job: { id: "default/web", namespace: "default", name: "web", type: "service", status: "running", version: 2, createdAt: 0, updatedAt: 0, ...over }, spec, tasks, summary: {} };
}

describe("readiness", () => {
  it("counts a running task with no health as healthy only when the job has no health check", () => {
    expect(readiness(job([task(0), task(1)], { replicas: 2 }))).toMatchObject({ ready: true, progress: "2/2 running, 2 healthy", missing: [] });
    const checked = readiness(job([task(0), task(1, { health: "healthy" })], { replicas: 2, health: { type: "tcp", port: "http" } }));
    expect(checked).toMatchObject({ ready: false, progress: "2/2 running, 1 healthy", missing: ["slot 0: running, no health yet"] });
    expect(readiness(job([task(0, { health: "unhealthy" })], { replicas: 1 })).missing).toEqual(["slot 0: running, unhealthy"]);
  });

  it("does not count tasks of an older version, stopping tasks, or slots without a task", () => {
    const r = readiness(job([task(0, { version: 1 }), task(1, { desired: "stop" }), task(2, { state: "pending", message: "no node with 9000m cpu" })], { replicas: 4 }));
    expect(r).toMatchObject({ ready: false, running: 0, desired: 4 });
    expect(r.missing).toEqual(["slot 0: no task at version 2 yet", "slot 1: no task at version 2 yet", "slot 2: pending (no node with 9000m cpu)", "slot 3: no task at version 2 yet"]);
  });

  it("wants every batch slot complete", () => {
    const spec = { type: "batch" as const, replicas: 2 };
    expect(readiness(job([task(0, { state: "complete" }), task(1)], spec, { type: "batch" }))).toMatchObject({ ready: false, progress: "1/2 complete, 1 running" });
    expect(readiness(job([task(0, { state: "complete" }), task(1, { state: "complete" })], spec, { type: "batch" })).ready).toBe(true);
  });

  it("is ready at once for a stopped job or zero replicas", () => {
    expect(readiness(job([task(0)], { replicas: 3 }, { status: "stopped" }))).toMatchObject({ ready: true, desired: 0 });
    expect(readiness(job([], { replicas: 0 })).ready).toBe(true);
  });
});

describe("readiness per slot", () => {
  it("names the reason of a slot that waits for room, on one line", () => {
    const r = readiness(job([task(0), task(1, { state: "pending", nodeId: null, message: "no node with 250m cpu:\n  1 node short on cpu" })], { replicas: 2 }));
    expect(r.slots.map((s) => s.unplaced)).toEqual([null, "no node with 250m cpu: 1 node short on cpu"]);
    expect(r.missing).toEqual(["slot 1: pending (no node with 250m cpu: 1 node short on cpu)"]);
    // A pending task on a node, or one without a reason, is on its way, not waiting for room.
    expect(readiness(job([task(0, { state: "pending", message: null, nodeId: null })], { replicas: 1 })).slots[0]?.unplaced).toBeNull();
  });

  it("gives up on a slot only when its task has ended and is final; a missing final is false", () => {
    const failed = { state: "failed", message: "pull access denied for nosuch/image", exitCode: null };
    expect(readiness(job([task(0, { ...failed, final: true })], { replicas: 1 })).slots[0]).toMatchObject({ gaveUp: true, state: "failed", message: "pull access denied for nosuch/image" });
    expect(readiness(job([task(0, failed)], { replicas: 1 })).slots[0]?.gaveUp).toBe(false);
    expect(readiness(job([task(0, { ...failed, final: false })], { replicas: 1 })).slots[0]?.gaveUp).toBe(false);
    // Final on a task still under way, or on a batch task that completed, is nothing to give up on.
    expect(readiness(job([task(0, { state: "placed", final: true })], { replicas: 1 })).slots[0]?.gaveUp).toBe(false);
    const batch = readiness(job([task(0, { state: "complete", final: true })], { type: "batch", replicas: 1 }, { type: "batch" }));
    expect(batch).toMatchObject({ ready: true, slots: [{ gaveUp: false, done: true }] });
    // A failure without a message says its exit code.
    expect(readiness(job([task(0, { state: "failed", exitCode: 137, final: true })], { replicas: 1 })).slots[0]).toMatchObject({ message: "exit 137", phrase: "failed (exit 137)" });
  });
});
