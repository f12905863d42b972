// Claim: turns a node's placed tasks into leases and returns every lease the node holds (idempotent,
// so an agent that lost a reply, or restarted, gets its leases again), each token with its payload (the
// task spec, whose hash the token carries) beside it, and the stop orders for the copies it holds.
// Long-polls for new work: placements and stop orders, whichever instance made them.
import type { Row } from "@libsql/client";
import type { ClaimResponse, LeaseGrant, Revocation, TaskSpec } from "../../api/agent-protocol";
import type { JobSpec } from "../../api/job-spec";
import { payloadHash } from "../../api/payload-hash";
import { jsonCell, writeBatch } from "../../db/batch";
import type { ResolvedDeps, WorkSignal } from "../context";
import { unauthorized } from "../errors";
import type { NodePrincipal } from "../auth/tokens";
import type { LeaseTokens } from "./lease-token";
import { taskSpecOf } from "./task-spec";
import type { FleetTiming } from "./timing";
import { HELD_SQL } from "../../db/queries/task-states";
import { decodeMarker, decodeStopOrders, markerOf, stopOrdersOf } from "../../db/queries/work-marker";
import type { WorkWatch } from "./work-watch";
import { nodeEncryptionKeySchema } from "../../api/sealed";
import { sealTasks, type SealTarget } from "../secrets/seal-task";
import type { SecretVersions } from "../secrets/versions";

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

export interface ClaimWaits {
  /** In-process wake-ups: work this instance placed. */
  signal: WorkSignal;
  /** Wake-ups through the store: work any instance placed. */
  watch: WorkWatch;
}

/**
 * A claim answers at once when it leased something new, or when the node's work marker is above the one
 * the agent last saw (`workSeq`, echoed from its previous reply: stop orders and placements made between
 * two claims are not missed). Otherwise it waits until the marker moves (then answers with the node's
 * leases and stop orders as they are then) or `waitMs` passes. An agent that sends no `workSeq` is taken
 * to have seen the marker as this claim first reads it.
 */
export async function claim(
  deps: ResolvedDeps,
  timing: FleetTiming,
  tokens: LeaseTokens,
  gate: ClaimGate,
  waits: ClaimWaits,
  node: NodePrincipal,
  request: { waitMs: number; workSeq?: number | undefined },
  abort?: AbortSignal,
): Promise<ClaimResponse> {
  const deadline = deps.clock.now() + Math.min(request.waitMs, deps.config.maxClaimWait);
  let result = await gate.run(() => claimOnce(deps, timing, tokens, node));
  // A marker ahead of the node's (a store restored from an older copy) counts as the node's.
  const seen = Math.min(request.workSeq ?? result.marker.seq, result.marker.seq);
  let waited = false;
  // While waiting nothing reads the store for this claim alone: the watch reads for all claims at once.
  while (result.fresh === 0 && result.marker.seq <= seen) {
    const remaining = deadline - deps.clock.now();
    if (remaining <= 0 || abort?.aborted) break;
    waited = true;
    if (!(await waitForWork(waits, node.nodeId, result.marker.top, remaining, abort))) continue;
    result = await gate.run(() => claimOnce(deps, timing, tokens, node));
    waited = false;
  }
  const t = await timing.current();
  // A lease is current when the reply is sent, not when the poll started: one fenced during the wait (the
  // node drained, the task stopped or replaced) is left out, and the others carry their current expiry.
  const leases = waited ? await stillHeld(deps, node.nodeId, result.leases) : result.leases;
  const stops = result.stops.map((s): Revocation => ({ ...s, reason: "stopped", detail: "the task is no longer wanted: stop it and report it stopped" }));
  return { leases, stops, workSeq: result.marker.seq, heartbeatIntervalMs: t.heartbeatIntervalMs, leaseTtlMs: t.leaseTtlMs };
}

/** Whether work may be there (woken by either path) before `ms` passed or the request was aborted. */
function waitForWork(waits: ClaimWaits, nodeId: string, since: number, ms: number, abort: AbortSignal | undefined): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const stop = new AbortController();
    let done = false;
    const finish = (woken: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      abort?.removeEventListener("abort", aborted);
      stop.abort();
      resolve(woken);
    };
    const aborted = () => finish(false);
    const timer = setTimeout(() => finish(false), ms);
    abort?.addEventListener("abort", aborted, { once: true });
    // Both waits also resolve once `stop` fires (after the first answer): `done` keeps that answer. The
    // signal's own timeout is past ours, so its resolving before ours is a wake-up.
    void waits.signal.wait(nodeId, ms + 1_000, stop.signal).then(() => finish(true));
    void waits.watch.wait(nodeId, since, stop.signal).then(() => finish(true));
  });
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

interface ClaimRead {
  leases: LeaseGrant[];
  /** Leases granted by this read. */
  fresh: number;
  stops: { taskId: string; epoch: number }[];
  /** The node's work marker and the sequence's top, as this read saw them. */
  marker: { seq: number; top: number };
}

async function claimOnce(deps: ResolvedDeps, timing: FleetTiming, tokens: LeaseTokens, node: NodePrincipal): Promise<ClaimRead> {
  const { clock } = deps;
  await clock.sync(deps.store.client);
  const storeClock = clock.inBatch();
  const now = clock.now();
  const { leaseTtlMs } = await timing.current();
  const args = { node: node.nodeId, gen: node.generation, now, ttl: leaseTtlMs };
  const ownNode = "EXISTS (SELECT 1 FROM nodes WHERE id = :node AND credential_generation = :gen)";
  const [storeClockResult, , leased, held, own, stops, sealing] = await writeBatch(deps.store.client, [
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
      sql: `SELECT json_array(t.id, t.job_id, t.slot, t.version, t.epoch, t.lease_expires_at) AS r, v.spec, v.secret_versions
            FROM tasks t JOIN job_versions v ON v.job_id = t.job_id AND v.version = t.version
            WHERE t.node_id = :node AND t.state IN ${HELD_SQL} AND t.desired = 'run' AND +t.lease_expires_at >= :now AND ${ownNode}`,
      args,
    },
    // The credential check, with the marker read in the same snapshot as the leases and stop orders.
    markerOf(args),
    stopOrdersOf(args),
    // What sealing a grant to this node takes, read here rather than after: a claim is one round trip.
    { sql: "SELECT name, region, encryption_key FROM nodes WHERE id = :node", args },
  ]);
  const marker = decodeMarker(own);
  if (!marker) throw unauthorized("node credential is no longer valid: enroll again");
  storeClock.take(storeClockResult);
  // A node's tasks mostly share a few job versions: parse each spec once per claim.
  const specs = new Map<string, JobSpec>();
  const specOf = (jobId: string, version: number, text: unknown): JobSpec => {
    const key = `${jobId}@${version}`;
    let spec = specs.get(key);
    if (!spec) specs.set(key, (spec = JSON.parse(String(text)) as JobSpec));
    return spec;
  };
  const toSeal: SealTarget[] = [];
  const leases = await Promise.all(
    (held?.rows ?? []).map(async (row): Promise<LeaseGrant> => {
      const [taskId, jobId, slot, version, epoch, expiresAt] = jsonCell<[string, string, number, number, number, number]>(row, "r")!;
      const secretsText = row["secret_versions"] === null || row["secret_versions"] === undefined ? null : String(row["secret_versions"]);
      const secretVersions = secretsText === null ? null : (JSON.parse(secretsText) as SecretVersions);
      // The payload travels with every grant; it and its hash are a pure function of the version's stored
      // spec (and secret versions) and the slot, so both are kept per instance, keyed by those (the spec's
      // text itself: a job deleted and made again reuses its id and version numbers).
      const { task, hash } = await payloadOf(jobId, slot, version, `${String(row["spec"])}\u0000${secretsText ?? ""}`, () =>
        taskSpecOf(jobId, slot, version, specOf(jobId, version, row["spec"]), secretVersions),
      );
      if (task.sealed) toSeal.push({ taskId, epoch, ph: hash, slot, version, spec: specOf(jobId, version, row["spec"]), secretVersions });
      const lease = await tokens.sign({ taskId, nodeId: node.nodeId, epoch, version, payloadHash: hash }, deps.config.leaseGrantTtl);
      return { taskId, epoch, lease, expiresAt, task };
    }),
  );
  if (toSeal.length > 0) {
    const sealed = await sealForNode(deps, node.nodeId, sealing?.rows[0], toSeal);
    for (const grant of leases) {
      const jwe = sealed.get(grant.taskId);
      if (jwe !== undefined) grant.sealed = jwe;
    }
  }
  // RETURNING makes the statement a query: count its rows (rowsAffected is not reported for it).
  deps.metrics.inc("leasehold_lease_grants_total", {}, leased?.rows.length ?? 0);
  return { leases, fresh: leased?.rows.length ?? 0, stops: decodeStopOrders(stops), marker };
}

/** Payloads remembered per instance; the oldest are forgotten first. */
const PAYLOAD_CACHE_LIMIT = 20_000;
const payloads = new Map<string, { task: TaskSpec; hash: string }>();

async function payloadOf(jobId: string, slot: number, version: number, specText: string, build: () => TaskSpec): Promise<{ task: TaskSpec; hash: string }> {
  const key = `${jobId}\u0000${slot}\u0000${version}\u0000${specText}`;
  const hit = payloads.get(key);
  if (hit) return hit;
  const task = build();
  const entry = { task, hash: await payloadHash(task) };
  if (payloads.size >= PAYLOAD_CACHE_LIMIT) {
    const oldest = payloads.keys().next();
    if (!oldest.done) payloads.delete(oldest.value);
  }
  payloads.set(key, entry);
  return entry;
}

/**
 * The sealed payloads of a node's leases that carry secrets. A node that registered no encryption key (an
 * agent from before secrets) gets its grants without them: its agent cannot run those tasks, and says so.
 */
async function sealForNode(deps: ResolvedDeps, nodeId: string, row: Row | undefined, targets: SealTarget[]): Promise<Map<string, string>> {
  const key = row?.["encryption_key"] ? nodeEncryptionKeySchema.safeParse(JSON.parse(String(row["encryption_key"]))) : undefined;
  if (!row || !key?.success) {
    deps.log("claim: tasks with secrets held by a node with no encryption key", { nodeId, tasks: targets.length }, "warn");
    return new Map();
  }
  return sealTasks(deps.store.client, deps.secrets, deps.keys, { name: String(row["name"]), region: String(row["region"]), key: key.data }, targets);
}
