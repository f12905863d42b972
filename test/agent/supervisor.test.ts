// The supervisor against a real engine: what it reports, when it forgets a task, what it clears away.
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Dockerode from "dockerode";
import { SignJWT } from "jose";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { AUDIENCE, ISSUER, type TaskReport, type TaskSpec } from "../../api/agent-protocol";
import { healthCheckSchema } from "../../api/job-spec";
import { createLeaseChecker } from "../../agent/lease-check";
import { createLeaseStore, memoryLeaseStore } from "../../agent/lease-store";
import { createLogger, silentLogger } from "../../agent/log";
import { createDockerRuntime, type ContainerRuntime } from "../../agent/runtime";
import { createSupervisor, type Supervisor, type SupervisorDeps } from "../../agent/supervisor";
import { generateSigningKey, jwks, type SigningKeys } from "../../worker/auth/keys";
import { cleanupNode, eventually, requireDocker, TEST_IMAGE, testOwner, testTask, uniqueNode } from "../support/docker";
import { grantFor, testTaskSpec, type Grant } from "../support/leases";

let docker: Dockerode;
let runtime: ContainerRuntime;
let keys: SigningKeys;
let node: string;
let supervisor: Supervisor;
const nodeId = randomUUID();

const taskSpec = testTaskSpec;
const lease = (task: TaskSpec): Promise<Grant> => grantFor(keys, nodeId, task);
const leaseAt = (taskId: string, task: TaskSpec, epoch: number): Promise<Grant> => grantFor(keys, nodeId, task, { taskId, epoch, version: 1 });

function makeSupervisor(overrides: Partial<SupervisorDeps> = {}): Supervisor {
  return createSupervisor({
    runtime,
    checkLease: createLeaseChecker(jwks(keys), nodeId),
    leaseStore: memoryLeaseStore(),
    owner: { cluster: testOwner(node).cluster, nodeId },
    nodeName: node,
    now: () => Date.now(),
    log: silentLogger,
    reportSoon: () => undefined,
    reconcileAfter: () => undefined,
    ...overrides,
  });
}

/** Reconciles until the first held task reaches `phase`. */
async function until(s: Supervisor, phase: string, what: string, timeoutMs = 10_000): Promise<void> {
  await eventually(async () => {
    await s.reconcile(Date.now());
    return s.held()[0]?.phase === phase ? true : undefined;
  }, timeoutMs, what);
}

beforeAll(async () => {
  docker = await requireDocker();
  runtime = createDockerRuntime();
  keys = (await generateSigningKey()).keys;
});

beforeEach(() => {
  node = uniqueNode("sup");
  supervisor = makeSupervisor();
});

afterEach(async () => {
  supervisor.close();
  await cleanupNode(node, docker);
});

describe("supervisor reports", () => {
  it("a task that ends while a heartbeat carrying its running report is in flight is kept until its end is reported", async () => {
    const granted = await lease(taskSpec(["sh", "-c", "sleep 0.3; exit 3"]));
    await supervisor.accept([granted]);
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
    const { taskId, ...granted } = await lease(taskSpec(["sh", "-c", "echo done; exit 0"]));
    await supervisor.accept([{ taskId, ...granted }]);
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
    const running = (await runtime.list({ owner: { cluster: testOwner(node).cluster, nodeId }, all: false })).filter((c) => c.state === "running");
    expect(running).toEqual([]);
    // A newer epoch (the task came back to this node) is taken.
    await supervisor.accept([await leaseAt(taskId, spec, 2)]);
    expect(supervisor.held().map((t) => t.epoch)).toEqual([2]);
  });

  it("refuses an epoch below one it already runs, and keeps its fences across a restart", async () => {
    const store = memoryLeaseStore();
    const make = () => makeSupervisor({ leaseStore: store });
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

describe("supervisor lease payloads", () => {
  const owner = () => ({ cluster: testOwner(node).cluster, nodeId });
  const running = async () => (await runtime.list({ owner: owner(), all: false })).filter((c) => c.state === "running");

  it("refuses a grant whose payload does not hash to its lease's ph, and logs why: nothing runs", async () => {
    const lines: { message: string; fields?: Record<string, unknown> }[] = [];
    const logged = makeSupervisor({ log: createLogger({ sink: (message, fields) => lines.push({ message, ...(fields ? { fields } : {}) }) }) });
    const spec = { ...taskSpec(["sleep", "30"]), type: "service" as const };
    const granted = await lease(spec);
    await logged.accept([{ ...granted, task: { ...spec, command: ["sh", "-c", "echo not what was leased; sleep 30"] } }]);
    await logged.reconcile(Date.now());
    expect(logged.held()).toEqual([]);
    expect(await running()).toEqual([]);
    expect(lines).toContainEqual({ message: "refusing lease", fields: { level: "warn", task: granted.taskId, reason: "task payload does not match the lease's payload hash" } });
    // The same token with the payload it was signed for is taken.
    await logged.accept([granted]);
    await logged.reconcile(Date.now());
    expect(logged.held().map((t) => t.phase)).toEqual(["running"]);
    logged.close();
  });

  it("after a restart, checks the stored payload again: one that no longer matches is not run, the label's pair is", async () => {
    const store = memoryLeaseStore();
    const first = makeSupervisor({ leaseStore: store });
    const spec = { ...taskSpec(["sleep", "30"]), type: "service" as const };
    const granted = await lease(spec);
    await first.accept([granted]);
    await first.reconcile(Date.now());
    expect(store.load()).toEqual({ [granted.taskId]: { lease: granted.lease, task: spec } });
    first.close();
    // While the agent is down its leases.json is changed under it.
    store.save({ [granted.taskId]: { lease: granted.lease, task: { ...spec, image: "someone/else:latest" } } });
    const restarted = makeSupervisor({ leaseStore: store });
    expect(await restarted.adopt(Date.now())).toBe(1);
    expect(store.load()).toEqual({ [granted.taskId]: { lease: granted.lease, task: spec } });
    expect((await running()).map((c) => c.task?.task)).toEqual([granted.taskId]);
    restarted.close();
  });

  it("an old-format leases.json and a container labelled with an old-format lease: the container is stopped, and the lease a claim hands over again runs", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "leasehold-sup-"));
    const spec = { ...taskSpec(["sleep", "30"]), type: "service" as const };
    const taskId = randomUUID();
    // As an agent before payloads moved beside tokens left things: the task spec inside the token, a bare token per task.
    const old = await new SignJWT({ node: nodeId, epoch: 1, ver: 1, task: spec })
      .setProtectedHeader({ alg: "EdDSA", kid: keys.kid, typ: "lease+jwt" })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE.lease)
      .setSubject(taskId)
      .setIssuedAt()
      .setExpirationTime("1m")
      .sign(keys.privateKey);
    const identity = testTask(node, { nodeId, task: taskId, job: spec.jobId, epoch: 1 });
    // It stops on SIGTERM, so the adoption's stop does not wait out its grace.
    const before = await runtime.start({ task: identity, image: TEST_IMAGE, command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"], restore: { lease: old } });
    writeFileSync(join(dataDir, "leases.json"), JSON.stringify({ [taskId]: old }), { mode: 0o600 });
    const store = createLeaseStore(dataDir, () => undefined);
    expect(store.load()).toEqual({});

    const restarted = makeSupervisor({ leaseStore: store });
    expect(await restarted.adopt(Date.now())).toBe(0);
    expect((await runtime.inspect(before.id)).state).toBe("exited");
    // The control plane still holds the lease at epoch 1: the next claim hands it over, with its payload.
    await restarted.accept([await leaseAt(taskId, spec, 1)]);
    await until(restarted, "running", "the task to run again");
    expect((await running()).map((c) => c.task?.task)).toEqual([taskId]);
    expect((await runtime.inspect(before.id)).state).toBe("missing");
    expect(Object.keys(store.load())).toEqual([taskId]);
    restarted.close();
    rmSync(dataDir, { recursive: true, force: true });
  });
});

describe("supervisor clears exited containers", () => {
  it("removes those whose end was reported, keeping the newest few per slot, and never another cluster's", async () => {
    const kept = makeSupervisor({ keepExited: 2 });
    const spec = taskSpec(["sh", "-c", "echo run of version $LEASEHOLD_EPOCH; exit 0"]);
    // A node of the same name in another cluster has an exited container on this engine too.
    const foreign = await runtime.start({ task: testTask(node, { cluster: "another-cluster", nodeId, job: spec.jobId }), image: TEST_IMAGE, command: ["true"] });
    const taskIds: string[] = [];
    for (const version of [1, 2, 3, 4]) {
      const granted = await lease({ ...spec, version });
      taskIds.push(granted.taskId);
      await kept.accept([granted]);
      await until(kept, "complete", `version ${version} to complete`);
      if (version < 4) kept.delivered(kept.reports());
    }
    // As Docker shows them: this slot's containers of this supervisor's tasks.
    const ours = async () =>
      (await docker.listContainers({ all: true, filters: { label: [`io.leasehold.node=${node}`] } })).map((c) => c.Labels["io.leasehold.task"]).filter((id) => taskIds.includes(id ?? ""));
    await kept.reconcile(Date.now());
    // Version 4 ended but its end is not reported yet: it is held, and none of the reported ones beyond two is kept.
    expect((await ours()).sort()).toEqual([taskIds[1], taskIds[2], taskIds[3]].sort());
    kept.delivered(kept.reports());
    await kept.reconcile(Date.now());
    expect((await ours()).sort()).toEqual([taskIds[2], taskIds[3]].sort());
    expect(await kept.logs(taskIds[3]!, 10)).toContain("run of version");
    expect((await runtime.inspect(foreign.id)).state).toBe("exited");
    kept.close();
  });
});

describe("supervisor start failures", () => {
  const UNPULLABLE = "127.0.0.1:1/leasehold-test/unpullable:never";

  it("an image that cannot be pulled follows the restart policy: reported starting with the error while it waits, failed once its attempts are used", async () => {
    const spec = { ...taskSpec(["true"], { mode: "always", attempts: 2, delayMs: 300 }), image: UNPULLABLE, type: "service" as const };
    const granted = await lease(spec);
    const startedAt = Date.now();
    await supervisor.accept([granted]);
    await supervisor.reconcile(Date.now());
    const waiting = supervisor.reports();
    expect(waiting.map((r) => r.state)).toEqual(["starting"]);
    expect(waiting[0]?.message).toMatch(/unpullable:never.*pull failed/);
    expect(supervisor.held()[0]?.phase).toBe("backoff");
    await until(supervisor, "failed", "the attempts to be used up");
    // Two restarts, each after the policy's delay: not a hot loop.
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(2 * 300);
    const [report] = supervisor.reports();
    expect(report).toMatchObject({ state: "failed", restarts: 2, exitCode: null });
    expect(report?.message).toMatch(/unpullable:never.*pull failed.*2 restarts within 60s used up/);
  });

  it("with restart mode never, a pull failure fails the task at once, with the error", async () => {
    const spec = { ...taskSpec(["true"]), image: UNPULLABLE };
    await supervisor.accept([await lease(spec)]);
    await supervisor.reconcile(Date.now());
    const [report] = supervisor.reports();
    expect(report).toMatchObject({ state: "failed", restarts: 0 });
    expect(report?.message).toMatch(/pull failed/);
  });
});

describe("supervisor health failures", () => {
  const HTTPD = ["httpd", "-f", "-p", "8080", "-h", "/www"];

  /** busybox httpd on 8080 with `health` (a job file's health block, validated as the control plane does). */
  function webSpec(health: Record<string, unknown>, restart: Partial<TaskSpec["restart"]> = {}): TaskSpec {
    return {
      ...taskSpec(HTTPD, { mode: "always", attempts: 5, delayMs: 100, ...restart }),
      type: "service",
      ports: [{ name: "http", container: 8080, protocol: "tcp" }],
      health: healthCheckSchema.parse(health),
    };
  }

  type Sample = { at: number; phase: string; containerId: string | null; report: TaskReport };

  /** Reconciles every 50 ms, sampling the first held task, until `done` holds for a sample. */
  async function sampleUntil(s: Supervisor, done: (sample: Sample) => boolean, what: string, timeoutMs = 20_000): Promise<Sample[]> {
    const samples: Sample[] = [];
    await eventually(async () => {
      await s.reconcile(Date.now());
      const [held] = s.held();
      const [report] = s.reports();
      if (!held || !report) return undefined;
      const sample = { at: Date.now(), phase: held.phase, containerId: held.containerId, report };
      samples.push(sample);
      return done(sample) ? true : undefined;
    }, timeoutMs, what);
    return samples;
  }

  it("a task that fails its check `failures` times in a row is restarted under its policy, its check starting over with its grace, and failed once the attempts are used", async () => {
    // A path httpd does not serve: every probe answers 404. onFailure is left to its default.
    const spec = webSpec({ type: "http", port: "http", path: "/no-such-page", interval: "100ms", timeout: "1s", failures: 2, grace: "600ms" }, { attempts: 2 });
    await supervisor.accept([await lease(spec)]);
    const samples = await sampleUntil(supervisor, (x) => x.phase === "failed", "the restarts to be used up");

    const last = samples.at(-1)!.report;
    expect(last).toMatchObject({ state: "failed", restarts: 2, health: null });
    expect(last.message).toMatch(/^health check failed 2 times: HTTP 404 from 127\.0\.0\.1:\d+\/no-such-page; 2 restarts within 60s used up$/);

    // Three containers ran, one after the other; each first reported with its check starting over.
    const runs = samples.filter((x) => x.phase === "running");
    const containers = [...new Set(runs.map((x) => x.containerId))];
    expect(containers).toHaveLength(3);
    for (const [i, id] of containers.entries()) {
      const first = runs.find((x) => x.containerId === id)!;
      const lastSeen = runs.findLast((x) => x.containerId === id)!;
      expect(first.report).toMatchObject({ state: "running", health: "starting", restarts: i });
      // Failures within the grace are not counted, after every start: no container was stopped before it ended.
      expect(lastSeen.at - first.at).toBeGreaterThanOrEqual(500);
      if (i > 0) expect(first.report.message).toMatch(/^restarted: health check failed 2 times: HTTP 404/);
    }
    // The restarts went through the policy's backoff, reported as starting with the reason.
    const waiting = samples.find((x) => x.phase === "backoff")!;
    expect(waiting.report).toMatchObject({ state: "starting", health: null });
    expect(waiting.report.message).toMatch(/^health check failed 2 times: HTTP 404/);
    // The one that failed was stopped, not left running unhealthy.
    expect((await runtime.inspect(containers[2]!)).state).toBe("exited");
  });

  it("with onFailure ignore, an unhealthy task is reported unhealthy and keeps running, never restarted", async () => {
    const spec = webSpec({ type: "http", port: "http", path: "/no-such-page", interval: "100ms", timeout: "1s", failures: 2, onFailure: "ignore" });
    await supervisor.accept([await lease(spec)]);
    const samples = await sampleUntil(supervisor, (x) => x.report.health === "unhealthy", "the task to turn unhealthy");
    const unhealthyAt = samples.at(-1)!.at;
    // Ten more intervals: a restart under the default would have happened in the first.
    const after = await sampleUntil(supervisor, (x) => x.at - unhealthyAt >= 1_000, "a second to pass");
    for (const x of after) {
      expect(x.phase).toBe("running");
      expect(x.containerId).toBe(samples.at(-1)!.containerId);
      expect(x.report).toMatchObject({ state: "running", health: "unhealthy", restarts: 0 });
      expect(x.report.message).toBeUndefined();
    }
    expect((await runtime.inspect(samples.at(-1)!.containerId!)).state).toBe("running");
  });

  it("an exec check that fails under restart mode never ends the task failed at once, with the probe's answer", async () => {
    const spec = { ...webSpec({ type: "exec", command: ["false"], interval: "100ms", timeout: "1s", failures: 1 }, { mode: "never" }), command: ["sleep", "30"], ports: [] };
    await supervisor.accept([await lease(spec)]);
    const samples = await sampleUntil(supervisor, (x) => x.phase === "failed", "the task to fail");
    const { containerId, report } = samples.at(-1)!;
    expect(report).toMatchObject({ state: "failed", restarts: 0, exitCode: null });
    expect(report.message).toBe("health check failed once: exit 1");
    expect((await runtime.inspect(containerId!)).state).toBe("exited");
  });

  it("a task restarted after an exit says so once it runs again", async () => {
    const spec = { ...taskSpec(["sh", "-c", "sleep 1; exit 4"], { mode: "always", attempts: 1, delayMs: 100 }), type: "service" as const };
    await supervisor.accept([await lease(spec)]);
    const samples = await sampleUntil(supervisor, (x) => x.phase === "running" && x.report.restarts === 1, "the restart to run");
    expect(samples.at(-1)!.report.message).toBe("restarted: exited with 4");
  });
});
