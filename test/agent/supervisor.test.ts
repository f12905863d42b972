// The supervisor against a real engine: what it reports, and when it forgets a task.
import { randomUUID } from "node:crypto";
import Dockerode from "dockerode";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { TaskReport, TaskSpec } from "../../api/agent-protocol";
import { createLeaseChecker } from "../../agent/lease-check";
import { memoryLeaseStore } from "../../agent/lease-store";
import { createDockerRuntime, type ContainerRuntime } from "../../agent/runtime";
import { createSupervisor, type Supervisor } from "../../agent/supervisor";
import { generateSigningKey, jwks, type SigningKeys } from "../../worker/auth/keys";
import { signLease } from "../../worker/leases/lease-token";
import { cleanupNode, eventually, requireDocker, TEST_IMAGE, uniqueNode } from "../support/docker";

let docker: Dockerode;
let runtime: ContainerRuntime;
let keys: SigningKeys;
let node: string;
let supervisor: Supervisor;
const nodeId = randomUUID();

function taskSpec(command: string[], restart: Partial<TaskSpec["restart"]> = {}): TaskSpec {
  return {
    jobId: randomUUID(),
    namespace: "default",
    job: "once",
    slot: 0,
    version: 1,
    type: "batch",
    image: TEST_IMAGE,
    command,
    env: {},
    resources: { cpu: 50, memory: 16 },
    ports: [],
    restart: { mode: "never", attempts: 0, intervalMs: 60_000, delayMs: 100, ...restart },
    disconnect: { policy: "keep", afterMs: 60_000 },
    stopGraceMs: 500,
  };
}

async function lease(task: TaskSpec): Promise<{ taskId: string; lease: string }> {
  const taskId = randomUUID();
  const token = await signLease(keys, { now: () => Date.now() }, { taskId, nodeId, epoch: 1, version: 1, task }, 60_000);
  return { taskId, lease: token };
}

beforeAll(async () => {
  docker = await requireDocker();
  runtime = createDockerRuntime();
  keys = (await generateSigningKey()).keys;
});

beforeEach(() => {
  node = uniqueNode("sup");
  supervisor = createSupervisor({
    runtime,
    checkLease: createLeaseChecker(jwks(keys), nodeId),
    leaseStore: memoryLeaseStore(),
    nodeName: node,
    now: () => Date.now(),
    log: () => undefined,
    reportSoon: () => undefined,
    reconcileAfter: () => undefined,
  });
});

afterEach(async () => {
  supervisor.close();
  await cleanupNode(node, docker);
});

describe("supervisor reports", () => {
  it("a task that ends while a heartbeat carrying its running report is in flight is kept until its end is reported", async () => {
    const { taskId, lease: token } = await lease(taskSpec(["sh", "-c", "sleep 0.3; exit 3"]));
    await supervisor.accept([{ taskId, lease: token }]);
    await supervisor.reconcile(Date.now());
    const inFlight = supervisor.reports();
    expect(inFlight.map((r) => r.state)).toEqual(["running"]);
    // The container exits before that heartbeat's reply comes back.
    await eventually(async () => {
      await supervisor.reconcile(Date.now());
      return supervisor.held()[0]?.phase === "failed" ? true : undefined;
    }, 10_000, "the exit to be seen");
    supervisor.delivered(inFlight);
    const next: TaskReport[] = supervisor.reports();
    expect(next.map((r) => [r.state, r.exitCode])).toEqual([["failed", 3]]);
    supervisor.delivered(next);
    expect(supervisor.reports()).toEqual([]);
  });

  it("a task whose end was reported is forgotten, and its exited container is left for logs", async () => {
    const { taskId, lease: token } = await lease(taskSpec(["sh", "-c", "echo done; exit 0"]));
    await supervisor.accept([{ taskId, lease: token }]);
    await eventually(async () => {
      await supervisor.reconcile(Date.now());
      return supervisor.held()[0]?.phase === "complete" ? true : undefined;
    }, 10_000, "the batch task to complete");
    const sent = supervisor.reports();
    expect(sent.map((r) => [r.state, r.exitCode])).toEqual([["complete", 0]]);
    supervisor.delivered(sent);
    expect(supervisor.held()).toEqual([]);
    expect(await supervisor.logs(taskId, 10)).toContain("done");
  });
});
