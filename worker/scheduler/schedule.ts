// The scheduler's entry point: mark what is lost, count usage once, reconcile every job, then place what the
// reconcilers asked for against one running tally of capacity, and return the plan as named buckets.
//
// Invariants (the property tests hold the scheduler to these):
// - Pure: reads only its input, takes time from `now`; the same input and evalId give the same plan.
// - No node that receives a placement ends the plan over its cpu or memory, or with a static host port held
//   twice. Stops free capacity before any placement; an update frees its old version only for its new one.
// - Stop-first (the default order): an update or a drain stops a slot's running copy and places nothing
//   for that slot in the same plan; see reconcile.ts.
// - Every placement, replacement and migration lands on a node that is ready, eligible, not draining, and
//   satisfies the job's constraints.
// - Every input task id lands in exactly one of replace, migrate, stop, delayed, failed and ignore.
// - Fixpoint: applying the plan and scheduling again at the same `now` places, replaces, migrates, stops and
//   marks lost nothing. For that, a placement that failed is retried while the plan keeps giving capacity
//   back (updates do), so whatever is reported unplaced failed against the plan's final state.
import { FeasibilityIndex } from "./feasibility";
import { Fleet } from "./fleet";
import type { Ask } from "./fleet";
import { failureMessage } from "./reasons";
import { stopFreesAtOnce, holdsResources, lostSince, reconcileJob } from "./reconcile";
import type { PlacementRequest, ReconcileContext } from "./reconcile";
import { JobPlacer } from "./select";
import type { JobView, NodeView, Plan, PlacementMetrics, SchedulerInput, TaskView } from "./types";

interface JobWork {
  job: JobView;
  ask: Ask;
  survivors: TaskView[];
  placer: JobPlacer | null;
}

interface Attempt {
  work: JobWork;
  request: PlacementRequest;
}

interface Failure {
  ask: Ask;
  metrics: PlacementMetrics;
}

export function schedule(input: SchedulerInput): Plan {
  const { evalId, now } = input;
  const plan: Plan = {
    evalId,
    place: [],
    replace: [],
    migrate: [],
    stop: [],
    lost: [],
    delayed: [],
    failed: [],
    ignore: [],
    unplaced: [],
    wake: [],
  };
  const fleet = new Fleet(input.nodes);
  const feasibility = new FeasibilityIndex(fleet, evalId);
  const nodeIndex = (nodeId: string | null): number | undefined => (nodeId === null ? undefined : fleet.indexById.get(nodeId));

  // 1. Lost tasks, and the usage of everything else that is live: the only pass over all tasks.
  // Tasks of jobs outside this evaluation are usage only: a lost one holds nothing, but marking it is
  // left to an evaluation of its own job (the input may even summarise them as one row per node).
  const evaluated = new Set(input.jobs.map((j) => j.id));
  const lostAt = new Map<string, number>();
  const tasksByJob = new Map<string, TaskView[]>();
  const quiet: { task: TaskView; node: number }[] = [];
  for (const t of input.tasks) {
    const i = nodeIndex(t.nodeId);
    const node = i === undefined ? undefined : fleet.nodes[i];
    const at = lostSince(t, node?.status, now);
    if (at !== null && i !== undefined && t.state === "placed" && node?.status === "disconnected" && evaluated.has(t.jobId)) {
      // Decided below, once the fleet's free capacity is known.
      fleet.reserve(i, t);
      quiet.push({ task: t, node: i });
    } else if (at !== null) {
      if (evaluated.has(t.jobId)) {
        lostAt.set(t.id, at);
        plan.lost.push({ taskId: t.id, nodeId: t.nodeId, at });
      }
    } else if (i !== undefined && holdsResources(t)) fleet.reserve(i, t);
    let list = tasksByJob.get(t.jobId);
    if (list === undefined) tasksByJob.set(t.jobId, (list = []));
    list.push(t);
  }
  // A task placed on a node that went quiet (not down) before claiming it moves only while the nodes that
  // take work have room for it: in a full fleet the move would leave it pending, which is worse than
  // waiting for the node's next heartbeat. A control plane that is itself overloaded makes heartbeats late,
  // and without this a full fleet's placements churned. The room is bounded from above (the largest free
  // node, and what all of them have left), so a task let go may still find no node: it waits as pending.
  if (quiet.length > 0) {
    let maxCpu = 0;
    let maxMemory = 0;
    let sumCpu = 0;
    let sumMemory = 0;
    fleet.nodes.forEach((_, i) => {
      if (!feasibility.takesWork(i)) return;
      const cpu = Math.max(0, fleet.freeCpu[i] as number);
      const memory = Math.max(0, fleet.freeMemory[i] as number);
      maxCpu = Math.max(maxCpu, cpu);
      maxMemory = Math.max(maxMemory, memory);
      sumCpu += cpu;
      sumMemory += memory;
    });
    for (const { task, node } of quiet) {
      const { cpu, memory } = task.resources;
      if (cpu > maxCpu || memory > maxMemory || cpu > sumCpu || memory > sumMemory) continue;
      sumCpu -= cpu;
      sumMemory -= memory;
      fleet.release(node, task);
      lostAt.set(task.id, now);
      plan.lost.push({ taskId: task.id, nodeId: task.nodeId, at: now });
    }
  }

  // 2. Reconcile each job, in id order, so the order jobs arrive in does not change the plan.
  const ctx: ReconcileContext = {
    now,
    lostAt,
    isDraining: (nodeId) => {
      const i = fleet.indexById.get(nodeId);
      return i !== undefined && (fleet.nodes[i] as NodeView).draining;
    },
    isDrainForced: (nodeId) => {
      const i = fleet.indexById.get(nodeId);
      return i !== undefined && (fleet.nodes[i] as NodeView).drainForced === true;
    },
    isReachable: (nodeId) => {
      const i = fleet.indexById.get(nodeId);
      return i !== undefined && (fleet.nodes[i] as NodeView).status === "ready";
    },
    regionOf: (nodeId) => {
      const i = fleet.indexById.get(nodeId);
      return i === undefined ? undefined : (fleet.nodes[i] as NodeView).region;
    },
  };
  const acted = new Set<string>();
  const attempts: Attempt[] = [];
  const seenJobs = new Set<string>();
  const jobs = [...input.jobs].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  for (const job of jobs) {
    if (seenJobs.has(job.id)) continue;
    seenJobs.add(job.id);
    const r = reconcileJob(job, tasksByJob.get(job.id) ?? [], ctx);
    for (const { task, reason } of r.stop) {
      plan.stop.push({ taskId: task.id, reason });
      acted.add(task.id);
      // Only what was counted is given back (a lost row never was), and only once nothing runs on it.
      const i = nodeIndex(task.nodeId);
      if (i !== undefined && holdsResources(task) && !lostAt.has(task.id) && stopFreesAtOnce(task)) fleet.release(i, task);
    }
    for (const d of r.delayed) {
      plan.delayed.push(d);
      acted.add(d.taskId);
    }
    for (const f of r.failed) {
      plan.failed.push(f);
      acted.add(f.taskId);
    }
    if (r.wakeAt !== null) plan.wake.push({ jobId: job.id, at: r.wakeAt });
    if (r.requests.length === 0) continue;
    const hostPorts = [...new Set(job.ports.flatMap((p) => (p.host === undefined ? [] : [p.host])))];
    const work: JobWork = { job, ask: { resources: job.resources, hostPorts }, survivors: r.survivors, placer: null };
    // Canaries of a wave go to its region: a placer of their own, the job's constraints and the region.
    const regional = new Map<string, JobWork>();
    const workFor = (request: PlacementRequest): JobWork => {
      const region = request.kind === "canary" ? request.region : "task" in request && request.task.slot < 0 ? job.rollout?.canaryRegion : undefined;
      if (region === undefined) return work;
      let w = regional.get(region);
      if (w === undefined) {
        const constraints = [...job.constraints, { attribute: "region", operator: "=" as const, value: region }];
        regional.set(region, (w = { ...work, job: { ...job, constraints }, placer: null }));
      }
      return w;
    };
    for (const request of r.requests) attempts.push({ work: workFor(request), request });
  }

  // 3. Feasibility, ranking and placement.
  const placerFor = (work: JobWork): JobPlacer => {
    if (work.placer !== null) return work.placer;
    const placer = new JobPlacer(fleet, feasibility, work.job, evalId);
    for (const t of work.survivors) {
      const i = nodeIndex(t.nodeId);
      if (i !== undefined) placer.add(i);
    }
    return (work.placer = placer);
  };

  /** Try one request; null when it was placed, else why not. */
  const attempt = ({ work, request }: Attempt): Failure | null => {
    const { job, ask } = work;
    const placer = placerFor(work);
    if (request.kind === "update") {
      // Free the old version for the new one only. A running old task keeps its node until its agent
      // stops it, so only old tasks nothing runs for are given back here.
      const old = request.old.map((t) => ({ task: t, i: nodeIndex(t.nodeId), freed: stopFreesAtOnce(t) }));
      const giveBack = (which: (o: (typeof old)[number]) => boolean) => {
        for (const o of old) {
          if (o.i === undefined || !which(o)) continue;
          fleet.release(o.i, o.task);
          placer.remove(o.i);
        }
      };
      const takeBack = (which: (o: (typeof old)[number]) => boolean) => {
        for (const o of old) {
          if (o.i === undefined || !which(o)) continue;
          fleet.reserve(o.i, o.task);
          placer.add(o.i);
        }
      };
      giveBack((o) => o.freed);
      if (job.update.order !== "start-first" && old.some((o) => !o.freed)) {
        // Stop-first with a copy that may run: it stops now, and the slot is placed once it has (a later evaluation).
        // Stopped only if the new version would fit where the old one is gone, so a version that fits
        // nowhere leaves the old one running.
        giveBack((o) => !o.freed);
        const later = placer.select(ask, "record");
        takeBack((o) => !o.freed);
        if (later < 0) {
          takeBack((o) => o.freed);
          return { ask, metrics: placer.metrics() };
        }
        for (const { task } of old) {
          plan.stop.push({ taskId: task.id, reason: "update" });
          acted.add(task.id);
        }
        return null;
      }
      const target = placer.select(ask, "record");
      if (target < 0) {
        // Would it fit once the running old version has stopped? Then stop it now; the new version is
        // placed by a later evaluation, when the agent reports the old one stopped.
        giveBack((o) => !o.freed);
        const later = old.some((o) => !o.freed) ? placer.select(ask, "record") : -1;
        takeBack((o) => !o.freed);
        if (later >= 0) {
          for (const { task } of old) {
            plan.stop.push({ taskId: task.id, reason: "update" });
            acted.add(task.id);
          }
          return null;
        }
        takeBack((o) => o.freed);
        return { ask, metrics: placer.metrics() };
      }
      fleet.reserve(target, ask);
      placer.add(target);
      fleet.generation++; // capacity was given back after placement began
      plan.place.push(placement(job, request.slot, fleet.nodes[target] as NodeView, ask));
      for (const { task } of old) {
        plan.stop.push({ taskId: task.id, reason: "update" });
        acted.add(task.id);
      }
      return null;
    }

    if (request.kind === "place" || request.kind === "canary") {
      const target = placer.select(ask, "use");
      if (target < 0) return { ask, metrics: placer.metrics() };
      fleet.reserve(target, ask);
      placer.add(target);
      plan.place.push(placement(job, request.slot, fleet.nodes[target] as NodeView, ask));
      return null;
    }
    // An existing row keeps the resources it was created with (the same as its job's, for the current version).
    const { task } = request;
    const own = task.resources.cpu === ask.resources.cpu && task.resources.memory === ask.resources.memory;
    const rowAsk: Ask = own ? ask : { resources: task.resources, hostPorts: ask.hostPorts };
    const target = placer.select(rowAsk, own ? "use" : "off");
    if (target < 0) return { ask: rowAsk, metrics: placer.metrics() };
    const node = fleet.nodes[target] as NodeView;
    if (request.kind === "migrate" && job.update.order !== "start-first" && (task.state === "leased" || task.state === "running")) {
      // Stop-first: a copy that may be running is stopped where it is (it has somewhere to go), and its slot
      // is placed again once its holder reports it stopped or its lease lapses. Nothing is reserved yet.
      plan.stop.push({ taskId: task.id, reason: "drain" });
      acted.add(task.id);
      return null;
    }
    fleet.reserve(target, rowAsk);
    placer.add(target);
    acted.add(task.id);
    const moved = { taskId: task.id, jobId: job.id, slot: task.slot, nodeId: node.id, hostPorts: [...ask.hostPorts] };
    if (request.kind === "replace") {
      plan.replace.push({ ...moved, reason: request.reason, attempt: request.attempt, attemptSince: request.attemptSince });
      return null;
    }
    // Migrate: the draining node can take nothing, so giving its capacity back helps no one in this plan.
    const from = nodeIndex(task.nodeId);
    if (from !== undefined) {
      fleet.release(from, task);
      placer.remove(from);
    }
    plan.migrate.push({ ...moved, reason: "drain", attempt: task.attempt, attemptSince: task.attemptSince ?? null });
    return null;
  };

  let pending = attempts;
  let failures: { at: Attempt; failure: Failure }[] = [];
  for (;;) {
    const generation = fleet.generation;
    failures = [];
    for (const at of pending) {
      const failure = attempt(at);
      if (failure !== null) failures.push({ at, failure });
    }
    if (failures.length === 0 || fleet.generation === generation) break;
    pending = failures.map((f) => f.at);
  }
  for (const { at, failure } of failures) plan.unplaced.push(unplaced(at, failure, fleet));

  // 4. Everything not acted on is left as it is.
  for (const t of input.tasks) if (!acted.has(t.id)) plan.ignore.push(t.id);
  return plan;
}

function placement(job: JobView, slot: number, node: NodeView, ask: Ask): Plan["place"][number] {
  return {
    jobId: job.id,
    slot,
    version: job.version,
    nodeId: node.id,
    resources: { cpu: job.resources.cpu, memory: job.resources.memory },
    hostPorts: [...ask.hostPorts],
  };
}

function unplaced({ work, request }: Attempt, { ask, metrics }: Failure, fleet: Fleet): Plan["unplaced"][number] {
  const why = failureMessage(ask, work.job.constraints, metrics);
  const jobId = work.job.id;
  switch (request.kind) {
    case "place":
      return { jobId, slot: request.slot, reason: why, metrics };
    case "canary":
      return { jobId, slot: request.slot, reason: `canary not placed: ${why}`, metrics };
    case "update":
      return { jobId, slot: request.slot, reason: `version ${work.job.version} not placed, old version kept: ${why}`, metrics };
    case "replace":
      return { jobId, slot: request.task.slot, taskId: request.task.id, reason: `${request.reason} task not re-placed: ${why}`, metrics };
    case "migrate": {
      const from = request.task.nodeId === null ? undefined : fleet.indexById.get(request.task.nodeId);
      const name = from === undefined ? request.task.nodeId : (fleet.nodes[from] as NodeView).name;
      return { jobId, slot: request.task.slot, taskId: request.task.id, reason: `not migrated off draining node ${name}: ${why}`, metrics };
    }
  }
}
