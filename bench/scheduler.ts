// Scheduler throughput: places a synthetic job mix on a synthetic fleet and reports placements per second.
// Run: npx tsx bench/scheduler.ts [--quick]   (full: 100,000 tasks on 10,000 nodes; quick: 10,000 on 1,000)
import { pathToFileURL } from "node:url";
import { schedule } from "../worker/scheduler/index";
import type { Constraint, JobView, NodeView, SchedulerInput } from "../worker/scheduler/index";

export interface SchedulerBenchOptions {
  tasks: number;
  nodes: number;
  runs: number;
}

export interface SchedulerBenchResult {
  placementsPerSec: number[];
  medianPlacementsPerSec: number;
  ms: number[];
  /** The fewest slots any plan accounted for (placed or unplaced with a reason); every slot should be. */
  leastCovered: number;
}

/** Deterministic numbers for the fleet generator (same fleet every run, so runs compare). */
function generator(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const REGIONS = ["eu-west", "eu-central", "us-east", "us-west", "ap-south", "ap-northeast", "sa-east", "af-south"];
const SIZES = [
  { cpu: 2_000, memory: 4_096 },
  { cpu: 4_000, memory: 8_192 },
  { cpu: 8_000, memory: 32_768 },
  { cpu: 16_000, memory: 65_536 },
  { cpu: 32_000, memory: 131_072 },
];

/**
 * A mixed fleet: five machine sizes across eight regions, disk and rack labels, a few GPU hosts, and a
 * sprinkling of nodes that are not ready, ineligible or draining. Jobs of 20–80 replicas with small to
 * mid-sized asks; a fifth constrained (regions, ssd, gpu absent), a fifth spread by region, a tenth with a
 * static host port. No existing tasks: every slot is a placement.
 */
export function syntheticFleet(opts: { tasks: number; nodes: number; seed?: number }): SchedulerInput {
  const rnd = generator(opts.seed ?? 42);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rnd() * items.length)] as T;
  const nodes: NodeView[] = [];
  for (let i = 0; i < opts.nodes; i++) {
    const r = rnd();
    const labels: Record<string, string> = { disk: rnd() < 0.6 ? "ssd" : "hdd", rack: `r${Math.floor(rnd() * 40)}` };
    if (rnd() < 0.05) labels.gpu = "a100";
    nodes.push({
      id: `node-${i}`,
      name: `host-${i}`,
      region: pick(REGIONS),
      labels,
      capacity: { ...pick(SIZES) },
      status: r < 0.01 ? "down" : r < 0.02 ? "disconnected" : "ready",
      eligible: rnd() > 0.005,
      draining: rnd() < 0.005,
    });
  }
  const jobs: JobView[] = [];
  let remaining = opts.tasks;
  for (let j = 0; remaining > 0; j++) {
    const replicas = Math.min(remaining, 20 + Math.floor(rnd() * 61));
    remaining -= replicas;
    const kind = rnd();
    const constraints: Constraint[] = [];
    if (kind < 0.1) constraints.push({ attribute: "region", operator: "in", value: [pick(REGIONS), pick(REGIONS)] });
    else if (kind < 0.17) constraints.push({ attribute: "label.disk", operator: "=", value: "ssd" });
    else if (kind < 0.2) constraints.push({ attribute: "label.gpu", operator: "not_exists" });
    const spread = kind >= 0.2 && kind < 0.4 ? { attribute: "region" } : undefined;
    const port = rnd() < 0.1 ? [{ name: "http", container: 8080, host: 20_000 + (j % 1000) }] : [];
    jobs.push({
      id: `job-${String(j).padStart(5, "0")}`,
      namespace: "default",
      name: `app-${j}`,
      version: 1,
      type: rnd() < 0.8 ? "service" : "batch",
      status: "running",
      replicas,
      resources: { cpu: pick([100, 250, 500, 1000]), memory: pick([128, 256, 512, 1024]) },
      ports: port,
      constraints,
      ...(spread === undefined ? {} : { spread }),
      reschedule: { attempts: 0, intervalMs: 3_600_000, delayMs: 1000, maxDelayMs: 60_000 },
      update: { parallelism: 2 },
    });
  }
  return { evalId: "bench", now: 1_700_000_000_000, jobs, nodes, tasks: [] };
}

export async function benchScheduler(opts: SchedulerBenchOptions): Promise<SchedulerBenchResult> {
  const input = syntheticFleet({ tasks: opts.tasks, nodes: opts.nodes });
  schedule({ ...input, evalId: "warm-up" }); // let the JIT settle before timing
  const ms: number[] = [];
  const placementsPerSec: number[] = [];
  const covered: number[] = [];
  for (let run = 0; run < opts.runs; run++) {
    const started = performance.now();
    const plan = schedule({ ...input, evalId: `bench-${run}` });
    const elapsed = performance.now() - started;
    ms.push(elapsed);
    placementsPerSec.push(plan.place.length / (elapsed / 1000));
    covered.push(plan.place.length + plan.unplaced.length);
    await new Promise((resolve) => setImmediate(resolve)); // let a caller's timers run between runs
  }
  const sorted = [...placementsPerSec].sort((a, b) => a - b);
  return { placementsPerSec, medianPlacementsPerSec: sorted[Math.floor(sorted.length / 2)] ?? 0, ms, leastCovered: Math.min(...covered) };
}

async function main(): Promise<void> {
  const quick = process.argv.includes("--quick");
  const opts = quick ? { tasks: 10_000, nodes: 1_000, runs: 5 } : { tasks: 100_000, nodes: 10_000, runs: 5 };
  const result = await benchScheduler(opts);
  const fmt = (n: number): string => Math.round(n).toLocaleString("en-US");
  console.log(`scheduler: ${fmt(opts.tasks)} tasks on ${fmt(opts.nodes)} nodes, ${opts.runs} runs (after one warm-up)`);
  result.ms.forEach((ms, i) => console.log(`  run ${i + 1}: ${ms.toFixed(1)} ms, ${fmt(result.placementsPerSec[i] ?? 0)} placements/s`));
  console.log(`  median: ${fmt(result.medianPlacementsPerSec)} placements/s`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
