// Failover: a tenth of a hollow fleet goes silent; times until every task it held runs again on another agent,
// as a multiple of the lease TTL, while sampling that no task is ever held under two valid leases.
import { hollowJob, startControlPlane } from "./cluster";
import { unplacedReasons } from "./heartbeat-bench";
import { LeaseWatch, overCommittedNodes, runStateCounts, sampleLeases, unheldRunningTasks } from "./invariants";
import { RemoteFleet } from "./remote-fleet";
import { sleep, waitFor } from "./stats";

export interface FailoverOptions {
  agents: number;
  tasks: number;
  /** Fraction of the agents to stop. */
  stopFraction: number;
  capMs: number;
}

export interface FailoverResult {
  lostTasks: number;
  stoppedAgents: number;
  /** From stopping the agents to every one of their slots running on another agent. */
  recoveryMs: number;
  leaseTtlMs: number;
  ttlMultiple: number;
  recovered: boolean;
  leases: LeaseWatch;
  overCommitted: number;
  unheld: number;
  states: Record<string, number>;
  /** Where the time went: ms after the stop of the first and last event of each type (from the events table). */
  timeline: { type: string; firstMs: number; lastMs: number; count: number }[];
  /** Latest lease expiry among the lost tasks, ms after the stop: the earliest a replacement may be placed. */
  lastExpiryMs: number;
}

const CONFIG = { heartbeatInterval: "1s", leaseTtl: "3s", sweepInterval: "500ms" };

export async function failover(opts: FailoverOptions): Promise<FailoverResult> {
  const cp = await startControlPlane({ config: CONFIG });
  const fleet = await RemoteFleet.start(cp.url, 1);
  // Room for twice the fair share, so the survivors can take the lost tasks.
  const perAgent = Math.ceil((2 * opts.tasks) / opts.agents);
  const task = { cpu: 100, memory: 64 };
  try {
    await fleet.enroll(await cp.joinToken(), opts.agents, "fo", { cpu: perAgent * task.cpu, memory: perAgent * task.memory, concurrency: 16 });
    await fleet.start({ claimLoop: true, claimWaitMs: 20_000 });
    const applied = await cp.apply(hollowJob("failover", opts.tasks, task));
    if ((applied.evaluation?.placed ?? 0) !== opts.tasks) throw new Error(`placed ${applied.evaluation?.placed ?? 0} of ${opts.tasks} tasks (unplaced: ${unplacedReasons(applied)})`);
    await waitFor("every task running before the failure", 60_000, 100, async () => {
      const states = await runStateCounts(cp.db);
      return (states["running"] ?? 0) === opts.tasks ? true : undefined;
    });
    const leaseTtlMs = (await fleet.status()).ttlMs || 3_000;

    // Stop the agents holding the most leases: the worst case for this fraction of the fleet.
    const count = Math.max(1, Math.round(opts.agents * opts.stopFraction));
    const victims = await fleet.busiest(count);
    const victimNodes = new Set(victims);
    const lostSlots = await cp.db.execute({
      sql: `SELECT job_id, slot FROM tasks WHERE desired = 'run' AND state = 'running' AND node_id IN (${victims.map(() => "?").join(",")})`,
      args: [...victimNodes],
    });
    const lost = lostSlots.rows.map((r) => `${String(r["job_id"])}#${Number(r["slot"])}`);

    const watch = new LeaseWatch();
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        watch.add(await sampleLeases(cp.db, () => fleet.held()));
        await sleep(100);
      }
    })();

    const expiries = await cp.db.execute({
      sql: `SELECT max(lease_expires_at) AS e FROM tasks WHERE desired = 'run' AND state = 'running' AND node_id IN (${victims.map(() => "?").join(",")})`,
      args: [...victimNodes],
    });
    const stoppedWall = Date.now();
    const stoppedAt = performance.now();
    await fleet.stopNodes(victims);
    let recovered = false;
    while (performance.now() - stoppedAt < opts.capMs) {
      const rows = await cp.db.execute("SELECT job_id, slot, node_id FROM tasks WHERE desired = 'run' AND state = 'running'");
      const elsewhere = new Set(rows.rows.filter((r) => !victimNodes.has(String(r["node_id"]))).map((r) => `${String(r["job_id"])}#${Number(r["slot"])}`));
      if (lost.every((slot) => elsewhere.has(slot))) {
        recovered = true;
        break;
      }
      await sleep(50);
    }
    const recoveryMs = performance.now() - stoppedAt;
    // Keep sampling a little past recovery: the stopped agents still hold their old leases.
    await sleep(500);
    sampling = false;
    await sampler;
    const events = await cp.db.execute({ sql: "SELECT type, min(at) AS first, max(at) AS last, count(*) AS n FROM events WHERE at >= ? GROUP BY type ORDER BY min(at)", args: [stoppedWall] });
    const timeline = events.rows.map((r) => ({ type: String(r["type"]), firstMs: Number(r["first"]) - stoppedWall, lastMs: Number(r["last"]) - stoppedWall, count: Number(r["n"]) }));
    return {
      lostTasks: lost.length,
      stoppedAgents: victims.length,
      recoveryMs,
      leaseTtlMs,
      ttlMultiple: recoveryMs / leaseTtlMs,
      recovered,
      leases: watch,
      overCommitted: await overCommittedNodes(cp.db),
      unheld: await unheldRunningTasks(cp.db, await fleet.held()),
      states: await runStateCounts(cp.db),
      timeline,
      lastExpiryMs: Number(expiries.rows[0]?.["e"] ?? 0) - stoppedWall,
    };
  } finally {
    await fleet.stop();
    await cp.close();
  }
}
