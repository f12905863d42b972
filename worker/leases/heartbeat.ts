// Heartbeat: one request renews all of a node's leases in one write batch, records each task's
// state, health and exit code, and tells the agent which leases are revoked (stop those containers).
// Fencing: a report counts only if its lease verifies AND names the task's current epoch on this
// node AND that lease has not expired; anything else is refused with the reason.
import type { HeartbeatResponse, LeaseClaims, LeaseGrant, Revocation, TaskReport } from "../../api/agent-protocol";
import { taskReportSchema } from "../../api/agent-protocol";
import type { ResolvedDeps } from "../context";
import { writeBatch } from "../../db/batch";
import { unauthorized } from "../errors";
import { issueNodeCredential, type NodePrincipal } from "../auth/tokens";
import { signLease, type LeaseVerifier } from "./lease-token";
import { recoveryStatements } from "./recovery";
import type { FleetTiming } from "./timing";
import type { z } from "zod";
import { decodeJwt } from "jose";

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

const REPORTS = `(SELECT json_extract(value, '$.id') AS id, json_extract(value, '$.epoch') AS epoch,
    json_extract(value, '$.state') AS state, json_extract(value, '$.health') AS health,
    json_extract(value, '$.exitCode') AS exit_code, json_extract(value, '$.restarts') AS restarts,
    json(json_extract(value, '$.ports')) AS ports, json_extract(value, '$.message') AS message
  FROM json_each(:reports))`;

/** Reported agent states map onto task states; "starting" keeps the task leased. */
const STORED_STATE = "CASE r.state WHEN 'starting' THEN 'leased' ELSE r.state END";
/** Every statement of a heartbeat is void unless the credential is still the node's current one. */
const OWN_NODE = "EXISTS (SELECT 1 FROM nodes WHERE id = :node AND credential_generation = :gen)";
const LIVE = `t.node_id = :node AND t.state IN ('leased', 'running') AND t.lease_expires_at >= :now AND ${OWN_NODE}`;

export async function heartbeat(
  deps: ResolvedDeps,
  timing: FleetTiming,
  verifier: LeaseVerifier,
  node: NodePrincipal,
  reports: Report[],
  probeOverdue: boolean,
): Promise<HeartbeatOutcome> {
  const now = deps.clock.now();
  const { leaseTtlMs, heartbeatIntervalMs } = await timing.current();
  const revoked: Revocation[] = [];
  const accepted: { report: Report; taskId: string; epoch: number; exp: number; version: number; task: LeaseClaims["task"] }[] = [];

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

  const payload = JSON.stringify(
    accepted.map(({ report, taskId, epoch }) => ({
      id: taskId,
      epoch,
      state: report.state,
      health: report.health,
      exitCode: report.exitCode,
      restarts: report.restarts,
      ports: report.hostPorts,
      message: report.message ?? null,
    })),
  );
  const args = { node: node.nodeId, gen: node.generation, now, ttl: leaseTtlMs, reports: payload, silentSince: now - leaseTtlMs };
  const recovery = recoveryStatements(now, leaseTtlMs, node);
  const statements = [
    ...recovery,
    {
      // A node that was not ready (new, silent, down) and heartbeats again is capacity to place onto.
      sql: `UPDATE nodes SET status = 'ready' WHERE id = :node AND credential_generation = :gen
            AND (status != 'ready' OR last_heartbeat_at IS NULL OR last_heartbeat_at < :silentSince) RETURNING id`,
      args,
    },
    {
      sql: `UPDATE nodes SET last_heartbeat_at = :now, status = 'ready', updated_at = :now
            WHERE id = :node AND credential_generation = :gen RETURNING id`,
      args,
    },
    {
      sql: `INSERT INTO events (at, namespace, job_id, task_id, node_id, type, message)
            SELECT :now, t.namespace, t.job_id, t.id, t.node_id, 'task.' || r.state,
              coalesce(r.message, r.state) || coalesce(' (exit ' || r.exit_code || ')', '')
            FROM tasks t JOIN ${REPORTS} r ON t.id = r.id AND t.epoch = r.epoch
            WHERE ${LIVE} AND ${STORED_STATE} != t.state`,
      args,
    },
    {
      sql: `INSERT INTO events (at, namespace, job_id, task_id, node_id, type, message)
            SELECT :now, t.namespace, t.job_id, t.id, t.node_id, 'task.restarted',
              'restarted by the agent (' || r.restarts || ' restarts)' || coalesce(', last exit ' || r.exit_code, '')
            FROM tasks t JOIN ${REPORTS} r ON t.id = r.id AND t.epoch = r.epoch
            WHERE ${LIVE} AND r.restarts > t.restarts`,
      args,
    },
    {
      sql: `UPDATE tasks AS t SET
              state = ${STORED_STATE},
              lease_expires_at = CASE WHEN r.state IN ('starting', 'running') THEN :now + max(:ttl, t.fence_ms) ELSE t.lease_expires_at END,
              health = r.health, exit_code = r.exit_code, restarts = r.restarts, bound_ports = r.ports,
              message = r.message, updated_at = :now,
              lost_at = CASE WHEN r.state = 'failed' THEN :now ELSE t.lost_at END
            FROM ${REPORTS} r
            WHERE t.id = r.id AND t.epoch = r.epoch AND ${LIVE}
            RETURNING id, job_id, epoch, state, desired, lease_expires_at`,
      args,
    },
    { sql: "SELECT EXISTS (SELECT 1 FROM tasks WHERE node_id = :node AND state = 'placed' AND desired = 'run') AS work", args },
    {
      sql: `UPDATE log_requests SET status = 'sent', updated_at = :now WHERE node_id = :node AND status = 'pending' AND ${OWN_NODE}
            RETURNING id, task_id, tail`,
      args,
    },
  ];
  if (probeOverdue) {
    statements.push({
      sql: `SELECT (SELECT count(*) FROM (SELECT 1 FROM tasks WHERE state IN ('leased', 'running') AND lease_expires_at < :now LIMIT 1))
              + (SELECT count(*) FROM (SELECT 1 FROM nodes WHERE status IN ('ready', 'initializing') AND last_heartbeat_at < :silentSince LIMIT 1)) AS overdue`,
      args,
    });
  }
  const results = (await writeBatch(deps.store.client, statements)).slice(recovery.length);
  if (results[1]?.rows.length === 0) throw unauthorized("node credential is no longer valid: enroll again");

  const renewed: (Omit<LeaseGrant, "lease"> & { lease?: string })[] = [];
  const endedJobs = new Set<string>();
  const matched = new Set<string>();
  for (const row of results[4]?.rows ?? []) {
    const taskId = String(row["id"]);
    matched.add(taskId);
    const state = String(row["state"]);
    const epoch = Number(row["epoch"]);
    // An ended task may free the slot or the capacity another placement waits for.
    if (state === "failed" || state === "complete" || state === "stopped") endedJobs.add(String(row["job_id"]));
    if (state !== "leased" && state !== "running") continue;
    if (row["desired"] === "stop") {
      revoked.push({ taskId, epoch, reason: "stopped", detail: "the task is no longer wanted: stop it and report it stopped" });
      continue;
    }
    const grant: (typeof renewed)[number] = { taskId, epoch, expiresAt: Number(row["lease_expires_at"]) };
    const held = accepted.find((a) => a.taskId === taskId);
    // Re-sign only when the grant nears its end: signing every lease on every heartbeat would dominate the cost.
    if (held && held.exp * 1000 - now < deps.config.leaseGrantTtl / 3) {
      grant.lease = await signLease(deps.keys, deps.clock, { taskId, nodeId: node.nodeId, epoch, version: held.version, task: held.task }, deps.config.leaseGrantTtl);
    }
    renewed.push(grant);
  }

  const unmatched = accepted.filter((a) => !matched.has(a.taskId));
  if (unmatched.length > 0) revoked.push(...(await explainRefusals(deps, node.nodeId, now, unmatched)));

  let credential: string | undefined;
  if (node.expiresAt - now < deps.config.credentialTtl / 2) {
    credential = await issueNodeCredential(deps.keys, deps.clock, node.nodeId, node.generation, deps.config.credentialTtl);
  }
  const overdueRow = probeOverdue ? results[7]?.rows[0] : undefined;
  return {
    response: {
      renewed,
      revoked,
      work: Number(results[5]?.rows[0]?.["work"] ?? 0) === 1,
      ...(credential ? { credential } : {}),
      logRequests: (results[6]?.rows ?? []).map((r) => ({ id: String(r["id"]), taskId: String(r["task_id"]), tail: Number(r["tail"]) })),
      heartbeatIntervalMs,
      leaseTtlMs,
    },
    endedJobs: [...endedJobs],
    nodeReady: (results[0]?.rows.length ?? 0) > 0,
    overdue: overdueRow !== undefined && Number(overdueRow["overdue"]) > 0,
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
async function explainRefusals(
  deps: ResolvedDeps,
  nodeId: string,
  now: number,
  refused: { taskId: string; epoch: number; report: TaskReport }[],
): Promise<Revocation[]> {
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
