// C1M-lite: jobs totalling many tasks applied onto a hollow fleet that claims and heartbeats like real agents;
// times apply → every task leased and reported running, and counts database round trips per placed task.
import { hollowJob, startControlPlane } from "./cluster";
import { topShapes } from "./heartbeat-bench";
import { RemoteFleet } from "./remote-fleet";
import { countTasks, LeaseWatch, overCommittedNodes, runStateCounts, sampleLeases, unheldRunningTasks } from "./invariants";
import { sleep } from "./stats";

export interface C1mOptions {
  tasks: number;
  agents: number;
  /** Give up waiting for every task to run after this long (from the first apply). */
  capMs: number;
  /** Processes the hollow fleet is spread over. */
  fleetProcesses: number;
}

export interface C1mResult {
  tasks: number;
  agents: number;
  jobs: number;
  /** From the first apply to every task running (or to the cap). */
  seconds: number;
  reachedAll: boolean;
  running: number;
  tasksPerSec: number;
  applyMs: number[];
  applyRoundTrips: number;
  /** HTTP requests the agents made between the first apply and the end (each is one DB batch by design). */
  claims: number;
  heartbeats: number;
  /** Calls counted on the control plane's own libSQL client in the same window (execute + batch). */
  dbCalls: number;
  failedRequests: number;
  leases: LeaseWatch;
  overCommitted: number;
  unheld: number;
  states: Record<string, number>;
  /** The most frequent reasons for failed agent requests. */
  failureReasons: string;
  /** Set when an apply failed or timed out (the cap counts from the first apply). */
  applyError: string;
  /** Nodes by stored status at the end (overload shows as nodes marked down). */
  nodeStates: Record<string, number>;
}

const MAX_REPLICAS = 10_000;

export async function c1mLite(opts: C1mOptions, log: (line: string) => void): Promise<C1mResult> {
  const cp = await startControlPlane({ config: {} });
  const fleet = await RemoteFleet.start(cp.url, opts.fleetProcesses);
  try {
    const setup = Date.now();
    await fleet.enroll(await cp.joinToken(), opts.agents, "c1m", { concurrency: 16 });
    await fleet.start({ claimLoop: true, claimWaitMs: 20_000 });
    log(`  ${opts.agents} agents enrolled and running their loops (${((Date.now() - setup) / 1000).toFixed(1)} s)`);
    await sleep(1_000);

    const counters = async () => (await fleet.status()).counters;
    const c0 = await counters();
    const before = { claims: c0.claim, heartbeats: c0.heartbeat, failed: c0.failed, db: await cp.stats() };
    const started = Date.now();
    const applyMs: number[] = [];
    let applyRoundTrips = 0;
    let remaining = opts.tasks;
    let jobs = 0;
    let applyError = "";
    const deadline = started + opts.capMs;
    while (remaining > 0 && Date.now() < deadline) {
      const replicas = Math.min(MAX_REPLICAS, remaining);
      const t = Date.now();
      let r;
      try {
        r = await cp.apply(hollowJob(`c1m-${jobs++}`, replicas), Math.max(1_000, deadline - Date.now()));
      } catch (err) {
        const logged = cp.logTail().trim().split("\n").slice(-3).join(" | ").slice(-400);
        applyError = `apply ${jobs} did not succeed: ${err instanceof Error ? err.message.slice(0, 200) : String(err)}${logged ? ` (control plane log: ${logged})` : ""}`;
        log(`  ${applyError}`);
        break;
      }
      applyMs.push(Date.now() - t);
      applyRoundTrips += r.evaluation?.roundTrips ?? 0;
      remaining -= replicas;
    }
    log(`  applied ${opts.tasks - remaining} of ${opts.tasks} tasks in ${jobs} jobs (${applyMs.map((ms) => `${ms} ms`).join(", ")})`);

    let running = 0;
    const watch = new LeaseWatch();
    let lastLog = Date.now();
    let lastSample = 0;
    while (Date.now() < deadline) {
      running = await countTasks(cp.db, "desired = 'run' AND state = 'running'");
      if (running >= opts.tasks) break;
      // Every agent's leases cross a process boundary for each sample: not too often.
      if (Date.now() - lastSample > 5_000) {
        lastSample = Date.now();
        watch.add(await sampleLeases(cp.db, () => fleet.held()));
      }
      if (Date.now() - lastLog > 10_000) {
        lastLog = Date.now();
        log(`    ${running} of ${opts.tasks} running after ${((Date.now() - started) / 1000).toFixed(0)} s`);
      }
      await sleep(200);
    }
    const seconds = (Date.now() - started) / 1000;
    const end = await fleet.status();
    log(`  control-plane DB time by statement shape: ${topShapes(before.db, await cp.stats())}`);
    const after = { claims: end.counters.claim, heartbeats: end.counters.heartbeat, failed: end.counters.failed, db: await cp.stats() };
    watch.add(await sampleLeases(cp.db, () => fleet.held()));
    const result: C1mResult = {
      tasks: opts.tasks,
      agents: opts.agents,
      jobs,
      seconds,
      reachedAll: running >= opts.tasks,
      running,
      tasksPerSec: running / seconds,
      applyMs,
      applyRoundTrips,
      claims: after.claims - before.claims,
      heartbeats: after.heartbeats - before.heartbeats,
      dbCalls: after.db.db.execute + after.db.db.batch - (before.db.db.execute + before.db.db.batch),
      failedRequests: after.failed - before.failed,
      leases: watch,
      overCommitted: await overCommittedNodes(cp.db),
      unheld: await unheldRunningTasks(cp.db, await fleet.held()),
      states: await runStateCounts(cp.db),
      applyError,
      failureReasons: end.failureSummary,
      nodeStates: Object.fromEntries((await cp.db.execute("SELECT status, count(*) AS n FROM nodes GROUP BY status")).rows.map((r) => [String(r["status"]), Number(r["n"])])),
    };
    return result;
  } finally {
    await fleet.stop();
    await cp.close();
  }
}
