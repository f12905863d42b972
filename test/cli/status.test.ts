// The one-job view of `leasehold status JOB`: a task the control plane has given up on, and its last error.
import { describe, expect, it } from "vitest";
import type { JobDetail, Task } from "../../cli/api-types";
import { describeJob } from "../../cli/commands/status";

function task(slot: number, over: Partial<Task> = {}): Task {
  return { id: `0000000${slot}-task`, slot, version: 1, nodeId: "n1", state: "running", desired: "run", epoch: 1, leaseExpiresAt: null, health: null, exitCode: null, restarts: 0, attempt: 1, boundPorts: [], message: null, ...over };
}

function detail(tasks: Task[]): JobDetail {
  return { job: { id: "default/web", namespace: "default", name: "web", type: "service", status: "running", version: 1, createdAt: 0, updatedAt: 0 }, spec: { replicas: tasks.length, image: "nosuch/image:1" }, tasks, summary: {} };
}

describe("status JOB", () => {
  it("marks a failed task that will not be replaced as final, with its last error on its own line", () => {
    const failed = { state: "failed", exitCode: null, message: "pull access denied for nosuch/image\nrepository does not exist" };
    const out = describeJob(detail([task(0, { ...failed, final: true }), task(1, failed), task(2, { ...failed, final: false })]), [], new Map([["n1", "node-a"]]));
    const rows = out.split("\n").filter((l) => /^0000000\d  /.test(l));
    expect(rows).toHaveLength(3);
    expect(rows[0]).toMatch(/^00000000\s+0\s+1\s+node-a\s+failed \(final\)\s+-\s+-\s+-\s+0\s+-\s+-\s+pull access denied for nosuch\/image repository does not exist$/);
    // Without `final` (or with final: false) the control plane may still replace it: no mark.
    expect(rows[1]).toMatch(/^00000001\s+1\s+1\s+node-a\s+failed\s+-\s+-\s+-\s+0/);
    expect(rows[2]).toMatch(/^00000002\s+2\s+1\s+node-a\s+failed\s+-\s+-\s+-\s+0/);
  });
});
