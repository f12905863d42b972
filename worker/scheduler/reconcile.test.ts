// Bucket by bucket: what the reconciler asks for in each situation the control plane meets.
import { describe, expect, it } from "vitest";
import { applyPlan } from "./apply-plan";
import { MIN_RESCHEDULE_DELAY_MS, replacementsSpent, rescheduleDelay } from "./reconcile";
import { schedule } from "./schedule";
import { NOW, input, isQuiet, job, node, task } from "./test-support";
import type { TaskView } from "./types";

const threeNodes = [node("n1"), node("n2"), node("n3")];

describe("missing slots", () => {
  it("places every slot of a new job, one replica per node while nodes allow", () => {
    const plan = schedule(input({ jobs: [job({ replicas: 3 })], nodes: threeNodes }));
    expect(plan.place.map((p) => p.slot).sort()).toEqual([0, 1, 2]);
    expect(new Set(plan.place.map((p) => p.nodeId)).size).toBe(3);
    expect(plan.place[0]).toMatchObject({ jobId: "web", version: 1, resources: { cpu: 500, memory: 256 }, hostPorts: [] });
    expect(plan.unplaced).toEqual([]);
  });

  it("places only the slots that have no task", () => {
    const plan = schedule(
      input({ jobs: [job({ replicas: 3 })], nodes: threeNodes, tasks: [task("a", { slot: 0 }), task("b", { slot: 2, nodeId: "n2" })] }),
    );
    expect(plan.place.map((p) => p.slot)).toEqual([1]);
    expect(plan.ignore.sort()).toEqual(["a", "b"]);
  });

  it("carries a job's static host ports and never puts two holders of one port on a node", () => {
    const web = job({ replicas: 3, ports: [{ name: "http", container: 80, host: 8080 }] });
    const plan = schedule(input({ jobs: [web], nodes: [node("n1"), node("n2")] }));
    expect(plan.place).toHaveLength(2);
    expect(plan.place.every((p) => p.hostPorts[0] === 8080)).toBe(true);
    expect(new Set(plan.place.map((p) => p.nodeId)).size).toBe(2);
    expect(plan.unplaced[0]?.reason).toContain("2 nodes with port 8080 in use");
  });
});

describe("scale-down and stop", () => {
  it("stops slots at or above replicas", () => {
    const tasks = [0, 1, 2].map((slot) => task(`t${slot}`, { slot }));
    const plan = schedule(input({ jobs: [job({ replicas: 1 })], nodes: threeNodes, tasks }));
    expect(plan.stop).toEqual([
      { taskId: "t1", reason: "scale-down" },
      { taskId: "t2", reason: "scale-down" },
    ]);
    expect(plan.ignore).toEqual(["t0"]);
    expect(plan.place).toEqual([]);
  });

  it("stops every task of a stopped job, and replaces nothing", () => {
    const tasks = [task("run"), task("gone", { slot: 1, state: "lost" }), task("pend", { slot: 2, state: "pending", nodeId: null })];
    const plan = schedule(input({ jobs: [job({ replicas: 3, status: "stopped" })], nodes: threeNodes, tasks }));
    expect(plan.stop).toEqual([
      { taskId: "run", reason: "job-stopped" },
      { taskId: "pend", reason: "job-stopped" },
    ]);
    expect(plan.place).toEqual([]);
    expect(plan.replace).toEqual([]);
  });

  it("leaves tasks already asked to stop alone, but still marks them lost when their lease runs out", () => {
    const tasks = [task("draining-out", { desired: "stop" }), task("expired", { desired: "stop", leaseExpiresAt: NOW - 1 })];
    const plan = schedule(input({ jobs: [job({ replicas: 0 })], nodes: threeNodes, tasks }));
    expect(plan.stop).toEqual([]);
    expect(plan.lost).toEqual([{ taskId: "expired", nodeId: "n1", at: NOW - 1 }]);
    expect(plan.ignore).toEqual(["draining-out", "expired"]);
  });

  it("frees a stopped task's capacity in the same plan only when no agent has started it", () => {
    const small = node("n1", { capacity: { cpu: 1000, memory: 1024 } });
    const other = job({ id: "api", name: "api", resources: { cpu: 1000, memory: 512 } });
    const withOld = (state: "placed" | "running") =>
      schedule(input({ jobs: [job({ replicas: 0 }), other], nodes: [small], tasks: [task("old", { state, resources: { cpu: 1000, memory: 512 } })] }));
    const placed = withOld("placed");
    expect(placed.stop).toEqual([{ taskId: "old", reason: "scale-down" }]);
    expect(placed.place).toMatchObject([{ jobId: "api", nodeId: "n1" }]);
    // A running task holds its node until its agent reports it stopped.
    const running = withOld("running");
    expect(running.stop).toEqual([{ taskId: "old", reason: "scale-down" }]);
    expect(running.place).toEqual([]);
    expect(running.unplaced).toMatchObject([{ jobId: "api" }]);
  });
});

describe("lost tasks", () => {
  it("is lost only once the lease expiry is strictly before now", () => {
    const at = (leaseExpiresAt: number) =>
      schedule(input({ jobs: [job()], nodes: threeNodes, tasks: [task("t", { leaseExpiresAt })] }));
    expect(at(NOW).lost).toEqual([]);
    const plan = at(NOW - 1);
    expect(plan.lost).toEqual([{ taskId: "t", nodeId: "n1", at: NOW - 1 }]);
    expect(plan.replace).toHaveLength(1);
    expect(plan.replace[0]).toMatchObject({ taskId: "t", reason: "lost", attempt: 0, slot: 0 });
  });

  it("takes time from `now`, not from a clock: the same rows are fine earlier and lost later", () => {
    const rows = { jobs: [job()], nodes: threeNodes, tasks: [task("t", { leaseExpiresAt: NOW + 10_000 })] };
    expect(schedule(input({ ...rows, now: NOW })).lost).toEqual([]);
    expect(schedule(input({ ...rows, now: NOW + 10_001 })).lost).toHaveLength(1);
  });

  it("moves placed tasks off a down node at once, but leaves a leased one there until its lease lapses", () => {
    const nodes = [node("n1", { status: "down" }), node("n2")];
    const tasks = [task("running", { leaseExpiresAt: NOW + 5_000 }), task("placed", { slot: 1, state: "placed", leaseExpiresAt: null })];
    const plan = schedule(input({ jobs: [job({ replicas: 2 })], nodes, tasks }));
    expect(plan.lost).toEqual([{ taskId: "placed", nodeId: "n1", at: NOW }]);
    expect(plan.replace.map((r) => [r.taskId, r.nodeId, r.reason])).toEqual([["placed", "n2", "lost"]]);
    expect(plan.ignore).toContain("running");
    // Once the lease has lapsed the task is lost and replaced.
    const later = schedule(input({ jobs: [job({ replicas: 2 })], nodes, tasks: [task("running", { leaseExpiresAt: NOW - 1 })] }));
    expect(later.lost).toEqual([{ taskId: "running", nodeId: "n1", at: NOW - 1 }]);
    expect(later.replace.map((r) => [r.taskId, r.nodeId])).toEqual([["running", "n2"]]);
  });

  it("moves a placed task off a quiet (disconnected) node at once, but leaves a leased one until its lease lapses", () => {
    const nodes = [node("n1", { status: "disconnected" }), node("n2")];
    const tasks = [task("running", { leaseExpiresAt: NOW + 5_000 }), task("placed", { slot: 1, state: "placed", leaseExpiresAt: null })];
    const plan = schedule(input({ jobs: [job({ replicas: 2 })], nodes, tasks }));
    expect(plan.lost).toEqual([{ taskId: "placed", nodeId: "n1", at: NOW }]);
    expect(plan.replace.map((r) => [r.taskId, r.nodeId])).toEqual([["placed", "n2"]]);
    expect(plan.ignore).toContain("running");
  });

  it("moving a placed task off a quiet node is no reschedule: it keeps its attempt count and is never given up", () => {
    const nodes = [node("n1", { status: "disconnected" }), node("n2")];
    const exhausted = job({ type: "batch", reschedule: { attempts: 1, intervalMs: 3_600_000, delayMs: 0, maxDelayMs: 0 } });
    const tasks = [task("placed", { state: "placed", leaseExpiresAt: null, attempt: 1, attemptSince: NOW - 1_000 })];
    const plan = schedule(input({ jobs: [exhausted], nodes, tasks }));
    expect(plan.failed).toEqual([]);
    expect(plan.replace.map((r) => [r.taskId, r.nodeId, r.attempt])).toEqual([["placed", "n2", 1]]);
  });

  it("leaves a placed task on a quiet node while no ready node has room for it: moving it would only leave it pending", () => {
    // n2 is full with another slot of the job; the quiet node's placement has nowhere to go.
    const nodes = [node("n1", { status: "disconnected" }), node("n2", { capacity: { cpu: 500, memory: 256 } })];
    const tasks = [task("placed", { state: "placed", leaseExpiresAt: null }), task("full", { slot: 1, nodeId: "n2" })];
    const plan = schedule(input({ jobs: [job({ replicas: 2 })], nodes, tasks }));
    expect(plan.lost).toEqual([]);
    expect(plan.replace).toEqual([]);
    expect(plan.unplaced).toEqual([]);
    expect(plan.ignore).toEqual(expect.arrayContaining(["placed", "full"]));
  });

  it("moves as many of a quiet node's placements as the ready nodes have room for, and leaves the rest", () => {
    const nodes = [node("n1", { status: "disconnected" }), node("n2", { capacity: { cpu: 1000, memory: 512 } })];
    const tasks = [0, 1, 2].map((slot) => task(`placed-${slot}`, { slot, state: "placed", leaseExpiresAt: null }));
    const plan = schedule(input({ jobs: [job({ replicas: 3 })], nodes, tasks }));
    expect(plan.lost.map((l) => l.taskId)).toEqual(["placed-0", "placed-1"]);
    expect(plan.replace.map((r) => [r.taskId, r.nodeId])).toEqual([
      ["placed-0", "n2"],
      ["placed-1", "n2"],
    ]);
    expect(plan.ignore).toContain("placed-2");
  });

  it("treats a task on a node that no longer exists as lost", () => {
    const plan = schedule(input({ jobs: [job()], nodes: [node("n2")], tasks: [task("t")] }));
    expect(plan.lost).toEqual([{ taskId: "t", nodeId: "n1", at: NOW }]);
    expect(plan.replace[0]?.nodeId).toBe("n2");
  });

  it("does not count a lost task's resources against its node", () => {
    const full = node("n1", { capacity: { cpu: 500, memory: 256 } });
    const plan = schedule(input({ jobs: [job()], nodes: [full], tasks: [task("t", { leaseExpiresAt: NOW - 5 })] }));
    expect(plan.replace).toMatchObject([{ taskId: "t", nodeId: "n1" }]);
  });

  it("replaces a failed service task, and a service task that completed; never a completed batch task", () => {
    const failed = schedule(input({ jobs: [job()], nodes: threeNodes, tasks: [task("t", { state: "failed", lostAt: NOW - 1_000 })] }));
    expect(failed.replace).toMatchObject([{ taskId: "t", reason: "failed", attempt: 1, attemptSince: NOW }]);
    const done = schedule(input({ jobs: [job()], nodes: threeNodes, tasks: [task("t", { state: "complete", lostAt: NOW - 1_000 })] }));
    expect(done.replace).toMatchObject([{ taskId: "t", reason: "complete", attempt: 1 }]);
    const batch = schedule(input({ jobs: [job({ type: "batch" })], nodes: threeNodes, tasks: [task("t", { state: "complete" })] }));
    expect(batch.replace).toEqual([]);
    expect(batch.place).toEqual([]);
    expect(batch.ignore).toEqual(["t"]);
  });

  it("places a row that was never placed, without counting an attempt", () => {
    const plan = schedule(input({ jobs: [job()], nodes: threeNodes, tasks: [task("t", { state: "pending", nodeId: null, attempt: 2 })] }));
    expect(plan.replace).toMatchObject([{ taskId: "t", reason: "pending", attempt: 2 }]);
    expect(plan.place).toEqual([]);
  });
});

describe("reschedule policy", () => {
  const policy = { attempts: 4, intervalMs: 3_600_000, delayMs: 2_000, maxDelayMs: 10_000 };
  // A copy that failed at failedAt, its slot replaced `attempt` times since `since`.
  const failedRow = (attempt: number, failedAt: number, since: number | null = attempt === 0 ? null : NOW - 60_000): TaskView =>
    task("t", { state: "failed", attempt, attemptSince: since, lostAt: failedAt, leaseExpiresAt: failedAt });
  const run = (attempt: number, failedAt: number, since?: number | null, reschedule = policy) =>
    schedule(input({ jobs: [job({ reschedule })], nodes: threeNodes, tasks: [failedRow(attempt, failedAt, since)] }));

  it("doubles the wait for each replacement, up to the maximum, and never waits less than a second", () => {
    const j = job({ reschedule: policy });
    expect([1, 2, 3, 4, 5, 40, 5000].map((k) => rescheduleDelay(j, k))).toEqual([2_000, 4_000, 8_000, 10_000, 10_000, 10_000, 10_000]);
    // A delay of 0 (the old default) would re-place a copy that cannot start as fast as it fails.
    const none = job({ reschedule: { attempts: 0, intervalMs: 3_600_000, delayMs: 0, maxDelayMs: 10_000 } });
    expect([1, 2, 3].map((k) => rescheduleDelay(none, k))).toEqual([MIN_RESCHEDULE_DELAY_MS, 2 * MIN_RESCHEDULE_DELAY_MS, 4 * MIN_RESCHEDULE_DELAY_MS]);
    expect(rescheduleDelay(job({ reschedule: { ...policy, delayMs: 0, maxDelayMs: 0 } }), 3)).toBe(MIN_RESCHEDULE_DELAY_MS);
  });

  it("delays the first replacement of a failed copy by delayMs after the failure, then replaces it and opens the window", () => {
    expect(run(0, NOW - 1_999).delayed).toEqual([{ taskId: "t", until: NOW + 1 }]);
    expect(run(0, NOW - 1_999).replace).toEqual([]);
    expect(run(0, NOW - 2_000).replace).toMatchObject([{ taskId: "t", attempt: 1, attemptSince: NOW }]);
  });

  it("backs off: the third replacement waits 8s, the fifth is capped at 10s, and the window keeps its start", () => {
    expect(run(2, NOW - 7_999).delayed).toEqual([{ taskId: "t", until: NOW + 1 }]);
    expect(run(2, NOW - 8_000).replace).toMatchObject([{ attempt: 3, attemptSince: NOW - 60_000 }]);
    expect(run(3, NOW - 9_999).delayed).toEqual([{ taskId: "t", until: NOW + 1 }]);
  });

  it("gives up when the attempts within the interval are spent, and says so", () => {
    const plan = run(4, NOW - 60_000);
    expect(plan.replace).toEqual([]);
    expect(plan.delayed).toEqual([]);
    expect(plan.failed).toEqual([{ taskId: "t", reason: "reschedule attempts spent: slot 0 was replaced 4 times within 1h (last failed)" }]);
    expect(replacementsSpent(policy, failedRow(4, NOW - 60_000), NOW)).toBe(true);
    expect(run(3, NOW - 60_000).replace).toMatchObject([{ attempt: 4 }]);
    expect(replacementsSpent(policy, failedRow(3, NOW - 60_000), NOW)).toBe(false);
  });

  it("stays given up: a failure inside the window is judged at its own time, however late the evaluation", () => {
    const late = schedule(input({ now: NOW + 10 * 3_600_000, jobs: [job({ reschedule: policy })], nodes: threeNodes, tasks: [failedRow(4, NOW - 60_000)] }));
    expect(late.failed).toHaveLength(1);
    expect(late.replace).toEqual([]);
  });

  it("counts afresh when the failure comes after the window: a slot that failed a few times last week is not given up on", () => {
    const since = NOW - 2 * 3_600_000;
    const plan = run(4, NOW - 10_000, since);
    expect(plan.failed).toEqual([]);
    expect(plan.replace).toMatchObject([{ attempt: 1, attemptSince: NOW }]);
    // A row written before windows were kept has none: it starts afresh too.
    expect(run(9, NOW - 10_000, null).replace).toMatchObject([{ attempt: 1, attemptSince: NOW }]);
  });

  it("never gives up when attempts is 0", () => {
    const plan = run(999, NOW - 600_000, NOW - 1_000, { ...policy, attempts: 0 });
    expect(plan.replace).toMatchObject([{ attempt: 1000 }]);
  });

  it("replaces a lost copy once its lease has lapsed, without backoff, and without counting it", () => {
    const lost = task("t", { state: "lost", attempt: 4, attemptSince: NOW - 60_000, lostAt: NOW - 1, leaseExpiresAt: NOW - 1 });
    const plan = schedule(input({ jobs: [job({ reschedule: policy })], nodes: threeNodes, tasks: [lost] }));
    expect(plan.failed).toEqual([]);
    expect(plan.delayed).toEqual([]);
    expect(plan.replace).toMatchObject([{ taskId: "t", reason: "lost", attempt: 4, attemptSince: NOW - 60_000 }]);
    // Lost in this evaluation (its lease lapsed just now): the same.
    const expiring = schedule(input({ jobs: [job({ reschedule: policy })], nodes: threeNodes, tasks: [task("t", { leaseExpiresAt: NOW - 400 })] }));
    expect(expiring.lost).toEqual([{ taskId: "t", nodeId: "n1", at: NOW - 400 }]);
    expect(expiring.replace).toMatchObject([{ taskId: "t", reason: "lost", attempt: 0 }]);
  });
});

describe("rolling update", () => {
  const v1 = [0, 1, 2, 3, 4].map((slot) => task(`v1-${slot}`, { slot, nodeId: `n${(slot % 3) + 1}` }));
  const v2 = job({ version: 2, replicas: 5, update: { parallelism: 2 } });
  const v2StartFirst = job({ version: 2, replicas: 5, update: { parallelism: 2, order: "start-first" } });

  it("stop-first: stops at most `parallelism` old copies and places nothing for their slots until they are gone", () => {
    const plan = schedule(input({ jobs: [v2], nodes: threeNodes, tasks: v1 }));
    expect(plan.place).toEqual([]);
    expect(plan.stop).toEqual([
      { taskId: "v1-0", reason: "update" },
      { taskId: "v1-1", reason: "update" },
    ]);
    // Stopping (desired stop, still running): the slots wait, and no other slot starts meanwhile.
    let state = applyPlan(input({ jobs: [v2], nodes: threeNodes, tasks: v1 }), plan);
    expect(isQuiet(schedule({ ...state, evalId: "again" }))).toBe(true);
    // One reported stopped: its slot is placed; the other still runs under its lease, so its slot waits.
    state = { ...state, tasks: state.tasks.map((t) => (t.id === "v1-0" ? { ...t, state: "stopped" as const } : t)) };
    const next = schedule({ ...state, evalId: "eval-3" });
    expect(next.place.map((p) => [p.slot, p.version])).toEqual([[0, 2]]);
    expect(next.stop).toEqual([]);
    // The other's lease lapses (its holder is cut off): it is lost, and its slot is placed too.
    const lapsed = { ...state, tasks: state.tasks.map((t) => (t.id === "v1-1" ? { ...t, leaseExpiresAt: NOW - 1 } : t)) };
    expect(schedule({ ...lapsed, evalId: "eval-4" }).place.map((p) => p.slot).sort()).toEqual([0, 1]);
  });

  it("counts a new copy in flight until it has run healthy for minHealthyMs, and says when to look again", () => {
    const rolling = job({ version: 2, replicas: 2, update: { parallelism: 1, minHealthyMs: 5_000 } });
    const tasks = [task("new", { version: 2, slot: 0, healthySince: NOW - 2_000 }), task("old", { slot: 1, nodeId: "n2" })];
    const early = schedule(input({ jobs: [rolling], nodes: threeNodes, tasks }));
    expect(early.stop).toEqual([]);
    expect(early.wake).toEqual([{ jobId: "web", at: NOW + 3_000 }]);
    const later = schedule(input({ jobs: [rolling], nodes: threeNodes, tasks, now: NOW + 3_000 }));
    expect(later.stop).toEqual([{ taskId: "old", reason: "update" }]);
    expect(later.wake).toEqual([]);
  });

  it("start-first: replaces at most `parallelism` slots at a time, stopping the old version as the new one lands", () => {
    const plan = schedule(input({ jobs: [v2StartFirst], nodes: threeNodes, tasks: v1 }));
    expect(plan.place.map((p) => [p.slot, p.version])).toEqual([
      [0, 2],
      [1, 2],
    ]);
    expect(plan.stop).toEqual([
      { taskId: "v1-0", reason: "update" },
      { taskId: "v1-1", reason: "update" },
    ]);
  });

  it("waits while new-version tasks are in flight, and moves on once they run healthy", () => {
    let state = input({ jobs: [v2StartFirst], nodes: threeNodes, tasks: v1 });
    state = applyPlan(state, schedule(state));
    expect(isQuiet(schedule({ ...state, evalId: "again" }))).toBe(true);

    // One new task runs but is unhealthy: still in flight. The other is healthy: one slot of room.
    state = {
      ...state,
      tasks: state.tasks.map((t) =>
        t.version !== 2 ? t : { ...t, state: "running", leaseExpiresAt: NOW + 30_000, healthy: t.slot === 0 ? true : false },
      ),
    };
    const next = schedule({ ...state, evalId: "eval-3" });
    expect(next.place.map((p) => p.slot)).toEqual([2]);
    expect(next.stop).toEqual([{ taskId: "v1-2", reason: "update" }]);
  });

  it("counts fresh placements against the budget", () => {
    const grown = job({ version: 2, replicas: 6, update: { parallelism: 2, order: "start-first" } });
    const plan = schedule(input({ jobs: [grown], nodes: threeNodes, tasks: v1 }));
    expect(plan.place.map((p) => p.slot)).toEqual([5, 0]);
    const stopFirst = schedule(input({ jobs: [job({ version: 2, replicas: 6, update: { parallelism: 2 } })], nodes: threeNodes, tasks: v1 }));
    expect(stopFirst.place.map((p) => p.slot)).toEqual([5]);
    expect(stopFirst.stop).toEqual([{ taskId: "v1-0", reason: "update" }]);
  });

  it("stop-first: a slot whose old copy was asked to stop (scale-down, job stop) is not placed while that copy may run", () => {
    const stopping = task("old", { desired: "stop", leaseExpiresAt: NOW + 2_000 });
    const plan = schedule(input({ jobs: [job()], nodes: threeNodes, tasks: [stopping] }));
    expect(plan.place).toEqual([]);
    const gone = schedule(input({ jobs: [job()], nodes: threeNodes, tasks: [{ ...stopping, state: "stopped" }] }));
    expect(gone.place).toHaveLength(1);
    const lapsed = schedule(input({ jobs: [job()], nodes: threeNodes, tasks: [{ ...stopping, leaseExpiresAt: NOW - 1 }] }));
    expect(lapsed.place).toHaveLength(1);
    const overlap = schedule(input({ jobs: [job({ update: { parallelism: 1, order: "start-first" } })], nodes: threeNodes, tasks: [stopping] }));
    expect(overlap.place).toHaveLength(1);
  });

  it("does not replace a lost row whose loss lies ahead (its node was taken over) before then", () => {
    const plan = schedule(input({ jobs: [job()], nodes: threeNodes, tasks: [task("t", { state: "lost", lostAt: NOW + 4_000, leaseExpiresAt: NOW + 4_000 })] }));
    expect(plan.replace).toEqual([]);
    expect(plan.delayed).toEqual([{ taskId: "t", until: NOW + 4_000 }]);
  });

  it("keeps the old version running when the new one fits nowhere", () => {
    const big = job({ version: 2, replicas: 1, resources: { cpu: 64_000, memory: 256 } });
    const plan = schedule(input({ jobs: [big], nodes: threeNodes, tasks: [task("old")] }));
    expect(plan.stop).toEqual([]);
    expect(plan.ignore).toEqual(["old"]);
    expect(plan.unplaced[0]?.reason).toMatch(/^version 2 not placed, old version kept: no node with 64000m cpu/);
  });

  it("lets the new version take the capacity its old version gives back", () => {
    const one = node("n1", { capacity: { cpu: 500, memory: 256 } });
    const placed = schedule(input({ jobs: [job({ version: 2 })], nodes: [one], tasks: [task("old", { state: "placed" })] }));
    expect(placed.place).toMatchObject([{ slot: 0, version: 2, nodeId: "n1" }]);
    expect(placed.stop).toEqual([{ taskId: "old", reason: "update" }]);
    // A running old version is stopped first; its node takes the new version once the agent reports it stopped.
    const running = schedule(input({ jobs: [job({ version: 2 })], nodes: [one], tasks: [task("old")] }));
    expect(running.stop).toEqual([{ taskId: "old", reason: "update" }]);
    expect(running.place).toEqual([]);
    const later = schedule(input({ jobs: [job({ version: 2 })], nodes: [one], tasks: [task("old", { state: "stopped", desired: "stop" })] }));
    expect(later.place).toMatchObject([{ slot: 0, version: 2, nodeId: "n1" }]);
  });

  it("retries earlier failures once an update gives capacity back, so the plan is final", () => {
    // "api" sorts first and finds n1 full; "web" then replaces its 1000m v1 task with a 500m v2 on n1.
    const one = node("n1", { capacity: { cpu: 1000, memory: 1024 } });
    const api = job({ id: "api", name: "api", resources: { cpu: 500, memory: 256 } });
    const web = job({ version: 2, resources: { cpu: 500, memory: 256 } });
    const plan = schedule(input({ jobs: [web, api], nodes: [one], tasks: [task("old", { state: "placed", resources: { cpu: 1000, memory: 256 } })] }));
    expect(plan.place.map((p) => p.jobId).sort()).toEqual(["api", "web"]);
    expect(plan.unplaced).toEqual([]);
  });

  it("retires a finished old-version row in the plan that places its slot's new version", () => {
    // The store allows one desired-run row per slot: the old row must give up the slot first.
    const plan = schedule(
      input({ jobs: [job({ version: 2 })], nodes: threeNodes, tasks: [task("old", { state: "lost", lostAt: NOW - 1, leaseExpiresAt: NOW - 1 })] }),
    );
    expect(plan.stop).toEqual([{ taskId: "old", reason: "update" }]);
    expect(plan.place).toMatchObject([{ slot: 0, version: 2 }]);
    expect(plan.replace).toEqual([]);
  });

  it("stops old versions of a slot that already has its new version", () => {
    const plan = schedule(
      input({ jobs: [job({ version: 2 })], nodes: threeNodes, tasks: [task("old"), task("new", { version: 2, nodeId: "n2", state: "placed" })] }),
    );
    expect(plan.stop).toEqual([{ taskId: "old", reason: "update" }]);
    expect(plan.place).toEqual([]);
  });
});

describe("drain", () => {
  const draining = [node("n1", { draining: true }), node("n2"), node("n3")];
  const onN1 = [0, 1, 2].map((slot) => task(`t${slot}`, { slot }));

  it("stop-first: stops at most `parallelism` running tasks per job on a draining node, and moves none in place", () => {
    const plan = schedule(input({ jobs: [job({ replicas: 3, update: { parallelism: 2 } })], nodes: draining, tasks: onN1 }));
    expect(plan.migrate).toEqual([]);
    expect(plan.stop).toEqual([
      { taskId: "t0", reason: "drain" },
      { taskId: "t1", reason: "drain" },
    ]);
    expect(plan.ignore).toEqual(["t2"]);
  });

  it("start-first: migrates at most `parallelism` running tasks per job off a draining node", () => {
    const plan = schedule(input({ jobs: [job({ replicas: 3, update: { parallelism: 2, order: "start-first" } })], nodes: draining, tasks: onN1 }));
    expect(plan.migrate.map((m) => m.taskId)).toEqual(["t0", "t1"]);
    expect(plan.migrate.every((m) => m.reason === "drain" && m.nodeId !== "n1" && m.attempt === 0)).toBe(true);
    expect(plan.ignore).toEqual(["t2"]);
  });

  it("moves tasks that are not running yet without waiting for the budget", () => {
    const placed = onN1.map((t) => ({ ...t, state: "placed" as const, leaseExpiresAt: null }));
    const plan = schedule(input({ jobs: [job({ replicas: 3 })], nodes: draining, tasks: placed }));
    expect(plan.migrate).toHaveLength(3);
  });

  it("past the deadline moves everything on the node at once, while an update of a slot elsewhere keeps the budget", () => {
    const nodes = [node("n1", { draining: true, drainForced: true }), node("n2"), node("n3")];
    // Version 2 is rolling out, parallelism 1: slots 0-2 (version 1) sit on the forced node, slot 3 on n2.
    const tasks = [...[0, 1, 2].map((slot) => task(`t${slot}`, { slot, version: 1 })), task("t3", { slot: 3, version: 1, nodeId: "n2" })];
    const plan = schedule(input({ jobs: [job({ replicas: 4, version: 2, update: { parallelism: 1 } })], nodes, tasks }));
    expect(plan.stop.map((s) => s.taskId).sort()).toEqual(["t0", "t1", "t2"]);
    expect(plan.ignore).toEqual(["t3"]);
    // Without the deadline it is the budget again: one at a time.
    const before = schedule(input({ jobs: [job({ replicas: 4, version: 2, update: { parallelism: 1 } })], nodes: [node("n1", { draining: true }), node("n2"), node("n3")], tasks }));
    expect(before.stop.map((s) => s.taskId)).toEqual(["t0"]);
  });

  it("does not migrate when no other node fits, and says why", () => {
    const nodes = [node("n1", { draining: true }), node("n2", { capacity: { cpu: 100, memory: 8192 } })];
    const plan = schedule(input({ jobs: [job()], nodes, tasks: [task("t")] }));
    expect(plan.migrate).toEqual([]);
    expect(plan.ignore).toEqual(["t"]);
    expect(plan.unplaced).toHaveLength(1);
    expect(plan.unplaced[0]).toMatchObject({ jobId: "web", slot: 0, taskId: "t" });
    expect(plan.unplaced[0]?.reason).toBe(
      "not migrated off draining node n1: no node with 500m cpu and 256MiB memory: 1 node short on cpu, 1 node draining",
    );
  });
});

describe("every task is accounted for once", () => {
  it("puts each input task in exactly one of replace, migrate, stop, delayed, failed, ignore", () => {
    const tasks = [
      task("keep"),
      task("extra", { slot: 5 }),
      task("lost", { slot: 1, leaseExpiresAt: NOW - 1 }),
      task("wait", { slot: 2, state: "failed", lostAt: NOW }),
      task("other-job", { jobId: "elsewhere" }),
    ];
    const plan = schedule(
      input({ jobs: [job({ replicas: 3, reschedule: { attempts: 0, intervalMs: 3_600_000, delayMs: 100, maxDelayMs: 100 } })], nodes: threeNodes, tasks }),
    );
    const seen = [
      ...plan.replace.map((r) => r.taskId),
      ...plan.migrate.map((r) => r.taskId),
      ...plan.stop.map((s) => s.taskId),
      ...plan.delayed.map((d) => d.taskId),
      ...plan.failed.map((f) => f.taskId),
      ...plan.ignore,
    ].sort();
    expect(seen).toEqual(["extra", "keep", "lost", "other-job", "wait"]);
    expect(plan.stop).toEqual([{ taskId: "extra", reason: "scale-down" }]);
    // A lost copy is replaced once its lease lapsed; a failed one waits out its backoff (at least 1 s).
    expect(plan.replace.map((r) => r.taskId)).toEqual(["lost"]);
    expect(plan.delayed).toEqual([{ taskId: "wait", until: NOW + MIN_RESCHEDULE_DELAY_MS }]);
  });

  it("never marks or stops tasks of jobs outside the evaluation, and stops counting them once lost", () => {
    const nodes = [node("n1", { status: "down" }), node("n2", { capacity: { cpu: 500, memory: 256 } })];
    const tasks = [task("theirs-down", { jobId: "other" }), task("theirs-expired", { jobId: "other", nodeId: "n2", leaseExpiresAt: NOW - 1 })];
    const plan = schedule(input({ jobs: [job()], nodes, tasks }));
    expect(plan.lost).toEqual([]);
    expect(plan.stop).toEqual([]);
    expect(plan.ignore).toEqual(["theirs-down", "theirs-expired"]);
    expect(plan.place).toMatchObject([{ nodeId: "n2" }]);
  });

  it("retires rows of slots beyond replicas even when they have finished", () => {
    const tasks = [task("gone", { slot: 3, state: "lost", lostAt: NOW }), task("done", { slot: 4, state: "complete" })];
    const plan = schedule(input({ jobs: [job({ replicas: 1 })], nodes: threeNodes, tasks }));
    expect(plan.stop).toEqual([
      { taskId: "gone", reason: "scale-down" },
      { taskId: "done", reason: "scale-down" },
    ]);
  });

  it("counts tasks of jobs outside the evaluation as usage, and leaves them alone", () => {
    const one = node("n1", { capacity: { cpu: 600, memory: 1024 } });
    const plan = schedule(input({ jobs: [job()], nodes: [one], tasks: [task("theirs", { jobId: "other", slot: 9 })] }));
    expect(plan.stop).toEqual([]);
    expect(plan.place).toEqual([]);
    expect(plan.unplaced[0]?.metrics.exhausted).toEqual({ cpu: 1 });
  });
});

describe("a deployment's gate", () => {
  // Three slots at version 1 on n1 and n2; the job is at version 2.
  const v1 = () => [task("a", { slot: 0, nodeId: "n1" }), task("b", { slot: 1, nodeId: "n2" }), task("c", { slot: 2, nodeId: "n1" })];
  const v2 = (rollout: NonNullable<Parameters<typeof job>[0]>["rollout"], replicas = 3) => job({ version: 2, replicas, update: { parallelism: 3 }, ...(rollout ? { rollout } : {}) });
  const nodes = [node("n1", { region: "eu" }), node("n2", { region: "us" })];

  it("holds: no old-version slot is updated, but a missing slot is still placed", () => {
    const plan = schedule(input({ jobs: [v2({ hold: true, canaries: 0 }, 4)], nodes, tasks: v1() }));
    expect(plan.stop).toEqual([]);
    expect(plan.place.map((p) => [p.slot, p.version])).toEqual([[3, 2]]);
  });

  it("canaries: slots -1 … -N get the new version beside every old copy", () => {
    const plan = schedule(input({ jobs: [v2({ hold: true, canaries: 2 })], nodes, tasks: v1() }));
    expect(plan.stop).toEqual([]);
    expect(plan.place.map((p) => p.slot).sort((x, y) => x - y)).toEqual([-2, -1]);
  });

  it("a canary goes to the wave's region, and one elsewhere is retired", () => {
    const placed = schedule(input({ jobs: [v2({ hold: true, canaries: 1, canaryRegion: "us" })], nodes, tasks: v1() }));
    expect(placed.place).toMatchObject([{ slot: -1, nodeId: "n2" }]);
    const elsewhere = task("k", { slot: -1, version: 2, nodeId: "n1" });
    const retired = schedule(input({ jobs: [v2({ hold: true, canaries: 1, canaryRegion: "us" })], nodes, tasks: [...v1(), elsewhere] }));
    expect(retired.stop).toEqual([{ taskId: "k", reason: "canary" }]);
    expect(retired.place).toEqual([]);
  });

  it("retires canary rows once the gate keeps none, and rows in other negative slots always", () => {
    const canary = task("k", { slot: -1, version: 2, nodeId: "n1" });
    const stray = task("s", { slot: -3, version: 2, nodeId: "n1" });
    const plan = schedule(input({ jobs: [v2({ hold: true, canaries: 0 })], nodes, tasks: [...v1(), canary, stray] }));
    expect(plan.stop.map((s) => [s.taskId, s.reason]).sort()).toEqual([
      ["k", "canary"],
      ["s", "canary"],
    ]);
  });

  it("canaries neither spend nor wait for the rollout's budget", () => {
    const waiting = task("k", { slot: -1, version: 2, nodeId: "n1", state: "placed", healthy: null });
    const plan = schedule(input({ jobs: [job({ version: 2, replicas: 3, update: { parallelism: 1 }, rollout: { hold: false, canaries: 1 } })], nodes, tasks: [...v1(), waiting] }));
    expect(plan.stop).toHaveLength(1);
  });

  it("waves: only slots whose old copies are in the allowed regions are updated", () => {
    const plan = schedule(input({ jobs: [v2({ hold: false, canaries: 0, regions: ["us"] })], nodes, tasks: v1() }));
    expect(plan.stop).toEqual([{ taskId: "b", reason: "update" }]);
  });

  it("an old copy on a host that is not ready is left alone: its stop would not be heard", () => {
    const quiet = [node("n1", { region: "eu" }), node("n2", { region: "us", status: "disconnected" })];
    const plan = schedule(input({ jobs: [job({ version: 2, replicas: 3, update: { parallelism: 3 } })], nodes: quiet, tasks: v1() }));
    expect(plan.stop.map((s) => s.taskId).sort()).toEqual(["a", "c"]);
  });

  it("never holds a drain: an old copy on a draining node is still moved", () => {
    const draining = [node("n1", { region: "eu", draining: true, eligible: false }), node("n2", { region: "us" })];
    const plan = schedule(input({ jobs: [v2({ hold: true, canaries: 0 })], nodes: draining, tasks: v1() }));
    expect(plan.stop.map((s) => s.taskId).sort()).toEqual(["a", "c"]);
  });
});
