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

describe("supervisor fencing", () => {
  async function leaseAt(taskId: string, task: TaskSpec, epoch: number): Promise<{ taskId: string; lease: string }> {
    return { taskId, lease: await signLease(keys, { now: () => Date.now() }, { taskId, nodeId, epoch, version: 1, task }, 60_000) };
  }

  it("refuses a lease at or below an epoch it was told is stale, even one that arrives later (a long-poll answered late)", async () => {
    const spec = { ...taskSpec(["sleep", "30"]), type: "service" as const };
    const taskId = randomUUID();
    const first = await leaseAt(taskId, spec, 1);
    await supervisor.accept([first]);
    await supervisor.reconcile(Date.now());
    expect(supervisor.held().map((t) => [t.epoch, t.phase])).toEqual([[1, "running"]]);
    await supervisor.applyHeartbeat({ renewed: [], revoked: [{ taskId, epoch: 1, reason: "stale-epoch", detail: "" }], work: false, logRequests: [], heartbeatIntervalMs: 1000, leaseTtlMs: 3000 }, Date.now());
    expect(supervisor.held()).toEqual([]);
    // The claim that started before the drain answers now with the epoch-1 lease: refused, nothing starts.
    await supervisor.accept([first]);
    await supervisor.reconcile(Date.now());
    expect(supervisor.held()).toEqual([]);
    const running = (await runtime.list({ node, all: false })).filter((c) => c.state === "running");
    expect(running).toEqual([]);
    // A newer epoch (the task came back to this node) is taken.
    await supervisor.accept([await leaseAt(taskId, spec, 2)]);
    expect(supervisor.held().map((t) => t.epoch)).toEqual([2]);
  });

  it("refuses an epoch below one it already runs, and keeps its fences across a restart", async () => {
    const store = memoryLeaseStore();
    const make = () =>
      createSupervisor({ runtime, checkLease: createLeaseChecker(jwks(keys), nodeId), leaseStore: store, nodeName: node, now: () => Date.now(), log: () => undefined, reportSoon: () => undefined, reconcileAfter: () => undefined });
    const first = make();
    const spec = { ...taskSpec(["sleep", "30"]), type: "service" as const };
    const taskId = randomUUID();
    await first.accept([await leaseAt(taskId, spec, 3)]);
    await first.accept([await leaseAt(taskId, spec, 2)]);
    expect(first.held().map((t) => t.epoch)).toEqual([3]);
    await first.applyHeartbeat({ renewed: [], revoked: [{ taskId, epoch: 3, reason: "expired", detail: "" }], work: false, logRequests: [], heartbeatIntervalMs: 1000, leaseTtlMs: 3000 }, Date.now());
    first.close();
    const restarted = make();
    await restarted.accept([await leaseAt(taskId, spec, 3)]);
    expect(restarted.held()).toEqual([]);
    restarted.close();
  });
});
