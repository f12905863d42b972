// Evaluations: read a view of the store, run the pure scheduler, and write the plan back with
// optimistic concurrency. Every write is conditional (epoch-guarded updates, a slot-unique index,
// placement-guard triggers), so several control-plane instances may evaluate at once: a plan built
// on stale state either changes nothing or aborts whole, and the evaluation runs again.
import type { InStatement, ResultSet, Row } from "@libsql/client";
import type { JobSpec } from "../api/job-spec";
import { isConstraintError, jsonCell, readBatch, writeBatch } from "../db/batch";
import { CHANGED, eventRow } from "./audit";
import type { ResolvedDeps } from "./context";
import { schedule, type JobView, type NodeView, type Plan, type SchedulerInput, type TaskView } from "./scheduler";
import type { FleetTiming } from "./leases/timing";
import { liveStatus } from "./nodes/status";
import { fleetSilentQuery } from "./leases/recovery";

export interface EvaluationSummary {
  evalId: string;
  trigger: string;
  placed: number;
  replaced: number;
  migrated: number;
  stopped: number;
  lost: number;
  unplaced: { jobId: string; slot: number; reason: string }[];
  attempts: number;
  roundTrips: number;
  /** Set when the plan kept losing races with other instances and was given up for now (nothing failed). */
  deferred?: string;
}

export interface SweepSummary {
  nodesDown: number;
  tasksFinalized: number;
  drainsCompleted: number;
  evaluation: EvaluationSummary | null;
}

export interface Evaluator {
  evaluateJobs(jobIds: string[], trigger: string): Promise<EvaluationSummary>;
  /** Jobs with slots waiting for a node (pending, lost, failed): run when capacity appears. */
  evaluateWaiting(trigger: string): Promise<EvaluationSummary | null>;
  /** The backstop: marks silent nodes down, finalizes stops, and evaluates every job with overdue work. */
  sweep(): Promise<SweepSummary>;
  /**
   * Asks for an evaluation in the background, deduplicated as in Nomad's eval broker: requests that arrive
   * while one runs are merged into the next run, so a burst of heartbeats (a fleet joining, many tasks
   * ending) costs a few evaluations, not one each.
   */
  request(work: { jobs?: string[]; waiting?: boolean }, trigger: string): Promise<void>;
}

const LIVE_STATES = "('placed', 'leased', 'running')";
/** The most of its time an instance spends evaluating waiting slots. */
const WAITING_DUTY = 0.25;
/** Statements per write batch when a plan is large. */
const PLAN_CHUNK = 1_000;

/** [from, to) ranges of at most `size` statements, cut only where a statement starts a group. */
function* chunks(length: number, startsGroup: boolean[], size: number): Generator<[number, number]> {
  let from = 0;
  while (from < length) {
    let to = Math.min(length, from + size);
    while (to < length && !startsGroup[to]) to++;
    yield [from, to];
    from = to;
  }
}

/** Retries after a lost race; the count resets whenever an attempt made progress. */
const MAX_FRUITLESS_ATTEMPTS = 4;
const MAX_ATTEMPTS = 20;

export function createEvaluator(deps: ResolvedDeps, timing: FleetTiming): Evaluator {
  const { store, clock } = deps;

  // One evaluation attempt at a time per instance (read the view, write the plan), as Nomad's plan applier
  // serialises plans: two attempts of one instance interleaving their chunks would refuse each other's
  // placements. Instances still race each other; the store's conditions settle that.
  let attemptTail: Promise<unknown> = Promise.resolve();
  function serially<T>(attempt: () => Promise<T>): Promise<T> {
    const run = attemptTail.then(attempt, attempt);
    attemptTail = run.catch(() => undefined);
    return run;
  }

  async function evaluateJobs(jobIds: string[], trigger: string): Promise<EvaluationSummary> {
    const ids = [...new Set(jobIds)];
    const summary: EvaluationSummary = { evalId: deps.newId(), trigger, placed: 0, replaced: 0, migrated: 0, stopped: 0, lost: 0, unplaced: [], attempts: 0, roundTrips: 0 };
    if (ids.length === 0) return summary;
    let fruitless = 0;
    while (summary.attempts < MAX_ATTEMPTS) {
      summary.attempts++;
      const outcome = await serially(() => attempt(ids, summary));
      if (outcome.done) return summary;
      // Retries are counted only while they make no progress: a large plan that commits part and loses a
      // race on the rest goes on.
      fruitless = outcome.progress ? 0 : fruitless + 1;
      if (fruitless < MAX_FRUITLESS_ATTEMPTS) continue;
      if (outcome.refused !== null) {
        // The jobs are stored and nothing failed: their placement lost every race so far. The caller may
        // ask again; the sweep evaluates jobs whose slots never got written.
        deps.log("evaluation deferred after lost races", { evalId: summary.evalId, jobs: ids, reason: outcome.refused instanceof Error ? outcome.refused.message : String(outcome.refused) });
        summary.deferred = "placement kept losing races with other control-plane instances; it goes on in the background";
      }
      return summary;
    }
    return summary;
  }

  async function attempt(ids: string[], summary: EvaluationSummary): Promise<{ done: boolean; progress: boolean; refused: unknown }> {
    const now = clock.now();
    const { leaseTtlMs, heartbeatIntervalMs } = await timing.current();
    const input = await loadView(ids, now, leaseTtlMs, heartbeatIntervalMs, summary.evalId + ":" + summary.attempts);
    summary.roundTrips++;
    const plan = schedule(input);
    summary.unplaced = plan.unplaced.map((u) => ({ jobId: u.jobId, slot: u.slot, reason: u.reason }));
    const writes = planStatements(plan, input, now, input.fenceMs, deps.newId);
    if (writes.statements.length === 0) return { done: true, progress: false, refused: null };
    // Large plans are written in chunks, yielding between them: with an embedded engine one huge batch
    // would block every heartbeat for its whole duration. Each statement is conditional on its own, so a
    // chunk that commits is valid without the rest; a refused chunk sends the evaluation round again.
    const results: ResultSet[] = [];
    let refused: unknown = null;
    for (const [from, to] of chunks(writes.statements.length, writes.startsGroup, PLAN_CHUNK)) {
      try {
        results.push(...(await writeBatch(store.client, writes.statements.slice(from, to))));
        summary.roundTrips++;
      } catch (err) {
        summary.roundTrips++;
        if (!isConstraintError(err)) throw err;
        refused = err;
        break;
      }
      if (to < writes.statements.length) await new Promise<void>((resolve) => setTimeout(resolve, 0));
    }
    let missed = 0;
    let made = 0;
    writes.checks.forEach((check) => {
      const result = results[check.index];
      if (result === undefined) return;
      if (result.rowsAffected === 0) missed++;
      else {
        made++;
        summary[check.counter]++;
      }
    });
    for (const nodeId of writes.nodesWithWork) deps.signal.notify(nodeId);
    if (refused !== null) {
      // A placement guard or the slot index refused part of the plan: another instance got there first.
      deps.log("plan refused by the store; evaluating again", { evalId: summary.evalId, attempt: summary.attempts, reason: refused instanceof Error ? refused.message : String(refused), nodes: input.nodes.length, place: plan.place.length, replace: plan.replace.length, migrate: plan.migrate.length, committed: made });
      return { done: false, progress: made > 0, refused };
    }
    return { done: missed === 0, progress: made > 0, refused: null };
  }

  async function loadView(jobIds: string[], now: number, leaseTtlMs: number, heartbeatIntervalMs: number, evalId: string): Promise<SchedulerInput & { fenceMs: Map<string, number> }> {
    const marks = jobIds.map(() => "?").join(",");
    // Nodes, tasks and usage come back as one JSON array each: turning every column of every row into a
    // row object costs about ten times as much as the engine's own work (94 ms against 9 ms for 10,000 tasks),
    // and with an embedded engine nothing else runs meanwhile.
    const [jobRows, nodeRows, ownTasks, usage] = await readBatch(store.client, [
      { sql: `SELECT j.id, j.namespace, j.name, j.type, j.status, j.version, v.spec FROM jobs j JOIN job_versions v ON v.job_id = j.id AND v.version = j.version WHERE j.id IN (${marks})`, args: jobIds },
      { sql: `SELECT json_group_array(json_array(${NODE_COLUMNS})) AS v FROM nodes`, args: [] },
      {
        sql: `SELECT json_group_array(json_array(${TASK_COLUMNS})) AS v
              FROM tasks WHERE job_id IN (${marks}) AND NOT (state = 'stopped' AND desired = 'stop')`,
        args: jobIds,
      },
      // Other jobs' tasks matter only as usage: one aggregate row per node instead of every task.
      {
        sql: `SELECT json_group_array(json_array(node_id, cpu, memory, json(ports))) AS v FROM (
                SELECT node_id, sum(cpu) AS cpu, sum(memory) AS memory, json_group_array(json(host_ports)) AS ports
                FROM tasks WHERE state IN ${LIVE_STATES} AND node_id IS NOT NULL AND job_id NOT IN (${marks}) GROUP BY node_id)`,
        args: jobIds,
      },
    ]);
    const drainForced = new Set<string>();
    const nodesView: NodeView[] = jsonRows<NodeTuple>(nodeRows).map(([id, name, region, labels, cpu, memory, status, eligible, drainDeadline, lastHeartbeatAt]) => {
      if (drainDeadline !== null && drainDeadline <= now) drainForced.add(id);
      return {
        id,
        name,
        region,
        labels,
        capacity: { cpu, memory },
        status: placeableStatus(status, lastHeartbeatAt, now, leaseTtlMs, heartbeatIntervalMs),
        eligible: eligible === 1,
        draining: drainDeadline !== null,
      };
    });
    const tasksView: TaskView[] = jsonRows<TaskTuple>(ownTasks).map(taskView);
    const jobsOnForcedDrain = new Set(tasksView.filter((t) => t.nodeId !== null && drainForced.has(t.nodeId)).map((t) => t.jobId));
    const fenceMs = new Map<string, number>();
    const jobsView: JobView[] = (jobRows?.rows ?? []).map((r) => {
      const spec = JSON.parse(String(r["spec"])) as JobSpec;
      fenceMs.set(String(r["id"]), fenceWindow(spec));
      return jobView(r, spec, jobsOnForcedDrain.has(String(r["id"])));
    });
    for (const [nodeId, cpu, memory, ports] of jsonRows<[string, number, number, number[][]]>(usage)) {
      tasksView.push({
        id: `usage:${nodeId}`,
        jobId: "",
        slot: 0,
        version: 0,
        nodeId,
        state: "running",
        desired: "run",
        epoch: 0,
        leaseExpiresAt: null,
        attempt: 0,
        lostAt: null,
        healthy: null,
        resources: { cpu, memory },
        hostPorts: ports.flat(),
      });
    }
    return { evalId, now, jobs: jobsView, nodes: nodesView, tasks: tasksView, fenceMs };
  }

  async function evaluateWaiting(trigger: string): Promise<EvaluationSummary | null> {
    const rows = await store.client.execute(
      `SELECT DISTINCT t.job_id FROM tasks t JOIN jobs j ON j.id = t.job_id
       WHERE j.status = 'running' AND t.desired = 'run' AND (t.state IN ('pending', 'lost') OR (t.state IN ('failed', 'complete') AND j.type = 'service'))
       LIMIT 1000`,
    );
    const ids = rows.rows.map((r) => String(r["job_id"]));
    return ids.length === 0 ? null : evaluateJobs(ids, trigger);
  }

  // One sweep at a time per instance, whoever asks (the timer, a heartbeat that saw overdue work): a
  // caller arriving during a sweep shares it rather than starting a second one over the same rows.
  let sweeping: Promise<SweepSummary> | null = null;
  function sweep(): Promise<SweepSummary> {
    sweeping ??= runSweep().finally(() => (sweeping = null));
    return sweeping;
  }

  async function runSweep(): Promise<SweepSummary> {
    const now = clock.now();
    const { leaseTtlMs, heartbeatIntervalMs } = await timing.current();
    // After a silence of the whole fleet, wait for the first heartbeat: it extends leases (see recovery.ts).
    const silence = await store.client.execute(fleetSilentQuery(now, leaseTtlMs));
    if (Number(silence.rows[0]?.["silent"]) === 1) {
      return { nodesDown: 0, tasksFinalized: 0, drainsCompleted: 0, evaluation: null };
    }
    // A drain is complete when the node holds nothing: it stays ineligible until an operator says otherwise.
    const drainDone = `drain_deadline IS NOT NULL AND NOT EXISTS (SELECT 1 FROM tasks WHERE node_id = nodes.id AND state IN ${LIVE_STATES})`;
    const [down, finalized, finalizedUnstarted, , drained] = await writeBatch(store.client, [
      {
        sql: `UPDATE nodes SET status = 'down', updated_at = ? WHERE status IN ('ready', 'initializing', 'disconnected') AND coalesce(last_heartbeat_at, created_at) < ? RETURNING id`,
        args: [now, now - 3 * leaseTtlMs],
      },
      // A task told to stop whose lease lapsed is stopped: its agent is fenced out either way.
      { sql: `UPDATE tasks SET state = 'stopped', updated_at = ? WHERE desired = 'stop' AND state IN ('leased', 'running') AND lease_expires_at < ?`, args: [now, now] },
      { sql: `UPDATE tasks SET state = 'stopped', updated_at = ? WHERE desired = 'stop' AND state IN ('placed', 'pending')`, args: [now] },
      // The event first, on the same condition as the update after it, in the same transaction.
      {
        sql: `INSERT INTO events (at, node_id, type, message)
              SELECT ?, id, 'node.drained', 'drain of ' || name || ' complete; node is ineligible' FROM nodes WHERE ${drainDone}`,
        args: [now],
      },
      { sql: `UPDATE nodes SET drain_deadline = NULL, eligible = 0, updated_at = ? WHERE ${drainDone} RETURNING id`, args: [now] },
    ]);
    const due = await store.client.execute({
      sql: `SELECT DISTINCT t.job_id FROM tasks t JOIN jobs j ON j.id = t.job_id
            WHERE (t.state IN ('leased', 'running') AND t.lease_expires_at < :now)
               OR (t.desired = 'run' AND j.status = 'running' AND (t.state IN ('pending', 'lost') OR (t.state IN ('failed', 'complete') AND j.type = 'service')))
               OR (t.state IN ${LIVE_STATES} AND t.node_id IN (SELECT id FROM nodes WHERE status = 'down' OR drain_deadline IS NOT NULL OR coalesce(last_heartbeat_at, 0) < :silent))
               OR (t.state = 'placed' AND t.node_id IN (SELECT id FROM nodes WHERE coalesce(last_heartbeat_at, 0) < :quiet))
               OR (j.status = 'stopped' AND t.desired = 'run' AND t.state NOT IN ('stopped', 'complete', 'failed'))
            UNION
            -- A running job with replicas but no slot rows at all: its first evaluation was not written (lost races).
            SELECT j.id FROM jobs j JOIN job_versions v ON v.job_id = j.id AND v.version = j.version
            WHERE j.status = 'running' AND v.spec ->> '$.replicas' > 0 AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.job_id = j.id)
            LIMIT 1000`,
      args: { now, silent: now - leaseTtlMs, quiet: now - 2 * heartbeatIntervalMs },
    });
    const ids = due.rows.map((r) => String(r["job_id"]));
    const evaluation = ids.length > 0 ? await evaluateJobs(ids, "sweep") : null;
    return {
      nodesDown: down?.rows.length ?? 0,
      tasksFinalized: (finalized?.rowsAffected ?? 0) + (finalizedUnstarted?.rowsAffected ?? 0),
      drainsCompleted: drained?.rows.length ?? 0,
      evaluation,
    };
  }

  const queuedJobs = new Set<string>();
  const queuedTriggers = new Set<string>();
  let queuedWaiting = false;
  let draining: Promise<void> | null = null;
  // Waiting slots are evaluated when a node becomes ready: after an outage thousands may, one after another.
  // Each such evaluation reads every job with waiting slots, so they run at most a quarter of the time: the
  // next waits three times as long as the last took (real time, as it is about this process's own work).
  // Under load the rest goes to heartbeats, which keep leases from lapsing and starting more work.
  let waitingDoneAt = Number.NEGATIVE_INFINITY;
  let waitingTook = 0;
  async function drain(): Promise<void> {
    try {
      while (queuedJobs.size > 0 || queuedWaiting) {
        const jobs = [...queuedJobs];
        const trigger = [...queuedTriggers].join(",");
        queuedJobs.clear();
        queuedTriggers.clear();
        if (jobs.length > 0) await evaluateJobs(jobs, trigger);
        if (!queuedWaiting) continue;
        const rest = waitingDoneAt + waitingTook * (1 / WAITING_DUTY - 1) - performance.now();
        if (rest > 0 && queuedJobs.size === 0) await new Promise<void>((resolve) => setTimeout(resolve, Math.min(rest, 5_000)));
        if (queuedJobs.size > 0) continue; // jobs asked for meanwhile go first
        queuedWaiting = false;
        const started = performance.now();
        await evaluateWaiting(trigger || "waiting");
        waitingDoneAt = performance.now();
        waitingTook = waitingDoneAt - started;
      }
    } finally {
      draining = null;
    }
  }
  function request(work: { jobs?: string[]; waiting?: boolean }, trigger: string): Promise<void> {
    for (const id of work.jobs ?? []) queuedJobs.add(id);
    if (work.waiting) queuedWaiting = true;
    queuedTriggers.add(trigger);
    draining ??= drain();
    return draining;
  }

  return { evaluateJobs, evaluateWaiting, sweep, request };
}

/**
 * A node's status for placement: as liveStatus, but a node silent for two heartbeat intervals takes no new
 * work even before its lease TTL has passed — it is likely going, and work placed there would wait out the
 * whole TTL before being placed again.
 */
function placeableStatus(stored: string, lastHeartbeatAt: number | null, now: number, leaseTtlMs: number, heartbeatIntervalMs: number): NodeView["status"] {
  const status = liveStatus({ status: stored as NodeView["status"], lastHeartbeatAt }, now, leaseTtlMs);
  if (status === "ready" && lastHeartbeatAt !== null && now - lastHeartbeatAt > 2 * heartbeatIntervalMs) return "disconnected";
  return status;
}

/** The rows of a `SELECT json_group_array(json_array(...)) AS v` as tuples. */
function jsonRows<T>(result: ResultSet | undefined): T[] {
  return jsonCell<T[]>(result?.rows[0], "v") ?? [];
}

const NODE_COLUMNS = "id, name, region, json(labels), cpu, memory, status, eligible, drain_deadline, last_heartbeat_at";
type NodeTuple = [string, string, string, Record<string, string>, number, number, string, number, number | null, number | null];

const TASK_COLUMNS = "id, job_id, slot, version, node_id, state, desired, epoch, lease_expires_at, attempt, lost_at, health, cpu, memory, json(host_ports)";
type TaskTuple = [string, string, number, number, string | null, string, string, number, number | null, number, number | null, string | null, number, number, number[]];

function taskView([id, jobId, slot, version, nodeId, state, desired, epoch, leaseExpiresAt, attempt, lostAt, health, cpu, memory, hostPorts]: TaskTuple): TaskView {
  return {
    id,
    jobId,
    slot,
    version,
    nodeId,
    state: state as TaskView["state"],
    desired: desired as TaskView["desired"],
    epoch,
    leaseExpiresAt,
    attempt,
    lostAt,
    healthy: health === null ? null : health === "healthy",
    resources: { cpu, memory },
    hostPorts,
  };
}

/**
 * How long a lease of a self-fencing task must last: the agent stops it within `after` of losing contact
 * (checked every couple of seconds), then waits up to the stop grace; a margin covers both and clock skew.
 */
export const FENCE_MARGIN_MS = 5_000;
export function fenceWindow(spec: JobSpec): number {
  return spec.disconnect.policy === "stop" ? spec.disconnect.after + spec.stopGrace + FENCE_MARGIN_MS : 0;
}

function jobView(r: Row, spec: JobSpec, forceDrain: boolean): JobView {
  return {
    id: String(r["id"]),
    namespace: String(r["namespace"]),
    name: String(r["name"]),
    version: Number(r["version"]),
    type: spec.type,
    status: String(r["status"]) as JobView["status"],
    replicas: spec.replicas,
    resources: spec.resources,
    ports: spec.ports.map((p) => ({ name: p.name, container: p.container, ...(p.host !== undefined ? { host: p.host } : {}) })),
    constraints: spec.constraints.map((c) => ({ attribute: c.attribute, operator: c.operator, ...(c.value !== undefined ? { value: c.value } : {}) })),
    ...(spec.spread ? { spread: spec.spread } : {}),
    reschedule: { attempts: spec.reschedule.attempts, delayMs: spec.reschedule.delay, maxDelayMs: spec.reschedule.maxDelay },
    // Past a drain deadline every task on the node moves at once, whatever the job's parallelism.
    update: { parallelism: forceDrain ? Number.MAX_SAFE_INTEGER : spec.update.parallelism, order: spec.update.order },
  };
}

type Counter = "placed" | "replaced" | "migrated" | "stopped" | "lost";

/** The plan as one batch of conditional statements, with which results to check and what they count. */
function planStatements(
  plan: Plan,
  input: SchedulerInput,
  now: number,
  fenceMs: Map<string, number>,
  newId: () => string,
): { statements: InStatement[]; startsGroup: boolean[]; checks: { index: number; counter: Counter }[]; nodesWithWork: Set<string> } {
  const statements: InStatement[] = [];
  // An event guarded by CHANGED must stay in the batch of the write before it.
  const startsGroup: boolean[] = [];
  const checks: { index: number; counter: Counter }[] = [];
  const nodesWithWork = new Set<string>();
  const tasksById = new Map(input.tasks.map((t) => [t.id, t]));
  const jobsById = new Map(input.jobs.map((j) => [j.id, j]));
  const push = (s: InStatement, counter?: Counter) => {
    if (counter) checks.push({ index: statements.length, counter });
    startsGroup.push(typeof s === "string" || !s.sql.includes(CHANGED.sql));
    statements.push(s);
  };
  const nsOf = (jobId: string) => jobsById.get(jobId)?.namespace ?? null;

  for (const lost of plan.lost) {
    const t = tasksById.get(lost.taskId);
    if (!t) continue;
    push(
      // Guarded on the expiry that was read: a heartbeat that renewed the lease since keeps its task.
      {
        sql: `UPDATE tasks SET state = 'lost', lost_at = ?, updated_at = ? WHERE id = ? AND epoch = ? AND state IN ${LIVE_STATES} AND lease_expires_at IS ?`,
        args: [lost.at, now, t.id, t.epoch, t.leaseExpiresAt],
      },
      "lost",
    );
    push(eventRow(now, { type: "task.lost", message: `lease at epoch ${t.epoch} lapsed`, namespace: nsOf(t.jobId), jobId: t.jobId, taskId: t.id, nodeId: t.nodeId  }, CHANGED));
  }
  for (const stop of plan.stop) {
    const t = tasksById.get(stop.taskId);
    if (!t) continue;
    // Never leased: nothing runs, so it is stopped outright. Leased: the agent is told and reports back.
    push(
      {
        sql: `UPDATE tasks SET desired = 'stop', state = CASE WHEN state IN ('placed', 'pending', 'lost') THEN 'stopped' ELSE state END, updated_at = ?
              WHERE id = ? AND epoch = ? AND desired = 'run'`,
        args: [now, t.id, t.epoch],
      },
      "stopped",
    );
    push(eventRow(now, { type: "task.stop", message: `stopping: ${stop.reason}`, namespace: nsOf(t.jobId), jobId: t.jobId, taskId: t.id, nodeId: t.nodeId  }, CHANGED));
  }
  for (const p of plan.place) {
    const job = jobsById.get(p.jobId);
    if (!job) continue;
    const id = newId();
    push(
      {
        sql: `INSERT INTO tasks (id, job_id, namespace, slot, version, node_id, state, desired, epoch, cpu, memory, host_ports, fence_ms, created_at, updated_at)
              VALUES (?, ?, ?, ?, ?, ?, 'placed', 'run', 1, ?, ?, ?, ?, ?, ?)
              ON CONFLICT (job_id, slot) WHERE desired = 'run' DO NOTHING`,
        args: [id, p.jobId, job.namespace, p.slot, p.version, p.nodeId, p.resources.cpu, p.resources.memory, JSON.stringify(p.hostPorts), fenceMs.get(p.jobId) ?? 0, now, now],
      },
      "placed",
    );
    push(eventRow(now, { type: "task.placed", message: `slot ${p.slot} v${p.version} placed`, namespace: job.namespace, jobId: p.jobId, taskId: id, nodeId: p.nodeId  }, CHANGED));
    nodesWithWork.add(p.nodeId);
  }
  for (const [bucket, counter] of [[plan.replace, "replaced"], [plan.migrate, "migrated"]] as const) {
    for (const r of bucket) {
      const t = tasksById.get(r.taskId);
      if (!t) continue;
      push(
        {
          sql: `UPDATE tasks SET node_id = ?, epoch = epoch + 1, state = 'placed', attempt = ?, lease_expires_at = NULL, health = NULL,
                  exit_code = NULL, restarts = 0, host_ports = ?, bound_ports = '[]', message = NULL, updated_at = ?
                WHERE id = ? AND epoch = ? AND desired = 'run' AND (state NOT IN ('leased', 'running') OR ? = 'drain')`,
          args: [r.nodeId, r.attempt, JSON.stringify(r.hostPorts), now, t.id, t.epoch, r.reason],
        },
        counter,
      );
      push(eventRow(now, { type: "task.replaced", message: `re-placed at epoch ${t.epoch + 1} (${r.reason})`, namespace: nsOf(t.jobId), jobId: t.jobId, taskId: t.id, nodeId: r.nodeId  }, CHANGED));
      nodesWithWork.add(r.nodeId);
    }
  }
  for (const f of plan.failed) {
    const t = tasksById.get(f.taskId);
    if (!t || t.state === "failed") continue;
    push({ sql: `UPDATE tasks SET state = 'failed', message = ?, updated_at = ? WHERE id = ? AND epoch = ? AND state != 'failed'`, args: [f.reason, now, t.id, t.epoch] });
  }
  // Slots no node can take yet wait as pending rows, so capacity appearing later finds them.
  for (const u of plan.unplaced) {
    if (u.taskId) continue;
    const job = jobsById.get(u.jobId);
    if (!job) continue;
    push({
      sql: `INSERT INTO tasks (id, job_id, namespace, slot, version, node_id, state, desired, epoch, cpu, memory, fence_ms, message, created_at, updated_at)
            VALUES (?, ?, ?, ?, ?, NULL, 'pending', 'run', 1, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (job_id, slot) WHERE desired = 'run' DO NOTHING`,
      args: [newId(), u.jobId, job.namespace, u.slot, job.version, job.resources.cpu, job.resources.memory, fenceMs.get(u.jobId) ?? 0, u.reason, now, now],
    });
  }
  return { statements, startsGroup, checks, nodesWithWork };
}
