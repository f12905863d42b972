// Heartbeat: renews all of a node's leases, records each task's state, health and exit code, and tells
// the agent which leases are revoked (stop those containers). Renewals carry tokens only: a re-signed
// token keeps the payload hash of the one presented, and the agent keeps the payload from its claim.
// Fencing: a report counts only if its lease verifies AND names the task's current epoch on this node
// AND that lease has not expired AND the credential is still the node's current one.
//
// Group commit: heartbeats that arrive while a write is in flight are written together in the next
// batch, whose statements take every node's reports as one JSON table. One heartbeat alone is one batch,
// as before; under load the cost of each statement is shared by every heartbeat in the batch.
import { decodeJwt } from "jose";
import type { z } from "zod";
import type { HeartbeatResponse, LeaseRenewal, Revocation, TaskReport } from "../../api/agent-protocol";
import type { taskReportSchema } from "../../api/agent-protocol";
import type { InStatement } from "@libsql/client";
import { writeBatch } from "../../db/batch";
import { requestEvaluations, WAITING_JOBS } from "../../db/queries/evaluations";
import { EVALUATION_TRIGGERS, HEALTHY_AT, LEASE_ROW, leaseRows, LIVE, OK_NODES, RENEWED_EXPIRY, STORED_STATE, WITH_REPORTS, type LeaseRow } from "../../db/queries/heartbeat";
import { taskStatsStatements } from "../../db/queries/task-stats";
import { HELD_SQL } from "../../db/queries/task-states";
import { TAIL_ORDER_COLUMNS } from "../../db/queries/agent-requests";
import { ordersOf, ordersReply, pickUpRequests, tailOrdersOf, type AgentOrders } from "../agent-requests/orders";
import { WrittenHints } from "./written-hints";
import type { ResolvedDeps } from "../context";
import { unauthorized } from "../errors";
import { issueNodeCredential, type NodePrincipal } from "../auth/tokens";
import type { LeaseTokens } from "./lease-token";
import { recoveryStatements } from "./recovery";
import type { FleetTiming } from "./timing";

type Report = z.output<typeof taskReportSchema>;

export interface HeartbeatOutcome {
  response: HeartbeatResponse;
  /**
   * Whether the batch asked for evaluations (a task ended, a new-version task started or turned healthy, a
   * node became ready): run the due ones. They are rows in the store already, so nothing is lost if not.
   */
  evaluationsRequested: boolean;
  /** Whether expired leases or silent nodes were seen: run the sweep. */
  overdue: boolean;
}

interface Accepted {
  report: Report;
  taskId: string;
  epoch: number;
  exp: number;
  version: number;
  payloadHash: string;
}

/** What one node gets back from a group write. */
interface NodeResult {
  authorized: boolean;
  evaluationsRequested: boolean;
  rows: { taskId: string; jobId: string; epoch: number; state: string; desired: string; leaseExpiresAt: number }[];
  work: boolean;
  logRequests: HeartbeatResponse["logRequests"];
  orders: AgentOrders;
  overdue: boolean;
}

interface Pending {
  node: NodePrincipal;
  accepted: Accepted[];
  probe: boolean;
  resolve: (r: NodeResult) => void;
  reject: (e: unknown) => void;
}

/** How long a batch waits for more heartbeats to join it. */
const GROUP_WINDOW_MS = 5;
/** Most heartbeats written in one batch. */
const MAX_GROUP = 256;

export class HeartbeatWriter {
  private queue: Pending[] = [];
  private flushing = false;
  private readonly hints = new WrittenHints();
  /** When this instance last wrote a heartbeat of each node (by credential generation): see mayBecomeReady. */
  private readonly seenReady = new Map<string, number>();
  /** When this instance last recorded the fleet as seen (cluster_state.fleet_seen_at). */
  private fleetSeenWrittenAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly deps: ResolvedDeps,
    private readonly timing: FleetTiming,
  ) {}

  write(node: NodePrincipal, accepted: Accepted[], probe: boolean): Promise<NodeResult> {
    return new Promise((resolve, reject) => {
      this.queue.push({ node, accepted, probe, resolve, reject });
      if (!this.flushing) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      while (this.queue.length > 0) {
        // A few milliseconds let heartbeats already on their way join this batch (with an embedded engine
        // the write blocks the loop, so nothing could join while it runs). Most of a batch's cost is fixed,
        // so at a few hundred heartbeats a second this window halves their cost, for 5 ms of latency.
        await new Promise<void>((resolve) => setTimeout(resolve, GROUP_WINDOW_MS));
        const group = this.queue.splice(0, MAX_GROUP);
        try {
          const results = await this.writeGroup(group);
          group.forEach((p, i) => p.resolve(results[i] as NodeResult));
        } catch (err) {
          for (const p of group) p.reject(err);
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  private async writeGroup(group: Pending[]): Promise<NodeResult[]> {
    const { clock } = this.deps;
    await clock.sync(this.deps.store.client);
    const now = clock.now();
    const { leaseTtlMs } = await this.timing.current();
    const nodes = JSON.stringify(group.map((p) => ({ node: p.node.nodeId, gen: p.node.generation })));
    const reports = JSON.stringify(
      group.flatMap((p) =>
        p.accepted.map(({ report, taskId, epoch }) => [
          p.node.nodeId,
          taskId,
          epoch,
          report.state,
          report.health,
          report.exitCode,
          report.restarts,
          report.hostPorts,
          report.message ?? null,
        ]),
      ),
    );
    const usage = group.flatMap((p) => p.accepted.flatMap(({ report, taskId, epoch }) => (report.usage ? [[p.node.nodeId, taskId, epoch, report.usage.cpuPercent, report.usage.memoryBytes, report.usage.memoryLimitBytes, report.usage.ageMs]] : [])));
    const args = { now, ttl: leaseTtlMs, silentSince: now - leaseTtlMs, nodes, reports };
    const statements: InStatement[] = [];
    const at = <T extends InStatement>(statement: T): number => statements.push(statement) - 1;

    // Recovery after a fleet-wide silence: needless while this instance itself recorded the fleet as seen
    // within half a TTL (the fleet cannot have been silent for a whole one), and the record itself is
    // refreshed at most every second.
    const [extendTasks, extendNodes, markSeen] = recoveryStatements(now, leaseTtlMs, nodes);
    const sinceSeen = now - this.fleetSeenWrittenAt;
    if (sinceSeen > leaseTtlMs / 2 || sinceSeen < 0) [extendTasks, extendNodes].forEach((st) => st && at(st));
    const seenDue = sinceSeen >= Math.min(1_000, leaseTtlMs / 10) || sinceSeen < 0;
    if (seenDue && markSeen) at(markSeen);
    // The store's clock is raised on the same cadence (a hot row write per batch otherwise): the lag it adds
    // to the other instances' view is at most this spacing (see store-clock.ts).
    const raise = seenDue ? clock.inBatch() : null;
    const storeClock = raise ? at(raise.statement) : -1;

    // Whether a node of the batch may be becoming ready (new, silent, down): not one this instance saw
    // heartbeat within half a TTL at the same credential (it cannot have been marked down since: that takes
    // three TTLs of silence, and enrolling again changes the credential).
    const mayBecomeReady = group.some((p) => {
      const at = this.seenReady.get(`${p.node.nodeId}:${p.node.generation}`);
      return at === undefined || now - at > leaseTtlMs / 2 || now < at;
    });
    let readyEvaluations = -1;
    if (mayBecomeReady) {
      at({
        // A node that was not ready (new, silent, down) and heartbeats again is capacity to place onto.
        sql: `WITH ${OK_NODES} UPDATE nodes SET status = 'ready' WHERE id IN (SELECT id FROM ok)
              AND (status != 'ready' OR last_heartbeat_at IS NULL OR last_heartbeat_at < :silentSince)`,
        args,
      });
      // Capacity appeared: the jobs whose slots wait for a node are due (on the condition of the update
      // before). The gate is the outer loop, so the waiting-jobs query runs only when a node did become ready.
      readyEvaluations = at(requestEvaluations(`SELECT w.job_id FROM (SELECT changes() AS c) g CROSS JOIN (${WAITING_JOBS}) w WHERE g.c > 0`, {}, { trigger: "node-ready", now }));
    }
    const seen = at({
      sql: `WITH ${OK_NODES} UPDATE nodes SET last_heartbeat_at = :now, status = 'ready', updated_at = :now
            WHERE id IN (SELECT id FROM ok) RETURNING id`,
      args,
    });
    // State changes (and restarts) only when a report may carry one; see WrittenHints.
    const mayChange = group.some((p) => p.accepted.some((a) => this.hints.mayChange(a.taskId, a.epoch, a.report)));
    let changed = -1;
    let reportEvaluations = -1;
    if (mayChange) {
      reportEvaluations = at(requestEvaluations(EVALUATION_TRIGGERS, args, { trigger: "task-report", now }));
      at({
        // State changes, restarts and health turning become task events, in one pass over the reports.
        sql: `${WITH_REPORTS}
              INSERT INTO events (at, namespace, job_id, task_id, node_id, type, message)
              SELECT :now, t.namespace, t.job_id, t.id, t.node_id, 'task.' || r.state,
                coalesce(r.message, r.state) || coalesce(' (exit ' || r.exit_code || ')', '')
              FROM r CROSS JOIN tasks t ON t.id = r.id AND t.epoch = r.epoch
              WHERE ${LIVE} AND ${STORED_STATE} != t.state
              UNION ALL
              SELECT :now, t.namespace, t.job_id, t.id, t.node_id, 'task.restarted',
                'restarted by the agent (' || r.restarts || ' restarts)' || coalesce(', last exit ' || r.exit_code, '')
              FROM r CROSS JOIN tasks t ON t.id = r.id AND t.epoch = r.epoch
              WHERE ${LIVE} AND r.restarts > t.restarts
              UNION ALL
              SELECT :now, t.namespace, t.job_id, t.id, t.node_id, 'task.' || r.health,
                CASE r.health WHEN 'healthy' THEN 'health check passing' ELSE 'health check failing' || coalesce(': ' || r.message, '') END
              FROM r CROSS JOIN tasks t ON t.id = r.id AND t.epoch = r.epoch
              WHERE ${LIVE} AND r.state = 'running' AND r.health IN ('healthy', 'unhealthy') AND r.health IS NOT t.health`,
        args,
      });
      changed = at({
        sql: `${WITH_REPORTS}
              UPDATE tasks AS t SET
                state = ${STORED_STATE},
                lease_expires_at = CASE WHEN r.state IN ('starting', 'running') THEN ${RENEWED_EXPIRY} ELSE t.lease_expires_at END,
                health = r.health, healthy_at = ${HEALTHY_AT}, exit_code = r.exit_code, restarts = r.restarts, bound_ports = r.ports,
                message = r.message, updated_at = :now,
                lost_at = CASE WHEN r.state = 'failed' THEN :now ELSE t.lost_at END
              FROM r
              WHERE t.id = r.id AND t.epoch = r.epoch AND ${LIVE} AND ${STORED_STATE} IS NOT t.state
              RETURNING ${LEASE_ROW}`,
        args,
      });
    }
    const renewed = at({
      // Renewal of every live lease reported, with health, restarts, ports and message. The state is left
      // out: writing it, even unchanged, fires the placement guard and costs several times as much. A state
      // change, when there is one, was written by the statement before.
      sql: `${WITH_REPORTS}
            UPDATE tasks AS t SET
              lease_expires_at = ${RENEWED_EXPIRY},
              health = r.health, healthy_at = ${HEALTHY_AT}, exit_code = r.exit_code, restarts = r.restarts, bound_ports = r.ports,
              message = r.message, updated_at = :now
            FROM r
            WHERE t.id = r.id AND t.epoch = r.epoch AND ${LIVE}
            RETURNING ${LEASE_ROW}`,
      args,
    });
    if (usage.length > 0) taskStatsStatements(nodes, JSON.stringify(usage), now).forEach(at);
    const work = at({
      sql: `SELECT DISTINCT node_id FROM tasks WHERE node_id IN (SELECT json_extract(value, '$.node') FROM json_each(:nodes))
            AND state = 'placed' AND desired = 'run'`,
      args,
    });
    const logs = at({
      sql: `WITH ${OK_NODES} UPDATE log_requests SET status = 'sent', updated_at = :now
            WHERE status = 'pending' AND node_id IN (SELECT id FROM ok) RETURNING ${TAIL_ORDER_COLUMNS}`,
      args,
    });
    const orders = at(pickUpRequests(args));
    const probe = group.some((p) => p.probe)
      ? at({
          sql: `SELECT (SELECT count(*) FROM (SELECT 1 FROM tasks WHERE state IN ${HELD_SQL} AND lease_expires_at < :now LIMIT 1))
                  + (SELECT count(*) FROM (SELECT 1 FROM nodes WHERE status IN ('ready', 'initializing') AND last_heartbeat_at < :silentSince LIMIT 1)) AS overdue`,
          args,
        })
      : -1;
    const results = await writeBatch(this.deps.store.client, statements);
    raise?.take(results[storeClock]);
    const evaluationsRequested = (readyEvaluations >= 0 ? (results[readyEvaluations]?.rowsAffected ?? 0) : 0) + (reportEvaluations >= 0 ? (results[reportEvaluations]?.rowsAffected ?? 0) : 0) > 0;
    const renewedRows = results[renewed];
    const changedRows = changed >= 0 ? results[changed] : undefined;
    const overdue = probe >= 0 ? results[probe] : undefined;
    const idsOf = (rows: { rows: Record<string, unknown>[] } | undefined, column = "id") => new Set((rows?.rows ?? []).map((r) => String(r[column])));
    const seenIds = idsOf(results[seen]);
    const workIds = idsOf(results[work], "node_id");
    if (seenDue && seenIds.size > 0) this.fleetSeenWrittenAt = now;
    if (this.seenReady.size >= 200_000) this.seenReady.clear();
    for (const p of group) if (seenIds.has(p.node.nodeId)) this.seenReady.set(`${p.node.nodeId}:${p.node.generation}`, now);
    const isOverdue = overdue !== undefined && Number(overdue.rows[0]?.["overdue"]) > 0;
    // A row is matched to the report of the node and epoch it holds, as the store returned them: two nodes
    // of one batch may report the same task (the one that lost it, at an older epoch, and its new holder),
    // and only the holder's report may count as renewed.
    // One node may have more than one heartbeat in the batch (an agent retrying one still in flight): a row
    // goes to each of them that reported it.
    const reportOf = new Map<string, { nodes: number[]; state: Report["state"]; restarts: number; health: string | null }>();
    group.forEach((p, i) => {
      for (const a of p.accepted) {
        const key = `${p.node.nodeId}:${a.taskId}:${a.epoch}`;
        const seen = reportOf.get(key);
        reportOf.set(key, { nodes: [...(seen?.nodes ?? []), i], state: a.report.state, restarts: a.report.restarts ?? 0, health: a.report.health ?? null });
      }
    });
    const matched = (r: LeaseRow) => reportOf.get(`${r.nodeId}:${r.taskId}:${r.epoch}`);
    // A row the state change just made running is renewed too: it is taken once, from the change.
    const rows = new Map<string, { r: LeaseRow; o: NonNullable<ReturnType<typeof matched>> }>();
    for (const r of leaseRows(changedRows)) {
      const o = matched(r);
      if (o) rows.set(r.taskId, { r, o });
    }
    for (const r of leaseRows(renewedRows)) {
      const o = matched(r);
      if (!o) continue;
      // A stored state other than the reported one means a hint was stale (another instance moved the task
      // back to leased): the next report takes the long way, which records the state.
      const reported = o.state === "starting" ? "leased" : o.state;
      if (r.state === "running" && reported === "running") this.hints.wroteRunning(r.taskId, r.epoch, o.restarts, o.health);
      else this.hints.forget(r.taskId);
      if (!rows.has(r.taskId)) rows.set(r.taskId, { r, o });
    }
    const rowsByNode = group.map((): NodeResult["rows"] => []);
    for (const { r, o } of rows.values()) {
      const { nodeId: _, ...row } = r;
      for (const n of o.nodes) rowsByNode[n]?.push(row);
    }
    return group.map((p, i): NodeResult => {
      const id = p.node.nodeId;
      return {
        authorized: seenIds.has(id),
        evaluationsRequested,
        rows: rowsByNode[i] ?? [],
        work: workIds.has(id),
        logRequests: tailOrdersOf(results[logs], id),
        orders: ordersOf(results[orders], id),
        overdue: p.probe && isOverdue,
      };
    });
  }
}

export async function heartbeat(
  deps: ResolvedDeps,
  timing: FleetTiming,
  tokens: LeaseTokens,
  writer: HeartbeatWriter,
  node: NodePrincipal,
  reports: Report[],
  probeOverdue: boolean,
): Promise<HeartbeatOutcome> {
  const revoked: Revocation[] = [];
  const accepted: Accepted[] = [];
  for (const report of reports) {
    const check = await tokens.verify(report.lease);
    if (!check.ok) {
      const unverified = peekLease(report.lease);
      revoked.push({ taskId: unverified.taskId, epoch: unverified.epoch, reason: "bad-signature", detail: check.reason });
      continue;
    }
    const { sub: taskId, epoch, node: leaseNode, exp, ver, ph } = check.claims;
    if (leaseNode !== node.nodeId) {
      revoked.push({ taskId, epoch, reason: "wrong-node", detail: "this lease belongs to another node" });
      continue;
    }
    accepted.push({ report, taskId, epoch, exp, version: ver, payloadHash: ph });
  }

  const result = await writer.write(node, accepted, probeOverdue);
  if (!result.authorized) throw unauthorized("node credential is no longer valid: enroll again");
  const now = deps.clock.now();
  const { leaseTtlMs, heartbeatIntervalMs } = await timing.current();

  const renewed: LeaseRenewal[] = [];
  const acceptedById = new Map(accepted.map((a) => [a.taskId, a]));
  const matched = new Set<string>();
  for (const row of result.rows) {
    matched.add(row.taskId);
    if (row.state !== "leased" && row.state !== "running") continue;
    if (row.desired === "stop") {
      revoked.push({ taskId: row.taskId, epoch: row.epoch, reason: "stopped", detail: "the task is no longer wanted: stop it and report it stopped" });
      continue;
    }
    const grant: (typeof renewed)[number] = { taskId: row.taskId, epoch: row.epoch, expiresAt: row.leaseExpiresAt };
    const held = acceptedById.get(row.taskId);
    // Re-sign only when the grant nears its end: signing every lease on every heartbeat would dominate the cost.
    if (held && held.exp * 1000 - now < deps.config.leaseGrantTtl / 3) {
      grant.lease = await tokens.sign({ taskId: row.taskId, nodeId: node.nodeId, epoch: row.epoch, version: held.version, payloadHash: held.payloadHash }, deps.config.leaseGrantTtl);
    }
    renewed.push(grant);
  }

  const unmatched = accepted.filter((a) => !matched.has(a.taskId));
  if (unmatched.length > 0) revoked.push(...(await explainRefusals(deps, node.nodeId, now, unmatched)));

  let credential: string | undefined;
  if (node.expiresAt - now < deps.config.credentialTtl / 2) {
    credential = await issueNodeCredential(deps.keys, deps.clock, node.nodeId, node.generation, deps.config.credentialTtl);
  }
  return {
    response: { renewed, revoked, work: result.work, ...(credential ? { credential } : {}), logRequests: result.logRequests, ...ordersReply(result.orders), heartbeatIntervalMs, leaseTtlMs },
    evaluationsRequested: result.evaluationsRequested,
    overdue: result.overdue,
  };
}

/** Reads a lease's claims WITHOUT trusting them, only to name a refused lease back to its agent. */
function peekLease(token: string): { taskId: string; epoch: number } {
  try {
    const claims = decodeJwt(token);
    return { taskId: typeof claims.sub === "string" ? claims.sub : "", epoch: typeof claims["epoch"] === "number" ? claims["epoch"] : 0 };
  } catch {
    return { taskId: "", epoch: 0 };
  }
}

/** Why reports were refused; a read on the rare path only. */
async function explainRefusals(deps: ResolvedDeps, nodeId: string, now: number, refused: { taskId: string; epoch: number; report: TaskReport }[]): Promise<Revocation[]> {
  const placeholders = refused.map(() => "?").join(",");
  const rows = await deps.store.client.execute({
    sql: `SELECT id, node_id, epoch, state, desired, lease_expires_at FROM tasks WHERE id IN (${placeholders})`,
    args: refused.map((r) => r.taskId),
  });
  const byId = new Map(rows.rows.map((r) => [String(r["id"]), r]));
  return refused.map(({ taskId, epoch }): Revocation => {
    const row = byId.get(taskId);
    if (!row) return { taskId, epoch, reason: "not-found", detail: "the task no longer exists: stop this container" };
    const current = Number(row["epoch"]);
    if (current !== epoch || row["node_id"] !== nodeId) {
      return { taskId, epoch, reason: "stale-epoch", detail: `lease epoch ${epoch} is stale (current epoch ${current}): stop this container` };
    }
    const state = String(row["state"]);
    if ((state === "leased" || state === "running") && Number(row["lease_expires_at"]) < now) {
      return { taskId, epoch, reason: "expired", detail: "the lease expired before this heartbeat: stop this container" };
    }
    return { taskId, epoch, reason: "stopped", detail: `the task is ${state}: stop this container` };
  });
}
