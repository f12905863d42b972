// Heartbeat scenarios: the highest heartbeat rate with p99 under 100 ms (autocannon replaying agents' heartbeats),
// the control plane's CPU per heartbeat, and a sustained fleet heartbeating on its own for a while with no lease lost.
import type { ConfigInput } from "../worker/config";
import { availableParallelism } from "node:os";
import type { ControlPlaneStats } from "./control-plane-server";
import { processCpuMs } from "./processes";
import { hollowJob, startControlPlane, type ApplyResponse, type BenchControlPlane, type StartOptions } from "./cluster";
import { RemoteFleet } from "./remote-fleet";
import { countTasks, LeaseWatch, sampleLeases } from "./invariants";
import { runLoad, searchRate, type LoadResult, type OneRequest } from "./load";
import { percentile, sleep } from "./stats";

/** Tasks per hollow agent in the heartbeat scenarios. */
export const LEASES_PER_AGENT = 10;
const TASK = { cpu: 100, memory: 64 };
/** Node capacity for exactly LEASES_PER_AGENT tasks, so placement fills every agent evenly. */
const CAPACITY = { cpu: TASK.cpu * LEASES_PER_AGENT, memory: TASK.memory * LEASES_PER_AGENT };
const MAX_REPLICAS = 10_000;

/**
 * Enrolls up to `agents` hollow agents (as many as `deadline` allows) and applies 10 tasks per enrolled agent
 * (in jobs of at most 10,000), so each agent is given 10.
 */
export async function fleetWithPlacements(
  cp: BenchControlPlane,
  agents: number,
  prefix: string,
  opts: { deadline?: number; keepAliveMs: number; processes: number },
): Promise<{ fleet: RemoteFleet; roundTrips: number; jobs: number }> {
  const deadline = opts.deadline ?? Number.POSITIVE_INFINITY;
  const fleet = await RemoteFleet.start(cp.url, opts.processes);
  try {
    // Nodes that have not heartbeat for two intervals take no placements: keep the fleet heartbeating meanwhile.
    const alive = await fleet.keepAlive(opts.keepAliveMs);
    try {
      await fleet.enroll(await cp.joinToken(), agents, prefix, { ...CAPACITY, concurrency: 16, ...(Number.isFinite(deadline) ? { deadline } : {}) });
      const placed = await applyTenEach(cp, (await fleet.status()).agents, prefix, deadline);
      return { fleet, ...placed };
    } finally {
      await alive.stop();
    }
  } catch (err) {
    await fleet.stop();
    throw err;
  }
}

async function applyTenEach(
  cp: BenchControlPlane,
  agents: number,
  prefix: string,
  deadline: number,
  opts: { partial?: boolean } = {},
): Promise<{ roundTrips: number; jobs: number }> {
  let remaining = agents * LEASES_PER_AGENT;
  let roundTrips = 0;
  let jobs = 0;
  while (remaining > 0 && Date.now() < deadline) {
    const replicas = Math.min(MAX_REPLICAS, remaining);
    let r;
    try {
      const timeoutMs = Number.isFinite(deadline) ? Math.max(1_000, deadline - Date.now()) : undefined;
      r = await cp.apply(hollowJob(`${prefix}-job-${jobs++}`, replicas, TASK), timeoutMs);
    } catch (err) {
      if (Date.now() >= deadline) break; // out of budget: the caller sees fewer tasks than agents × 10
      throw err;
    }
    // With `partial`, slots left waiting are placed later, as their nodes report ready (the caller waits).
    if ((r.evaluation?.placed ?? 0) !== replicas && !opts.partial) throw new Error(`placed ${r.evaluation?.placed ?? 0} of ${replicas} tasks (unplaced: ${unplacedReasons(r)})`);
    roundTrips += r.evaluation?.roundTrips ?? 0;
    remaining -= replicas;
  }
  return { roundTrips, jobs };
}

/** Unplaced slots counted by reason, e.g. "no-capacity ×12". */
export function unplacedReasons(r: ApplyResponse): string {
  const counts = new Map<string, number>();
  for (const u of r.evaluation?.unplaced ?? []) {
    const reason = typeof u === "object" && u !== null && "reason" in u ? String((u as { reason: unknown }).reason) : "unknown";
    counts.set(reason, (counts.get(reason) ?? 0) + 1);
  }
  return [...counts.entries()].map(([reason, n]) => `${reason} ×${n}`).join(", ") || "none reported";
}

/**
 * Sets up `agents` agents holding 10 leases each (claimed and reported running), then stops the fleet and returns
 * a generator of their heartbeats (the same bodies HollowAgent.heartbeat sends), rotating through the agents,
 * for autocannon to send from then on.
 */
async function replayableHeartbeats(cp: BenchControlPlane, agents: number, prefix: string): Promise<() => OneRequest> {
  const { fleet } = await fleetWithPlacements(cp, agents, prefix, { keepAliveMs: 4_000, processes: 1 });
  await fleet.claimAll();
  await fleet.heartbeatAll();
  const requests: OneRequest[] = (await fleet.heartbeatRequests()).map((r) => ({
    method: "POST",
    path: "/v1/agent/heartbeat",
    headers: { "content-type": "application/json", authorization: `Bearer ${r.credential}` },
    body: r.body,
  }));
  await fleet.stop();
  let i = 0;
  return () => requests[i++ % requests.length] as OneRequest;
}

export interface ThroughputRun {
  best: LoadResult | null;
  /** Control-plane CPU (user + system) per 1,000 heartbeats at the best step. */
  cpuMsPer1000: number;
  /** The same from /proc/<pid>/stat, as a cross-check. */
  procCpuMsPer1000: number;
  steps: LoadResult[];
}

export interface ThroughputOptions {
  agents: number;
  runs: number;
  stepSec: number;
  maxConnections: number;
}

/** Leases outlive the whole search: only heartbeats are measured, not expiries and replacements. */
const THROUGHPUT_CONFIG: ConfigInput = { heartbeatInterval: "5s", leaseTtl: "1h" };

/**
 * Sets up a control plane with `agents` agents holding 10 leases each (claimed and reported running), then searches
 * `runs` times for the highest rate at which heartbeats keep p99 under 100 ms.
 */
export async function heartbeatThroughput(opts: ThroughputOptions, log: (line: string) => void): Promise<ThroughputRun[]> {
  const cp = await startControlPlane({ config: THROUGHPUT_CONFIG });
  try {
    const next = await replayableHeartbeats(cp, opts.agents, "hb");
    await runLoad({ url: cp.url, durationSec: 2, connections: 4, next }); // warm-up
    const runs: ThroughputRun[] = [];
    for (let run = 0; run < opts.runs; run++) {
      const cpuAt = new Map<LoadResult, { stats: number; proc: number }>();
      let before = { stats: 0, proc: 0 };
      const search = await searchRate(
        { url: cp.url, durationSec: opts.stepSec, next, maxConnections: opts.maxConnections, p99BoundMs: 100 },
        {
          async before() {
            const s = await cp.stats();
            before = { stats: (s.cpu.user + s.cpu.system) / 1000, proc: cp.cpuMs() };
          },
          async after(step) {
            const s = await cp.stats();
            cpuAt.set(step, { stats: (s.cpu.user + s.cpu.system) / 1000 - before.stats, proc: cp.cpuMs() - before.proc });
            log(`    ${step.connections} connections: ${step.rps.toFixed(0)}/s, p50 ${step.p50} ms, p99 ${step.p99} ms, failures ${step.failures}`);
          },
        },
      );
      const cpu = search.best ? cpuAt.get(search.best) : undefined;
      const per1000 = (ms: number | undefined): number => (search.best && ms !== undefined && search.best.ok > 0 ? (ms / search.best.ok) * 1000 : Number.NaN);
      runs.push({ best: search.best, cpuMsPer1000: per1000(cpu?.stats), procCpuMsPer1000: per1000(cpu?.proc), steps: search.steps });
      log(`  run ${run + 1}: best ${search.best ? `${search.best.rps.toFixed(0)}/s at p99 ${search.best.p99} ms` : "none"}`);
    }
    return runs;
  } finally {
    await cp.close();
  }
}

/** The profiled variant: a fixed number of connections for a while, with the control plane under --cpu-prof. */
export async function profiledHeartbeats(
  opts: { agents: number; durationSec: number; connections: number; profileDir: string },
): Promise<{ load: LoadResult; window: { startUs: number; endUs: number }; db: { shape: string; calls: number; ms: number }[] }> {
  const start: StartOptions = { config: THROUGHPUT_CONFIG, nodeArgs: ["--cpu-prof", "--cpu-prof-dir", opts.profileDir] };
  const cp = await startControlPlane(start);
  try {
    const next = await replayableHeartbeats(cp, opts.agents, "prof");
    const before = await cp.stats();
    const load = await runLoad({ url: cp.url, durationSec: opts.durationSec, connections: opts.connections, next });
    const after = await cp.stats();
    return { load, window: { startUs: before.monotonicUs, endUs: after.monotonicUs }, db: dbByShapeBetween(before, after) };
  } finally {
    await cp.close();
  }
}

export interface SustainedResult {
  agents: number;
  intervalMs: number;
  leaseTtlMs: number;
  durationSec: number;
  setupSec: number;
  heartbeats: number;
  expectedHeartbeats: number;
  p50: number;
  /** Over answered heartbeats plus, as lower bounds, the ages of those still unanswered at the end. */
  p99: number;
  unanswered: number;
  /** Tasks lost (state 'lost', or lost_at set) during the window. */
  lostTasks: number;
  /** The same, during set-up (reported, not counted as the window's losses). */
  lostInSetup: number;
  /** Leases whose agent went longer than the lease TTL without an answered heartbeat (they would have lapsed). */
  lapsedLeases: number;
  /** Revocations agents were told about, and failed heartbeat requests. */
  refusedRenewals: number;
  failedRequests: number;
  leases: LeaseWatch;
  cpuMsPer1000: number;
  /** Set when the window was not run (set-up did not finish within its budget). */
  note: string;
  /** The most frequent reasons for failed requests. */
  failureReasons: string;
}

function notMeasured(opts: { agents: number; durationSec: number }, setupSec: number, note: string): SustainedResult {
  const nan = Number.NaN;
  return {
    agents: opts.agents,
    intervalMs: nan,
    leaseTtlMs: nan,
    durationSec: opts.durationSec,
    setupSec,
    heartbeats: 0,
    expectedHeartbeats: 0,
    p50: nan,
    p99: nan,
    unanswered: 0,
    lostTasks: nan,
    lostInSetup: nan,
    lapsedLeases: nan,
    refusedRenewals: nan,
    failedRequests: nan,
    leases: new LeaseWatch(),
    cpuMsPer1000: nan,
    note,
    failureReasons: "",
  };
}

/**
 * A fleet heartbeating on its own timers (no load generator), each agent holding 10 leases, on a control plane
 * configured with the interval and TTL under test from the start. Each agent starts heartbeating as soon as it
 * is enrolled, as a real agent does, so set-up (enroll, apply, claim) runs under the fleet's heartbeat load.
 * Claim long-polls are not run: the workload is heartbeats only. The window starts one interval after the
 * last claim, when every lease has been reported running. A lease counts as lapsed when its agent goes
 * longer than the TTL without an answered heartbeat during the window; tasks lost in set-up are reported apart.
 */
export async function sustainedHeartbeats(
  opts: { agents: number; interval: string; leaseTtl: string; durationSec: number; setupBudgetSec: number; fleetProcesses: number },
  log: (line: string) => void,
): Promise<SustainedResult> {
  const setupStarted = Date.now();
  const deadline = setupStarted + opts.setupBudgetSec * 1000;
  const cp = await startControlPlane({ config: { heartbeatInterval: opts.interval, leaseTtl: opts.leaseTtl } });
  let fleet: RemoteFleet | undefined;
  try {
    const lap = (what: string): void => log(`  ${what} (${((Date.now() - setupStarted) / 1000).toFixed(1)} s)`);
    const f = await RemoteFleet.start(cp.url, opts.fleetProcesses);
    fleet = f;
    await f.enroll(await cp.joinToken(), opts.agents, "sus", { ...CAPACITY, concurrency: 16, deadline, startHeartbeats: true });
    const enrolled = (await f.status()).agents;
    const placed = await applyTenEach(cp, enrolled, "sus", deadline, { partial: true });
    lap(`${enrolled} agents enrolled and heartbeating, ${placed.jobs} jobs applied`);
    // Nodes whose heartbeats were late under the set-up's load take their slots when they report ready.
    const want = enrolled * LEASES_PER_AGENT;
    let onNodes = 0;
    while (Date.now() < deadline && (onNodes = await countTasks(cp.db, "desired = 'run' AND state IN ('placed', 'leased', 'running')")) < want) await sleep(1_000);
    lap(`${onNodes} of ${want} tasks placed`);
    const claimed = await f.claimAll(16, deadline);
    lap(`${claimed} agents claimed their leases`);
    const leases = (await f.status()).leases;
    const setupSec = (Date.now() - setupStarted) / 1000;
    if (enrolled < opts.agents || leases < opts.agents * LEASES_PER_AGENT) {
      return notMeasured(opts, setupSec, `set-up exceeded its ${opts.setupBudgetSec} s budget: ${enrolled} of ${opts.agents} agents enrolled, ${leases} of ${opts.agents * LEASES_PER_AGENT} leases claimed`);
    }
    // One interval for every agent to report its new leases running.
    const status = await f.status();
    await sleep(status.intervalMs);

    const lostQuery = "state = 'lost' OR lost_at IS NOT NULL";
    const lostInSetup = await countTasks(cp.db, lostQuery);
    const cpuBefore = cp.cpuMs();
    const fleetCpuBefore = f.pids().map(processCpuMs);
    const dbBefore = await cp.stats();
    const before = await f.status();
    await f.takeLatencies();
    await f.record(true);
    await f.watchLapses(before.ttlMs);

    const watch = new LeaseWatch();
    const latencies: number[] = [];
    const windowEnd = Date.now() + opts.durationSec * 1000;
    let lastSample = 0;
    while (Date.now() < windowEnd) {
      await sleep(Math.min(1_000, Math.max(0, windowEnd - Date.now())));
      latencies.push(...(await f.takeLatencies()));
      // Every agent's leases cross a process boundary for each sample: every 5 s is enough.
      if (Date.now() - lastSample >= 5_000) {
        lastSample = Date.now();
        watch.add(await sampleLeases(cp.db, () => f.held()));
      }
    }
    await f.record(false);
    const unanswered = await f.unansweredAges();
    latencies.push(...(await f.takeLatencies()));
    const after = await f.status();
    const lapsed = await f.lapsed();
    const heartbeats = after.counters.heartbeat - before.counters.heartbeat - unanswered.length;
    const cpu = cp.cpuMs() - cpuBefore;
    const fleetCpu = f.pids().reduce((sum, pid, i) => sum + processCpuMs(pid) - (fleetCpuBefore[i] ?? 0), 0);
    log(`  CPU in the window: control plane ${(cpu / 1000).toFixed(1)} s, fleet processes ${(fleetCpu / 1000).toFixed(1)} s, over ${opts.durationSec} s on ${availableParallelism()} cores`);
    log(`  control-plane DB time by statement shape in the window: ${topShapes(dbBefore, await cp.stats())}`);
    await f.stop();
    fleet = undefined;
    const lostAtEnd = await countTasks(cp.db, lostQuery);
    log(`  tasks lost during set-up (placements moved off nodes whose heartbeats were late, or lapsed leases): ${lostInSetup}`);
    const all = [...latencies, ...unanswered];
    return {
      agents: opts.agents,
      intervalMs: after.intervalMs,
      leaseTtlMs: after.ttlMs,
      durationSec: opts.durationSec,
      setupSec,
      heartbeats,
      expectedHeartbeats: after.intervalMs > 0 ? Math.round((opts.agents * opts.durationSec * 1000) / (after.intervalMs * 0.95)) : 0,
      p50: percentile(all, 50),
      p99: percentile(all, 99),
      unanswered: unanswered.length,
      lostTasks: lostAtEnd - lostInSetup,
      lostInSetup,
      lapsedLeases: lapsed,
      refusedRenewals: after.revocations - before.revocations,
      failedRequests: after.counters.failed - before.counters.failed,
      leases: watch,
      cpuMsPer1000: heartbeats > 0 ? (cpu / heartbeats) * 1000 : Number.NaN,
      note: "",
      failureReasons: after.failureSummary,
    };
  } finally {
    await fleet?.stop();
    await cp.close();
  }
}

/** DB calls and time by statement shape between two stats of one control plane, most time first. */
function dbByShapeBetween(before: ControlPlaneStats, after: ControlPlaneStats): { shape: string; calls: number; ms: number }[] {
  return Object.entries(after.dbByShape)
    .map(([shape, a]) => ({ shape, calls: a.calls - (before.dbByShape[shape]?.calls ?? 0), ms: a.ms - (before.dbByShape[shape]?.ms ?? 0) }))
    .filter((d) => d.calls > 0)
    .sort((x, y) => y.ms - x.ms);
}

/** The five statement shapes the control plane spent most DB time on between two stats, "shape: calls, ms". */
export function topShapes(before: ControlPlaneStats, after: ControlPlaneStats): string {
  return dbByShapeBetween(before, after)
    .slice(0, 5)
    .map((d) => `${d.shape.slice(0, 90)}: ${d.calls} calls, ${d.ms.toFixed(0)} ms`)
    .join("; ");
}

