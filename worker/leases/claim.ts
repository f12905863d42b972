// Claim: turns a node's placed tasks into leases and returns every lease the node holds (idempotent,
// so an agent that lost a reply, or restarted, gets its leases again). Long-polls for new work.
import type { ClaimResponse, LeaseGrant } from "../../api/agent-protocol";
import type { JobSpec } from "../../api/job-spec";
import { jsonCell, writeBatch } from "../../db/batch";
import type { ResolvedDeps } from "../context";
import { unauthorized } from "../errors";
import type { NodePrincipal } from "../auth/tokens";
import type { LeaseTokens } from "./lease-token";
import { taskSpecOf } from "./task-spec";
import type { FleetTiming } from "./timing";

/**
 * How often a waiting claim looks at the store for work placed by another instance: once per heartbeat
 * interval (which grows with the fleet), so idle long-polls cost the store no more than heartbeats do.
 * Work placed by this instance wakes the claim at once; agents also re-claim when a heartbeat says work waits.
 */
const pollInterval = (heartbeatIntervalMs: number) => Math.round(heartbeatIntervalMs * (0.75 + 0.25 * Math.random()));

/**
 * Bounds the claims an instance works on at once. A claim signs every new lease, so a burst (an apply that
 * gives work to thousands of nodes) could take all of the instance's time from heartbeats, which keep the
 * fleet's leases alive; past the bound, claims wait their turn instead.
 */
export class ClaimGate {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(private readonly max: number) {}

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.active >= this.max) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.active++;
    try {
      return await work();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }
}

export async function claim(
  deps: ResolvedDeps,
  timing: FleetTiming,
  tokens: LeaseTokens,
  gate: ClaimGate,
  node: NodePrincipal,
  waitMs: number,
  abort?: AbortSignal,
): Promise<ClaimResponse> {
  const deadline = deps.clock.now() + Math.min(waitMs, deps.config.maxClaimWait);
  let result = await gate.run(() => claimOnce(deps, timing, tokens, node));
  const { heartbeatIntervalMs } = await timing.current();
  // While waiting, only a cheap read runs each poll; the write (and the signing) happens once work is there.
  while (result.fresh === 0) {
    const remaining = deadline - deps.clock.now();
    if (remaining <= 0 || abort?.aborted) break;
    await deps.signal.wait(node.nodeId, Math.min(remaining, pollInterval(heartbeatIntervalMs)), abort);
    const work = await deps.store.client.execute({
      sql: "SELECT EXISTS (SELECT 1 FROM tasks WHERE node_id = ? AND state = 'placed' AND desired = 'run') AS work",
      args: [node.nodeId],
    });
    if (Number(work.rows[0]?.["work"]) === 1) result = await gate.run(() => claimOnce(deps, timing, tokens, node));
  }
  const t = await timing.current();
  return { leases: result.leases, heartbeatIntervalMs: t.heartbeatIntervalMs, leaseTtlMs: t.leaseTtlMs };
}

async function claimOnce(deps: ResolvedDeps, timing: FleetTiming, tokens: LeaseTokens, node: NodePrincipal): Promise<{ leases: LeaseGrant[]; fresh: number }> {
  const now = deps.clock.now();
  const { leaseTtlMs } = await timing.current();
  const args = { node: node.nodeId, gen: node.generation, now, ttl: leaseTtlMs };
  const ownNode = "EXISTS (SELECT 1 FROM nodes WHERE id = :node AND credential_generation = :gen)";
  const [, leased, held] = await writeBatch(deps.store.client, [
    {
      sql: `INSERT INTO events (at, namespace, job_id, task_id, node_id, type, message)
            SELECT :now, namespace, job_id, id, node_id, 'task.leased', 'leased at epoch ' || epoch
            FROM tasks WHERE node_id = :node AND state = 'placed' AND desired = 'run' AND ${ownNode}`,
      args,
    },
    {
      sql: `UPDATE tasks SET state = 'leased', lease_expires_at = :now + max(:ttl, fence_ms), updated_at = :now
            WHERE node_id = :node AND state = 'placed' AND desired = 'run' AND ${ownNode} RETURNING id`,
      args,
    },
    {
      // Unary + on lease_expires_at keeps SQLite on the node's own index instead of the fleet-wide state
      // index (a scan of every live lease per claim).
      // Each row as one JSON array (see jsonCell), and the spec beside it.
      sql: `SELECT json_array(t.id, t.job_id, t.slot, t.version, t.epoch, t.lease_expires_at) AS r, v.spec
            FROM tasks t JOIN job_versions v ON v.job_id = t.job_id AND v.version = t.version
            WHERE t.node_id = :node AND t.state IN ('leased', 'running') AND t.desired = 'run' AND +t.lease_expires_at >= :now AND ${ownNode}`,
      args,
    },
    { sql: "SELECT 1 FROM nodes WHERE id = :node AND credential_generation = :gen", args },
  ]).then((r) => {
    if (r[3]?.rows.length === 0) throw unauthorized("node credential is no longer valid: enroll again");
    return r;
  });
  // A node's tasks mostly share a few job versions: parse each spec once per claim.
  const specs = new Map<string, JobSpec>();
  const specOf = (jobId: string, version: number, text: unknown): JobSpec => {
    const key = `${jobId}@${version}`;
    let spec = specs.get(key);
    if (!spec) specs.set(key, (spec = JSON.parse(String(text)) as JobSpec));
    return spec;
  };
  const leases = await Promise.all(
    (held?.rows ?? []).map(async (row): Promise<LeaseGrant> => {
      const [taskId, jobId, slot, version, epoch, expiresAt] = jsonCell<[string, string, number, number, number, number]>(row, "r")!;
      const task = () => taskSpecOf(jobId, slot, version, specOf(jobId, version, row["spec"]));
      const lease = await tokens.sign({ taskId, nodeId: node.nodeId, epoch, version, task }, deps.config.leaseGrantTtl);
      return { taskId, epoch, lease, expiresAt };
    }),
  );
  // RETURNING makes the statement a query: count its rows (rowsAffected is not reported for it).
  return { leases, fresh: leased?.rows.length ?? 0 };
}
