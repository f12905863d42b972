// Heartbeat: renews all of a node's leases, records each task's state, health and exit code, and tells
// the agent which leases are revoked (stop those containers).
// Fencing: a report counts only if its lease verifies AND names the task's current epoch on this node
// AND that lease has not expired AND the credential is still the node's current one.
//
// Group commit: heartbeats that arrive while a write is in flight are written together in the next
// batch, whose statements take every node's reports as one JSON table. One heartbeat alone is one batch,
// as before; under load the cost of each statement is shared by every heartbeat in the batch.
import { decodeJwt } from "jose";
import type { z } from "zod";
import type { HeartbeatResponse, LeaseClaims, LeaseGrant, Revocation, TaskReport } from "../../api/agent-protocol";
import type { taskReportSchema } from "../../api/agent-protocol";
import type { InStatement } from "@libsql/client";
import { writeBatch } from "../../db/batch";
import type { ResolvedDeps } from "../context";
import { unauthorized } from "../errors";
import { issueNodeCredential, type NodePrincipal } from "../auth/tokens";
import { signLease, type LeaseVerifier } from "./lease-token";
import { recoveryStatements } from "./recovery";
import type { FleetTiming } from "./timing";

type Report = z.output<typeof taskReportSchema>;

export interface HeartbeatOutcome {
  response: HeartbeatResponse;
  /** Jobs with tasks that just ended (failed, complete, stopped): evaluate them. */
  endedJobs: string[];
  /** The node just became ready (joined, or came back): waiting slots may fit now. */
  nodeReady: boolean;
  /** Whether expired leases or silent nodes were seen: run the sweep. */
  overdue: boolean;
}

interface Accepted {
  report: Report;
  taskId: string;
  epoch: number;
  exp: number;
  version: number;
  task: LeaseClaims["task"];
}

/** What one node gets back from a group write. */
interface NodeResult {
  authorized: boolean;
  becameReady: boolean;
  rows: { taskId: string; jobId: string; epoch: number; state: string; desired: string; leaseExpiresAt: number }[];
  work: boolean;
  logRequests: { id: string; taskId: string; tail: number }[];
  overdue: boolean;
}

interface Pending {
  node: NodePrincipal;
  accepted: Accepted[];
  probe: boolean;
  resolve: (r: NodeResult) => void;
  reject: (e: unknown) => void;
}

/** Reported agent states map onto task states; "starting" keeps the task leased. */
const STORED_STATE = "CASE r.state WHEN 'starting' THEN 'leased' ELSE r.state END";

/** The nodes of the batch whose credential is still current. */
const OK_NODES = `ok AS MATERIALIZED (SELECT n.id FROM json_each(:nodes) j JOIN nodes n
    ON n.id = json_extract(j.value, '$.node') AND n.credential_generation = json_extract(j.value, '$.gen'))`;
/**
 * The reports of every node in the batch as a table, read out of the JSON once per batch: reading them
 * in each statement cost more than all the statements' own work. A report counts only for the node that
 * sent it, and only while that node's credential generation is current. The table is the connection's
 * own (TEMP) and is emptied before each batch fills it.
 */
const REPORT_TABLE: InStatement[] = [
  {
    sql: `CREATE TEMP TABLE IF NOT EXISTS heartbeat_reports (node TEXT NOT NULL, id TEXT NOT NULL, epoch INTEGER NOT NULL,
            state TEXT NOT NULL, health TEXT, exit_code INTEGER, restarts INTEGER, ports TEXT, message TEXT)`,
    args: [],
  },
  { sql: "DELETE FROM temp.heartbeat_reports", args: [] },
];
const FILL_REPORTS = `WITH ${OK_NODES} INSERT INTO temp.heartbeat_reports
  SELECT json_extract(value, '$.node'), json_extract(value, '$.id'), json_extract(value, '$.epoch'), json_extract(value, '$.state'),
    json_extract(value, '$.health'), json_extract(value, '$.exitCode'), json_extract(value, '$.restarts'),
    json(json_extract(value, '$.ports')), json_extract(value, '$.message')
  FROM json_each(:reports) WHERE json_extract(value, '$.node') IN (SELECT id FROM ok)`;
// Unary + keeps SQLite from driving these joins off the state/expiry index (every live task in the fleet,
// each checked against every report); the task is found by its primary key from each report instead.
const LIVE = "+t.node_id = r.node AND +t.state IN ('leased', 'running') AND +t.lease_expires_at >= :now";
/** A report that changes more than the lease's expiry (null-safe: exactly one of renew and change matches). */
const CHANGED = `${STORED_STATE} IS NOT t.state OR r.health IS NOT t.health OR r.exit_code IS NOT t.exit_code
  OR r.restarts IS NOT t.restarts OR r.ports IS NOT t.bound_ports OR r.message IS NOT t.message`;

/** Most heartbeats written in one batch. */
const MAX_GROUP = 256;

export class HeartbeatWriter {
  private queue: Pending[] = [];
  private flushing = false;

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
        // One turn of the event loop lets heartbeats already being parsed join this batch: with an
        // embedded engine the write blocks the loop, so nothing could join while it runs.
        await new Promise<void>((resolve) => setTimeout(resolve, 0));
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
    const now = this.deps.clock.now();
    const { leaseTtlMs } = await this.timing.current();
    const nodes = JSON.stringify(group.map((p) => ({ node: p.node.nodeId, gen: p.node.generation })));
    const reports = JSON.stringify(
      group.flatMap((p) =>
        p.accepted.map(({ report, taskId, epoch }) => ({
          node: p.node.nodeId,
          id: taskId,
          epoch,
          state: report.state,
          health: report.health,
          exitCode: report.exitCode,
          restarts: report.restarts,
          ports: report.hostPorts,
          message: report.message ?? null,
        })),
      ),
    );
    const args = { now, ttl: leaseTtlMs, silentSince: now - leaseTtlMs, nodes, reports };
    const recovery = recoveryStatements(now, leaseTtlMs, nodes);
    const probe = group.some((p) => p.probe);
    const statements = [
      ...recovery,
      {
        // A node that was not ready (new, silent, down) and heartbeats again is capacity to place onto.
        sql: `WITH ${OK_NODES} UPDATE nodes SET status = 'ready' WHERE id IN (SELECT id FROM ok)
              AND (status != 'ready' OR last_heartbeat_at IS NULL OR last_heartbeat_at < :silentSince) RETURNING id`,
        args,
      },
      {
        sql: `WITH ${OK_NODES} UPDATE nodes SET last_heartbeat_at = :now, status = 'ready', updated_at = :now
              WHERE id IN (SELECT id FROM ok) RETURNING id`,
        args,
      },
      ...REPORT_TABLE,
      { sql: FILL_REPORTS, args },
      {
        // State changes and restarts become task events, in one pass over the reports.
        sql: `WITH r AS (SELECT * FROM temp.heartbeat_reports)
              INSERT INTO events (at, namespace, job_id, task_id, node_id, type, message)
              SELECT :now, t.namespace, t.job_id, t.id, t.node_id, 'task.' || r.state,
                coalesce(r.message, r.state) || coalesce(' (exit ' || r.exit_code || ')', '')
              FROM r CROSS JOIN tasks t ON t.id = r.id AND t.epoch = r.epoch
              WHERE ${LIVE} AND ${STORED_STATE} != t.state
              UNION ALL
              SELECT :now, t.namespace, t.job_id, t.id, t.node_id, 'task.restarted',
                'restarted by the agent (' || r.restarts || ' restarts)' || coalesce(', last exit ' || r.exit_code, '')
              FROM r CROSS JOIN tasks t ON t.id = r.id AND t.epoch = r.epoch
              WHERE ${LIVE} AND r.restarts > t.restarts`,
        args,
      },
      {
        // Renewal: a report that changes nothing but the expiry writes two columns. Writing the state,
        // even unchanged, costs five times as much (its indexes and the placement guard), and most
        // heartbeats change nothing else.
        sql: `WITH r AS (SELECT * FROM temp.heartbeat_reports)
              UPDATE tasks AS t SET
                lease_expires_at = :now + max(:ttl, t.fence_ms), updated_at = :now
              FROM r
              WHERE t.id = r.id AND t.epoch = r.epoch AND ${LIVE} AND NOT (${CHANGED})
              RETURNING id, desired, lease_expires_at`,
        args,
      },
      {
        sql: `WITH r AS (SELECT * FROM temp.heartbeat_reports)
              UPDATE tasks AS t SET
                state = ${STORED_STATE},
                lease_expires_at = CASE WHEN r.state IN ('starting', 'running') THEN :now + max(:ttl, t.fence_ms) ELSE t.lease_expires_at END,
                health = r.health, exit_code = r.exit_code, restarts = r.restarts, bound_ports = r.ports,
                message = r.message, updated_at = :now,
                lost_at = CASE WHEN r.state = 'failed' THEN :now ELSE t.lost_at END
              FROM r
              WHERE t.id = r.id AND t.epoch = r.epoch AND ${LIVE} AND (${CHANGED})
              RETURNING id, job_id, state, desired, lease_expires_at`,
        args,
      },
      {
        sql: `SELECT DISTINCT node_id FROM tasks WHERE node_id IN (SELECT json_extract(value, '$.node') FROM json_each(:nodes))
              AND state = 'placed' AND desired = 'run'`,
        args,
      },
      {
        sql: `WITH ${OK_NODES} UPDATE log_requests SET status = 'sent', updated_at = :now
              WHERE status = 'pending' AND node_id IN (SELECT id FROM ok) RETURNING id, node_id, task_id, tail`,
        args,
      },
    ];
    if (probe) {
      statements.push({
        sql: `SELECT (SELECT count(*) FROM (SELECT 1 FROM tasks WHERE state IN ('leased', 'running') AND lease_expires_at < :now LIMIT 1))
                + (SELECT count(*) FROM (SELECT 1 FROM nodes WHERE status IN ('ready', 'initializing') AND last_heartbeat_at < :silentSince LIMIT 1)) AS overdue`,
        args,
      });
    }
    const [ready, seen, , , , , renewedRows, changedRows, work, logs, overdue] = (await writeBatch(this.deps.store.client, statements)).slice(recovery.length);
    const idsOf = (rows: { rows: Record<string, unknown>[] } | undefined, column = "id") => new Set((rows?.rows ?? []).map((r) => String(r[column])));
    const readyIds = idsOf(ready);
    const seenIds = idsOf(seen);
    const workIds = idsOf(work, "node_id");
    const isOverdue = overdue !== undefined && Number(overdue.rows[0]?.["overdue"]) > 0;
    // Rows come back by task id; the report names the node and epoch (a row matched only at both).
    const owner = new Map<string, { node: number; epoch: number; state: Report["state"] }>();
    group.forEach((p, node) => {
      for (const a of p.accepted) owner.set(a.taskId, { node, epoch: a.epoch, state: a.report.state });
    });
    const rowsByNode = group.map((): NodeResult["rows"] => []);
    for (const r of renewedRows?.rows ?? []) {
      const o = owner.get(String(r["id"]));
      if (!o) continue;
      // Unchanged: the stored state is the reported one (a starting container keeps its task leased).
      const state = o.state === "starting" ? "leased" : o.state;
      rowsByNode[o.node]?.push({ taskId: String(r["id"]), jobId: "", epoch: o.epoch, state, desired: String(r["desired"]), leaseExpiresAt: Number(r["lease_expires_at"]) });
    }
    for (const r of changedRows?.rows ?? []) {
      const o = owner.get(String(r["id"]));
      if (!o) continue;
      rowsByNode[o.node]?.push({
        taskId: String(r["id"]),
        jobId: String(r["job_id"]),
        epoch: o.epoch,
        state: String(r["state"]),
        desired: String(r["desired"]),
        leaseExpiresAt: Number(r["lease_expires_at"]),
      });
    }
    return group.map((p, i): NodeResult => {
      const id = p.node.nodeId;
      return {
        authorized: seenIds.has(id),
        becameReady: readyIds.has(id),
        rows: rowsByNode[i] ?? [],
        work: workIds.has(id),
        logRequests: (logs?.rows ?? []).filter((r) => r["node_id"] === id).map((r) => ({ id: String(r["id"]), taskId: String(r["task_id"]), tail: Number(r["tail"]) })),
        overdue: p.probe && isOverdue,
      };
    });
  }
}

export async function heartbeat(
  deps: ResolvedDeps,
  timing: FleetTiming,
  verifier: LeaseVerifier,
  writer: HeartbeatWriter,
  node: NodePrincipal,
  reports: Report[],
  probeOverdue: boolean,
): Promise<HeartbeatOutcome> {
  const revoked: Revocation[] = [];
  const accepted: Accepted[] = [];
  for (const report of reports) {
    const check = await verifier.verify(report.lease);
    if (!check.ok) {
      const unverified = peekLease(report.lease);
      revoked.push({ taskId: unverified.taskId, epoch: unverified.epoch, reason: "bad-signature", detail: check.reason });
      continue;
    }
    const { sub: taskId, epoch, node: leaseNode, exp, ver, task } = check.claims;
    if (leaseNode !== node.nodeId) {
      revoked.push({ taskId, epoch, reason: "wrong-node", detail: "this lease belongs to another node" });
      continue;
    }
    accepted.push({ report, taskId, epoch, exp, version: ver, task });
  }

  const result = await writer.write(node, accepted, probeOverdue);
  if (!result.authorized) throw unauthorized("node credential is no longer valid: enroll again");
  const now = deps.clock.now();
  const { leaseTtlMs, heartbeatIntervalMs } = await timing.current();

  const renewed: (Omit<LeaseGrant, "lease"> & { lease?: string })[] = [];
  const acceptedById = new Map(accepted.map((a) => [a.taskId, a]));
  const endedJobs = new Set<string>();
  const matched = new Set<string>();
  for (const row of result.rows) {
    matched.add(row.taskId);
    // An ended task may free the slot or the capacity another placement waits for.
    if (row.state === "failed" || row.state === "complete" || row.state === "stopped") endedJobs.add(row.jobId);
    if (row.state !== "leased" && row.state !== "running") continue;
    if (row.desired === "stop") {
      revoked.push({ taskId: row.taskId, epoch: row.epoch, reason: "stopped", detail: "the task is no longer wanted: stop it and report it stopped" });
      continue;
    }
    const grant: (typeof renewed)[number] = { taskId: row.taskId, epoch: row.epoch, expiresAt: row.leaseExpiresAt };
    const held = acceptedById.get(row.taskId);
    // Re-sign only when the grant nears its end: signing every lease on every heartbeat would dominate the cost.
    if (held && held.exp * 1000 - now < deps.config.leaseGrantTtl / 3) {
      grant.lease = await signLease(deps.keys, deps.clock, { taskId: row.taskId, nodeId: node.nodeId, epoch: row.epoch, version: held.version, task: held.task }, deps.config.leaseGrantTtl);
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
    response: { renewed, revoked, work: result.work, ...(credential ? { credential } : {}), logRequests: result.logRequests, heartbeatIntervalMs, leaseTtlMs },
    endedJobs: [...endedJobs],
    nodeReady: result.becameReady,
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
