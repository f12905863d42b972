// The side-by-side with Docker Swarm: both orchestrators drive one engine of the benchmark's own (bench-engine.ts)
// through the same scenarios, in interleaved runs (Swarm, leasehold, Swarm, leasehold, …), medians compared.
// Scenarios: deploy 20 replicas; scale 3 → 10 → 3; a rolling update of 6 at parallelism 1 and 2 (time to done,
// fewest healthy replicas during it); a crashed replica's replacement.
import { startBenchEngine } from "./bench-engine";
import { leaseholdContender } from "./leasehold-contender";
import { SETTINGS, SAMPLE_MS, type Contender, type ContenderName, type UpdateRun } from "./side-by-side";
import { dec, int, median } from "./stats";
import { swarmContender } from "./swarm-contender";

export interface ContenderRuns {
  deployMs: number[];
  scaleUpMs: number[];
  scaleDownMs: number[];
  survivorsKept: boolean[];
  /** By parallelism. */
  updates: Map<number, UpdateRun[]>;
  crashMs: number[];
}

export interface SideBySideResult {
  rounds: number;
  engineVersion: string;
  /** ms of one `docker service ls -q` per round: the CLI's start and one round trip, part of each Swarm request. */
  cliMs: number[];
  runs: Record<ContenderName, ContenderRuns>;
  errors: string[];
}

export interface SideBySideRow {
  figure: string;
  leasehold: string;
  swarm: string;
  ratio: string;
  runs: string;
  goal: string;
  met: string;
}

const emptyRuns = (): ContenderRuns => ({ deployMs: [], scaleUpMs: [], scaleDownMs: [], survivorsKept: [], updates: new Map(), crashMs: [] });

type Scenario = { label: string; run: (c: Contender, into: ContenderRuns) => Promise<string> };

function scenarios(): Scenario[] {
  const s = SETTINGS;
  const list: Scenario[] = [
    {
      label: `deploy ${s.deployReplicas}`,
      run: async (c, into) => {
        const ms = await c.deploy(s.deployReplicas);
        into.deployMs.push(ms);
        return `${int(ms)} ms`;
      },
    },
    {
      label: `scale ${s.scaleSteps.join(" → ")}`,
      run: async (c, into) => {
        const r = await c.scale(s.scaleSteps);
        into.scaleUpMs.push(r.stepMs[0] ?? Number.NaN);
        into.scaleDownMs.push(r.stepMs[1] ?? Number.NaN);
        into.survivorsKept.push(r.survivorsKept);
        return `${r.stepMs.map((m) => `${int(m)} ms`).join(", ")}; surviving slots kept their containers: ${r.survivorsKept ? "yes" : "no"}`;
      },
    },
  ];
  for (const p of s.updateParallelism) {
    list.push({
      label: `update ${s.updateReplicas} (parallelism ${p})`,
      run: async (c, into) => {
        const r = await c.rollingUpdate(s.updateReplicas, p);
        into.updates.set(p, [...(into.updates.get(p) ?? []), r]);
        return `done after ${int(r.ms)} ms, fewest healthy ${r.minHealthy} in ${r.samples} samples${r.completedMs !== undefined ? `; update status completed after ${int(r.completedMs)} ms` : ""}`;
      },
    });
  }
  list.push({
    label: `crash 1 of ${s.crashReplicas}`,
    run: async (c, into) => {
      const ms = await c.crash(s.crashReplicas);
      into.crashMs.push(ms);
      return `${int(ms)} ms`;
    },
  });
  return list;
}

export async function swarmSideBySide(opts: { rounds: number }, log: (line: string) => void): Promise<SideBySideResult> {
  const engine = await startBenchEngine(log);
  const result: SideBySideResult = { rounds: opts.rounds, engineVersion: engine.version, cliMs: [], runs: { Swarm: emptyRuns(), leasehold: emptyRuns() }, errors: [] };
  let leasehold: Contender | null = null;
  try {
    leasehold = await leaseholdContender(engine);
    const contenders = [swarmContender(engine), leasehold];
    // One unmeasured deploy each: the engine's first containers, the control plane's first job.
    for (const c of contenders) await c.deploy(3);
    for (let round = 1; round <= opts.rounds; round++) {
      const t = performance.now();
      await engine.cli(["service", "ls", "-q"]);
      result.cliMs.push(performance.now() - t);
      for (const scenario of scenarios()) {
        for (const c of contenders) {
          try {
            log(`    round ${round}, ${c.name}, ${scenario.label}: ${await scenario.run(c, result.runs[c.name])}`);
          } catch (err) {
            const message = err instanceof Error ? (err.message.split("\n")[0] ?? err.message) : String(err);
            result.errors.push(`round ${round}, ${c.name}, ${scenario.label}: ${message}`);
            log(`    round ${round}, ${c.name}, ${scenario.label} FAILED: ${message}`);
          }
        }
      }
    }
    return result;
  } finally {
    await leasehold?.close().catch((err: unknown) => log(`  leasehold contender close: ${String(err)}`));
    await engine.close();
  }
}

const msText = (values: readonly number[]): string => (values.length > 0 ? `${int(median(values))} ms` : "n/a");

function timeRow(figure: string, lh: readonly number[], sw: readonly number[]): SideBySideRow {
  const ratio = median(lh) / median(sw);
  return {
    figure,
    leasehold: msText(lh),
    swarm: msText(sw),
    ratio: Number.isFinite(ratio) ? `${dec(ratio, 2)}×` : "n/a",
    runs: `${lh.length}/${sw.length}`,
    goal: "≤ 1.0× Swarm",
    met: Number.isFinite(ratio) ? (ratio <= 1 ? "yes" : "**no**") : "**no**",
  };
}

function healthyRow(figure: string, lh: readonly number[], sw: readonly number[]): SideBySideRow {
  const mid = (v: readonly number[]): string => (v.length > 0 ? dec(median(v), Number.isInteger(median(v)) ? 0 : 1) : "n/a");
  const text = (v: readonly number[]): string => (v.length > 0 ? `${mid(v)} (worst ${Math.min(...v)})` : "n/a");
  const ok = lh.length > 0 && sw.length > 0 && median(lh) >= median(sw);
  return { figure, leasehold: text(lh), swarm: text(sw), ratio: `${mid(lh)} vs ${mid(sw)}`, runs: `${lh.length}/${sw.length}`, goal: "≥ Swarm", met: ok ? "yes" : "**no**" };
}

/** The table rows: leasehold's median, Swarm's, and their ratio (leasehold / Swarm) for times. */
export function sideBySideRows(r: SideBySideResult): SideBySideRow[] {
  const s = SETTINGS;
  const lh = r.runs.leasehold;
  const sw = r.runs.Swarm;
  const rows = [
    timeRow(`deploy ${s.deployReplicas} replicas: request → all ${s.deployReplicas} running`, lh.deployMs, sw.deployMs),
    timeRow(`scale ${s.scaleSteps[0]} → ${s.scaleSteps[1]}: request → settled`, lh.scaleUpMs, sw.scaleUpMs),
    timeRow(`scale ${s.scaleSteps[1]} → ${s.scaleSteps[2]}: request → settled`, lh.scaleDownMs, sw.scaleDownMs),
    {
      figure: `scale ${s.scaleSteps.join(" → ")}: the first ${s.scaleSteps[0]} slots keep their containers (no restart)`,
      leasehold: `${lh.survivorsKept.filter(Boolean).length}/${lh.survivorsKept.length} runs`,
      swarm: `${sw.survivorsKept.filter(Boolean).length}/${sw.survivorsKept.length} runs`,
      ratio: "",
      runs: `${lh.survivorsKept.length}/${sw.survivorsKept.length}`,
      goal: "every run",
      met: lh.survivorsKept.length > 0 && lh.survivorsKept.every(Boolean) ? "yes" : "**no**",
    },
  ];
  for (const p of s.updateParallelism) {
    const l = lh.updates.get(p) ?? [];
    const w = sw.updates.get(p) ?? [];
    rows.push(timeRow(`rolling update of ${s.updateReplicas} (parallelism ${p}): request → all on the new spec, healthy`, l.map((u) => u.ms), w.map((u) => u.ms)));
    rows.push(healthyRow(`rolling update of ${s.updateReplicas} (parallelism ${p}): fewest replicas running and healthy (every ${SAMPLE_MS} ms)`, l.map((u) => u.minHealthy), w.map((u) => u.minHealthy)));
  }
  rows.push(timeRow(`crash: \`docker kill\` of 1 of ${s.crashReplicas} → a replacement running`, lh.crashMs, sw.crashMs));
  return rows;
}

/** bench/results/swarm.md: the table, the settings both ran under, every run's figures and how they are taken. */
export function swarmMarkdown(r: SideBySideResult, header: string[]): string {
  const s = SETTINGS;
  const cell = (x: string): string => x.replace(/\|/g, "\\|");
  const list = (v: readonly number[]): string => (v.length > 0 ? v.map((m) => int(m)).join(", ") : "none");
  const perRun = (name: ContenderName): string[] => {
    const runs = r.runs[name];
    return [
      `- ${name}: deploy ${list(runs.deployMs)} ms; scale up ${list(runs.scaleUpMs)} ms, down ${list(runs.scaleDownMs)} ms; crash ${list(runs.crashMs)} ms`,
      ...s.updateParallelism.map((p) => {
        const u = runs.updates.get(p) ?? [];
        const completed = u.flatMap((x) => (x.completedMs !== undefined ? [x.completedMs] : []));
        return `  - update, parallelism ${p}: done ${list(u.map((x) => x.ms))} ms; fewest healthy ${u.map((x) => x.minHealthy).join(", ") || "none"}` +
          (completed.length > 0 ? `; Swarm's update status completed ${list(completed)} ms` : "");
      }),
    ];
  };
  return [
    "# leasehold beside Docker Swarm, on one engine",
    "",
    ...header,
    `- Engine: a second dockerd ${r.engineVersion} of the benchmark's own, in swarm mode (one manager, advertised on 127.0.0.1); leasehold: a control plane and one real agent, each in its own process, on the same engine.`,
    `- ${r.rounds} interleaved rounds: in each, every scenario runs for Swarm, then for leasehold. Figures are medians; runs are leasehold/Swarm.`,
    "",
    "| Figure | leasehold | Docker Swarm | leasehold / Swarm | Runs | Goal | Met |",
    "|---|---|---|---|---|---|---|",
    ...sideBySideRows(r).map((x) => `| ${cell(x.figure)} | ${cell(x.leasehold)} | ${cell(x.swarm)} | ${cell(x.ratio)} | ${x.runs} | ${cell(x.goal)} | ${x.met} |`),
    "",
    "## Settings, the same for both",
    "",
    `- Image \`leasehold-test/busybox\` (built with \`docker import\`), \`httpd -f -p 8080 -h /www\`; ${s.resources.cpu} millicores and ${s.resources.memory} MiB per replica (Swarm: the same as limit and reservation).`,
    `- Stop grace ${s.stopGraceMs / 1000} s (busybox httpd as PID 1 ignores SIGTERM, so each stop waits it out); restart delay ${s.restartDelayMs / 1000} s (Swarm \`--restart-delay\`, leasehold \`restart.delay\`).`,
    `- Rolling update: stop-first; health check \`sh -c true\` every ${s.healthIntervalMs / 1000} s, timeout ${s.healthIntervalMs / 1000} s, ${s.healthRetries} failures (Swarm \`--health-cmd\`, run by the engine; leasehold \`health: exec\`, run by the agent).`,
    `  A new copy runs healthy ${s.minHealthyMs / 1000} s before the next step: leasehold \`update.minHealthy: ${s.minHealthyMs / 1000}s\`; Swarm \`--update-delay ${s.minHealthyMs / 1000}s --update-monitor ${s.minHealthyMs / 1000}s\`.`,
    "  Swarm moves to the next task once the new one is running (with a health check: healthy) and then waits the delay; its monitor is only the window in which a failure pauses the update.",
    `- leasehold: heartbeat ${s.heartbeatInterval}, lease TTL ${s.leaseTtl}; the update changes the env (\`VERSION=1\` → \`2\`), so a new job version; Swarm: \`docker service update --env-add VERSION=2\`.`,
    "",
    "## How figures are taken",
    "",
    "- Every figure runs from just before the request (Swarm: the `docker` CLI, with `--detach` and `--no-resolve-image`; leasehold: the HTTP API; crash: `docker kill`)",
    "  until the engine and the orchestrator agree, polled every 100 ms: the engine's list of running containers of the service or job, and the orchestrator's tasks",
    "  (Swarm's task list, leasehold's job as the API shows it) with as many meant to run, all running.",
    `- The docker CLI's own start and one round trip (\`docker service ls -q\`) took ${int(median(r.cliMs))} ms (median); it is part of each Swarm request, as the HTTP request is of leasehold's.`,
    `- Healthy during an update, sampled every ${SAMPLE_MS} ms: Swarm, containers the engine runs and reports healthy; leasehold, whose containers carry no engine health check,`,
    "  containers the engine runs whose task the API shows running and healthy as the agent reported it. Done: exactly the replica count runs, all healthy, all of the new spec.",
    "- Scale: the containers of the first step's slots are compared after each step. Crash: a new container for the killed replica's slot, and the orchestrator counting it running.",
    "",
    "## Every run",
    "",
    ...perRun("Swarm"),
    ...perRun("leasehold"),
    ...(r.errors.length > 0 ? ["", "## Errors", "", ...r.errors.map((e) => `- ${e}`)] : []),
    "",
  ].join("\n");
}
