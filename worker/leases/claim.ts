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
import { HELD_SQL } from "../../db/queries/task-states";

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
  let waited = false;
  // While waiting, only a cheap read runs each poll; the write (and the signing) happens once work is there.
  while (result.fresh === 0) {
    const remaining = deadline - deps.clock.now();
    if (remaining <= 0 || abort?.aborted) break;
    waited = true;
    await deps.signal.wait(node.nodeId, Math.min(remaining, pollInterval(heartbeatIntervalMs)), abort);
    const work = await deps.store.client.execute({
      sql: "SELECT EXISTS (SELECT 1 FROM tasks WHERE node_id = ? AND state = 'placed' AND desired = 'run') AS work",
      args: [node.nodeId],
    });
    if (Number(work.rows[0]?.["work"]) === 1) {
      result = await gate.run(() => claimOnce(deps, timing, tokens, node));
      waited = false;
    }
  }
  const t = await timing.current();
  // A lease is current when the reply is sent, not when the poll started: one fenced during the wait (the
  // node drained, the task stopped or replaced) is left out, and the others carry their current expiry.
  const leases = waited ? await stillHeld(deps, node.nodeId, result.leases) : result.leases;
  return { leases, heartbeatIntervalMs: t.heartbeatIntervalMs, leaseTtlMs: t.leaseTtlMs };
}

async function stillHeld(deps: ResolvedDeps, nodeId: string, leases: LeaseGrant[]): Promise<LeaseGrant[]> {
  if (leases.length === 0) return leases;
  const rows = await deps.store.client.execute({
    sql: `SELECT json_group_array(json_array(t.id, t.epoch, t.lease_expires_at)) AS v FROM tasks t
          WHERE t.id IN (SELECT value FROM json_each(:ids)) AND t.node_id = :node AND t.state IN ${HELD_SQL} AND t.desired = 'run' AND t.lease_expires_at >= :now`,
    args: { ids: JSON.stringify(leases.map((l) => l.taskId)), node: nodeId, now: deps.clock.now() },
  });
  const current = new Map((jsonCell<[string, number, number][]>(rows.rows[0], "v") ?? []).map(([id, epoch, expiresAt]) => [id, { epoch, expiresAt }]));
  return leases.flatMap((l) => {
    const c = current.get(l.taskId);
    return c && c.epoch === l.epoch ? [{ ...l, expiresAt: c.expiresAt }] : [];
  });
}

/**
 * Fencing at the grant: under stop-first a placed row is leased only while no other copy of its slot may
 * run (another row leased or running under a lease that has not lapsed, or lost with its loss still ahead).
 * The planner does not place such a slot; this holds the rule against plans built on stale state too.
 */
const SLOT_FREE = `(start_first = 1 OR NOT EXISTS (SELECT 1 FROM tasks o WHERE o.job_id = tasks.job_id AND o.slot = tasks.slot AND o.id != tasks.id
  AND ((o.state IN ${HELD_SQL} AND o.lease_expires_at >= :now) OR (o.state = 'lost' AND o.lost_at > :now))))`;

async function claimOnce(deps: ResolvedDeps, timing: FleetTiming, tokens: LeaseTokens, node: NodePrincipal): Promise<{ leases: LeaseGrant[]; fresh: number }> {
  const { clock } = deps;
  await clock.sync(deps.store.client);
  const storeClock = clock.inBatch();
  const now = clock.now();
  const { leaseTtlMs } = await timing.current();
  const args = { node: node.nodeId, gen: node.generation, now, ttl: leaseTtlMs };
  const ownNode = "EXISTS (SELECT 1 FROM nodes WHERE id = :node AND credential_generation = :gen)";
  const [storeClockResult, , leased, held] = await writeBatch(deps.store.client, [
    storeClock.statement,
    {
      sql: `INSERT INTO events (at, namespace, job_id, task_id, node_id, type, message)
            SELECT :now, namespace, job_id, id, node_id, 'task.leased', 'leased at epoch ' || epoch
            FROM tasks WHERE node_id = :node AND state = 'placed' AND desired = 'run' AND ${ownNode} AND ${SLOT_FREE}`,
      args,
    },
    {
      sql: `UPDATE tasks SET state = 'leased', lease_expires_at = :now + max(:ttl, fence_ms), updated_at = :now
            WHERE node_id = :node AND state = 'placed' AND desired = 'run' AND ${ownNode} AND ${SLOT_FREE} RETURNING id`,
      args,
    },
    {
      // Unary + on lease_expires_at keeps SQLite on the node's own index instead of the fleet-wide state
      // index (a scan of every live lease per claim).
      // Each row as one JSON array (see jsonCell), and the spec beside it.
      sql: `SELECT json_array(t.id, t.job_id, t.slot, t.version, t.epoch, t.lease_expires_at) AS r, v.spec
            FROM tasks t JOIN job_versions v ON v.job_id = t.job_id AND v.version = t.version
            WHERE t.node_id = :node AND t.state IN ${HELD_SQL} AND t.desired = 'run' AND +t.lease_expires_at >= :now AND ${ownNode}`,
      args,
    },
    { sql: "SELECT 1 FROM nodes WHERE id = :node AND credential_generation = :gen", args },
  ]).then((r) => {
    if (r[4]?.rows.length === 0) throw unauthorized("node credential is no longer valid: enroll again");
    return r;
  });
  storeClock.take(storeClockResult);
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
