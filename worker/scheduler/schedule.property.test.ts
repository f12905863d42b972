// Property tests: random fleets, jobs and task histories, held to the scheduler's invariants.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { applyPlan } from "./apply-plan";
import { schedule } from "./schedule";
import { NOW, isQuiet, taskBuckets } from "./test-support";
import type { Constraint, JobView, NodeView, Plan, SchedulerInput, TaskState, TaskView } from "./types";

// Small by default so the suite stays quick; raise SCHEDULER_PROPERTY_RUNS for a longer hunt.
const RUNS = { numRuns: Number(process.env.SCHEDULER_PROPERTY_RUNS ?? 250) };

// ---- generators -------------------------------------------------------------------------------------------

const REGIONS = ["eu", "us", "ap"] as const;
const STATES: TaskState[] = ["pending", "placed", "leased", "running", "complete", "failed", "lost", "stopped"];

const CONSTRAINTS: Constraint[] = [
  { attribute: "region", operator: "=", value: "eu" },
  { attribute: "region", operator: "!=", value: "ap" },
  { attribute: "region", operator: "in", value: ["eu", "us"] },
  { attribute: "label.disk", operator: "=", value: "ssd" },
  { attribute: "label.disk", operator: "not_in", value: ["hdd"] },
  { attribute: "label.gpu", operator: "exists" },
  { attribute: "label.gpu", operator: "not_exists" },
  // n1, not n0: n0 is always the first node of its class, so this also catches a class verdict reused for names.
  { attribute: "name", operator: "!=", value: "n1" },
];

const nodesArb = fc
  .array(
    fc.record({
      region: fc.constantFrom(...REGIONS),
      disk: fc.constantFrom("ssd", "hdd"),
      gpu: fc.boolean(),
      cpu: fc.integer({ min: 1, max: 16 }).map((n) => n * 500),
      memory: fc.integer({ min: 1, max: 16 }).map((n) => n * 512),
      status: fc.constantFrom<NodeView["status"]>("ready", "ready", "ready", "ready", "down", "disconnected", "initializing"),
      eligible: fc.integer({ min: 0, max: 7 }).map((n) => n !== 0),
      draining: fc.integer({ min: 0, max: 5 }).map((n) => n === 0),
    }),
    { minLength: 0, maxLength: 10 },
  )
  .map((rows) =>
    rows.map(
      (r, i): NodeView => ({
        id: `n${i}`,
        name: `n${i}`,
        region: r.region,
        labels: r.gpu ? { disk: r.disk, gpu: "yes" } : { disk: r.disk },
        capacity: { cpu: r.cpu, memory: r.memory },
        status: r.status,
        eligible: r.eligible,
        draining: r.draining,
      }),
    ),
  );

const jobsArb = fc
  .array(
    fc.record({
      version: fc.integer({ min: 1, max: 3 }),
      type: fc.constantFrom<JobView["type"]>("service", "batch"),
      stopped: fc.integer({ min: 0, max: 9 }).map((n) => n === 0),
      replicas: fc.integer({ min: 0, max: 6 }),
      cpu: fc.integer({ min: 1, max: 8 }).map((n) => n * 250),
      memory: fc.integer({ min: 1, max: 8 }).map((n) => n * 256),
      port: fc.option(fc.constantFrom(80, 443, 8080), { nil: undefined }),
      constraints: fc.subarray(CONSTRAINTS, { maxLength: 2 }),
      spread: fc.option(fc.constantFrom("region", "label.disk"), { nil: undefined }),
      attempts: fc.integer({ min: 0, max: 3 }),
      delayMs: fc.constantFrom(0, 1_000, 5_000),
      maxDelayMs: fc.constantFrom(0, 2_000, 60_000),
      parallelism: fc.integer({ min: 1, max: 3 }),
      startFirst: fc.integer({ min: 0, max: 3 }).map((n) => n === 0),
    }),
    { minLength: 1, maxLength: 4 },
  )
  .map((rows) =>
    rows.map(
      (r, i): JobView => ({
        id: `j${i}`,
        namespace: "default",
        name: `j${i}`,
        version: r.version,
        type: r.type,
        status: r.stopped ? "stopped" : "running",
        replicas: r.replicas,
        resources: { cpu: r.cpu, memory: r.memory },
        ports: r.port === undefined ? [] : [{ name: "p", container: 80, host: r.port }],
        constraints: r.constraints,
        ...(r.spread === undefined ? {} : { spread: { attribute: r.spread } }),
        reschedule: { attempts: r.attempts, intervalMs: 3_600_000, delayMs: r.delayMs, maxDelayMs: r.maxDelayMs },
        update: { parallelism: r.parallelism, order: r.startFirst ? "start-first" : "stop-first" },
      }),
    ),
  );

/** A task history: rows of any state, some for old versions or extra slots, some on nodes that are gone. */
function tasksArb(jobs: JobView[], nodes: NodeView[]): fc.Arbitrary<TaskView[]> {
  const row = fc.record({
    job: fc.integer({ min: 0, max: jobs.length }), // jobs.length: a job outside the evaluation
    slot: fc.integer({ min: 0, max: 7 }),
    versionDelta: fc.constantFrom(0, 0, 0, -1, 1),
    state: fc.constantFrom(...STATES),
    desired: fc.constantFrom<TaskView["desired"]>("run", "run", "run", "stop"),
    node: fc.integer({ min: -1, max: nodes.length }), // -1: none, nodes.length: a node that is gone
    lease: fc.option(fc.integer({ min: -10_000, max: 10_000 }), { nil: null }),
    attempt: fc.integer({ min: 0, max: 4 }),
    sinceAgo: fc.option(fc.integer({ min: 0, max: 7_200_000 }), { nil: null }),
    lostAgo: fc.option(fc.integer({ min: 0, max: 20_000 }), { nil: null }),
    healthy: fc.option(fc.boolean(), { nil: null }),
    cpu: fc.integer({ min: 1, max: 8 }).map((n) => n * 250),
    memory: fc.integer({ min: 1, max: 8 }).map((n) => n * 256),
  });
  return fc.array(row, { maxLength: 16 }).map((rows) =>
    rows.map((r, i): TaskView => {
      const job = jobs[r.job];
      const version = (job?.version ?? 1) + r.versionDelta;
      const current = job !== undefined && r.versionDelta === 0;
      const state = r.state;
      return {
        id: `t${i}`,
        jobId: job?.id ?? "outside",
        slot: r.slot,
        version,
        nodeId: r.node < 0 || state === "pending" ? null : r.node === nodes.length ? "gone" : `n${r.node}`,
        state,
        desired: r.desired,
        epoch: 1,
        leaseExpiresAt: state === "placed" || state === "pending" ? null : r.lease === null ? null : NOW + r.lease,
        attempt: r.attempt,
        attemptSince: r.sinceAgo === null ? null : NOW - r.sinceAgo,
        lostAt: r.lostAgo === null ? null : NOW - r.lostAgo,
        healthy: r.healthy,
        // A row of the current version was created from this version of the job.
        resources: current ? { ...job.resources } : { cpu: r.cpu, memory: r.memory },
        hostPorts: current ? job.ports.flatMap((p) => (p.host === undefined ? [] : [p.host])) : [],
      };
    }),
  );
}

const inputArb: fc.Arbitrary<SchedulerInput> = fc
  .tuple(nodesArb, jobsArb, fc.string({ minLength: 1, maxLength: 8 }))
  .chain(([nodes, jobs, evalId]) =>
    tasksArb(jobs, nodes).map((tasks): SchedulerInput => ({ evalId, now: NOW, jobs, nodes, tasks })),
  );

// ---- independent checks (not the scheduler's own helpers) ------------------------------------------------

const HOLDING: ReadonlySet<TaskState> = new Set(["placed", "leased", "running"]);

/** Holds its node's resources: placed, or leased/running on a lease that has not run out. */
function holds(t: TaskView, now: number): boolean {
  return HOLDING.has(t.state) && (t.state === "placed" || t.leaseExpiresAt === null || t.leaseExpiresAt >= now);
}

function attributeOf(node: NodeView, attribute: string): string | undefined {
  if (attribute === "region") return node.region;
  if (attribute === "name") return node.name;
  return Object.entries(node.labels).find(([k]) => `label.${k}` === attribute)?.[1];
}

function satisfies(node: NodeView, c: Constraint): boolean {
  const v = attributeOf(node, c.attribute);
  const list = c.value === undefined ? [] : ([] as string[]).concat(c.value);
  if (c.operator === "exists") return v !== undefined;
  if (c.operator === "not_exists") return v === undefined;
  const member = v !== undefined && list.includes(v);
  return c.operator === "=" || c.operator === "in" ? member : !member;
}

/** Where the plan puts something: (job, node, task row or undefined for a new row). */
function arrivals(plan: Plan): { jobId: string; nodeId: string; taskId?: string }[] {
  return [
    ...plan.place.map((p) => ({ jobId: p.jobId, nodeId: p.nodeId })),
    ...plan.replace.map((r) => ({ jobId: r.jobId, nodeId: r.nodeId, taskId: r.taskId })),
    ...plan.migrate.map((r) => ({ jobId: r.jobId, nodeId: r.nodeId, taskId: r.taskId })),
  ];
}

// ---- properties -------------------------------------------------------------------------------------------

describe("scheduler properties", () => {
  it("never over-commits a node it places on: cpu, memory and static ports, existing usage included", () => {
    fc.assert(
      fc.property(inputArb, (input) => {
        const plan = schedule(input);
        const after = applyPlan(input, plan);
        const touched = new Set(arrivals(plan).map((a) => a.nodeId));
        for (const nodeId of touched) {
          const node = input.nodes.find((n) => n.id === nodeId);
          expect(node).toBeDefined();
          const live = after.tasks.filter((t) => t.nodeId === nodeId && holds(t, input.now));
          const cpu = live.reduce((s, t) => s + t.resources.cpu, 0);
          const memory = live.reduce((s, t) => s + t.resources.memory, 0);
          expect(cpu).toBeLessThanOrEqual(node?.capacity.cpu ?? 0);
          expect(memory).toBeLessThanOrEqual(node?.capacity.memory ?? 0);
        }
        // A row that arrives on a node holds no port that any other live row there holds.
        const newIds = new Set(after.tasks.slice(input.tasks.length).map((t) => t.id));
        const moved = new Set([...plan.replace, ...plan.migrate].map((r) => r.taskId));
        for (const t of after.tasks) {
          if (!(newIds.has(t.id) || moved.has(t.id)) || t.hostPorts.length === 0) continue;
          const others = after.tasks.filter((o) => o.id !== t.id && o.nodeId === t.nodeId && holds(o, input.now));
          for (const p of t.hostPorts) expect(others.some((o) => o.hostPorts.includes(p))).toBe(false);
        }
      }),
      RUNS,
    );
  });

  it("stop-first: never gives a slot a new copy while another copy of it may run", () => {
    fc.assert(
      fc.property(inputArb, (input) => {
        const plan = schedule(input);
        const after = applyPlan(input, plan);
        const lost = new Set(plan.lost.map((l) => l.taskId));
        const mayRun = (t: TaskView) =>
          ((t.state === "leased" || t.state === "running") && !lost.has(t.id) && (t.leaseExpiresAt === null || t.leaseExpiresAt >= input.now)) ||
          (t.state === "lost" && t.lostAt !== null && t.lostAt > input.now);
        const newIds = new Set(after.tasks.slice(input.tasks.length).map((t) => t.id));
        const moved = new Set([...plan.replace, ...plan.migrate].map((r) => r.taskId));
        for (const job of input.jobs) {
          if (job.update.order === "start-first") continue;
          for (const t of after.tasks) {
            if (t.jobId !== job.id || !(newIds.has(t.id) || moved.has(t.id))) continue;
            // Every other row of the slot, as it was before the plan (a moved row's own old copy is fenced by
            // the planner's write, which refuses to move a leased or running row).
            const others = input.tasks.filter((o) => o.jobId === job.id && o.slot === t.slot && o.id !== t.id);
            expect(others.filter(mayRun).map((o) => o.id)).toEqual([]);
            const before = input.tasks.find((o) => o.id === t.id);
            if (before) expect(before.state === "leased" || before.state === "running" ? lost.has(before.id) : true).toBe(true);
          }
        }
      }),
      RUNS,
    );
  });

  it("never places on a node that is not ready, eligible and undrained, or that breaks a constraint", () => {
    fc.assert(
      fc.property(inputArb, (input) => {
        const plan = schedule(input);
        for (const a of arrivals(plan)) {
          const node = input.nodes.find((n) => n.id === a.nodeId);
          const job = input.jobs.find((j) => j.id === a.jobId);
          expect(node?.status).toBe("ready");
          expect(node?.eligible).toBe(true);
          expect(node?.draining).toBe(false);
          for (const c of job?.constraints ?? []) expect(node !== undefined && satisfies(node, c)).toBe(true);
        }
      }),
      RUNS,
    );
  });

  it("spreads replicas so counts per attribute value differ by at most one when capacity allows", () => {
    const spreadInput = fc
      .record({
        regions: fc.array(fc.constantFrom("eu", "us", "ap", "sa"), { minLength: 1, maxLength: 12 }),
        notReady: fc.array(fc.boolean(), { minLength: 12, maxLength: 12 }),
        replicas: fc.integer({ min: 1, max: 14 }),
        constraint: fc.option(fc.constantFrom<Constraint>({ attribute: "region", operator: "!=", value: "ap" }), { nil: undefined }),
        otherLoad: fc.array(fc.integer({ min: 0, max: 11 }), { maxLength: 8 }),
        evalId: fc.string({ maxLength: 6 }),
      })
      .map(({ regions, notReady, replicas, constraint, otherLoad, evalId }): SchedulerInput => {
        const nodes = regions.map(
          (region, i): NodeView => ({
            id: `n${i}`,
            name: `n${i}`,
            region,
            labels: {},
            // Room for every replica on any node: capacity never decides.
            capacity: { cpu: 64_000, memory: 65_536 },
            status: notReady[i] === true ? "down" : "ready",
            eligible: true,
            draining: false,
          }),
        );
        // Another job's tasks make some nodes fuller, which bin-packing alone would favour.
        const tasks = otherLoad.map(
          (n, i): TaskView => ({
            id: `o${i}`,
            jobId: "other",
            slot: i,
            version: 1,
            nodeId: `n${n % nodes.length}`,
            state: "running",
            desired: "run",
            epoch: 1,
            leaseExpiresAt: NOW + 60_000,
            attempt: 0,
            lostAt: null,
            healthy: true,
            resources: { cpu: 4_000, memory: 1_024 }, // at most 8 of them: a node never fills
            hostPorts: [],
          }),
        );
        const job: JobView = {
          id: "spread",
          namespace: "default",
          name: "spread",
          version: 1,
          type: "service",
          status: "running",
          replicas,
          resources: { cpu: 100, memory: 64 },
          ports: [],
          constraints: constraint === undefined ? [] : [constraint],
          spread: { attribute: "region" },
          reschedule: { attempts: 0, intervalMs: 3_600_000, delayMs: 0, maxDelayMs: 0 },
          update: { parallelism: 1 },
        };
        return { evalId, now: NOW, jobs: [job], nodes, tasks };
      });
    fc.assert(
      fc.property(spreadInput, (input) => {
        const plan = schedule(input);
        const job = input.jobs[0] as JobView;
        const eligible = input.nodes.filter((n) => n.status === "ready" && job.constraints.every((c) => satisfies(n, c)));
        const perRegion = new Map(eligible.map((n) => [n.region, 0]));
        for (const p of plan.place) {
          const region = input.nodes.find((n) => n.id === p.nodeId)?.region ?? "?";
          perRegion.set(region, (perRegion.get(region) ?? 0) + 1);
        }
        if (eligible.length === 0) return;
        expect(plan.place).toHaveLength(job.replicas);
        const counts = [...perRegion.values()];
        expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
      }),
      RUNS,
    );
  });

  it("is deterministic for a given input and evalId, and does not modify its input", () => {
    fc.assert(
      fc.property(inputArb, (input) => {
        const before = structuredClone(input);
        const a = schedule(input);
        expect(input).toEqual(before);
        expect(schedule(structuredClone(input))).toEqual(a);
      }),
      RUNS,
    );
  });

  it("puts every task in exactly one of replace, migrate, stop, delayed, failed, ignore", () => {
    fc.assert(
      fc.property(inputArb, (input) => {
        const plan = schedule(input);
        const all = Object.values(taskBuckets(plan)).flat().sort();
        expect(all).toEqual(input.tasks.map((t) => t.id).sort());
        // Lost is a marking on top: only rows that held a node, and each at most once.
        const lost = plan.lost.map((l) => l.taskId);
        expect(new Set(lost).size).toBe(lost.length);
        for (const id of lost) expect(HOLDING.has(input.tasks.find((t) => t.id === id)?.state ?? "pending")).toBe(true);
      }),
      RUNS,
    );
  });

  it("leaves no task of an evaluated job holding a node that is down or gone, or on an expired lease", () => {
    fc.assert(
      fc.property(inputArb, (input) => {
        const after = applyPlan(input, schedule(input));
        const up = new Set(input.nodes.filter((n) => n.status !== "down").map((n) => n.id));
        const known = new Set(input.nodes.map((n) => n.id));
        const evaluated = new Set(input.jobs.map((j) => j.id));
        for (const t of after.tasks) {
          if (!HOLDING.has(t.state) || !evaluated.has(t.jobId)) continue;
          // A leased task on a down node keeps it until its lease lapses (fencing): its holder may still run it.
          const fenced = (t.state === "leased" || t.state === "running") && t.leaseExpiresAt !== null && t.leaseExpiresAt >= input.now;
          expect(t.nodeId !== null && (up.has(t.nodeId) || (fenced && known.has(t.nodeId)))).toBe(true);
          if (t.state !== "placed" && t.leaseExpiresAt !== null) expect(t.leaseExpiresAt).toBeGreaterThanOrEqual(input.now);
        }
      }),
      RUNS,
    );
  });

  it("keeps the store's rule of one desired-run row per slot, and none beyond replicas", () => {
    const perSlot = (tasks: TaskView[]) => {
      const counts = new Map<string, number>();
      for (const t of tasks) if (t.desired === "run") counts.set(`${t.jobId}/${t.slot}`, (counts.get(`${t.jobId}/${t.slot}`) ?? 0) + 1);
      return counts;
    };
    fc.assert(
      fc.property(inputArb, (input) => {
        const after = applyPlan(input, schedule(input));
        const before = perSlot(input.tasks);
        const now = perSlot(after.tasks);
        for (const job of input.jobs) {
          const rows = after.tasks.filter((t) => t.jobId === job.id && t.desired === "run");
          if (job.status === "stopped") {
            expect(rows.filter((t) => HOLDING.has(t.state) || t.state === "pending")).toEqual([]);
            continue;
          }
          expect(rows.filter((t) => t.slot >= job.replicas)).toEqual([]);
          for (const t of rows) {
            const key = `${job.id}/${t.slot}`;
            if ((before.get(key) ?? 0) <= 1) expect(now.get(key)).toBe(1);
          }
          // Whatever the input, a slot's current version has at most one row still wanted.
          const current = rows.filter((t) => t.version === job.version).map((t) => t.slot);
          expect(new Set(current).size).toBe(current.length);
        }
      }),
      RUNS,
    );
  });

  it("is a fixpoint: a plan applied and scheduled again at the same now changes nothing", () => {
    fc.assert(
      fc.property(inputArb, (input) => {
        const first = schedule(input);
        const after = applyPlan(input, first);
        const second = schedule({ ...after, evalId: `${input.evalId}/again` });
        if (!isQuiet(second)) {
          const { place, replace, migrate, stop, lost } = second;
          expect({ place, replace, migrate, stop, lost }).toEqual({ place: [], replace: [], migrate: [], stop: [], lost: [] });
        }
      }),
      RUNS,
    );
  });
});
