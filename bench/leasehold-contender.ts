// leasehold as a contender: a control plane in its own process and one real agent in another, on the bench
// engine (DOCKER_HOST), jobs applied and scaled through the HTTP API, observed through the engine's container
// list and the job's tasks as the API shows them.
//
// The engine runs no health check of leasehold's (the agent probes its containers itself), so a copy counts
// as healthy when the engine runs it and the API shows its task running with the health its agent reported.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TEST_COMMAND, TEST_IMAGE } from "./ceilings";
import type { BenchEngine } from "./bench-engine";
import { startControlPlane, type BenchControlPlane } from "./cluster";
import { benchScript, onEarlyExit, spawnBenchChild, type Child } from "./processes";
import { SETTINGS, allContainers, containersBySlot, runningContainers, sameContainers, timeUntil, watchUpdate, type Contender, type EngineContainer, type ScaleRun, type UpdateRun } from "./side-by-side";

interface TaskView {
  id: string;
  slot: number;
  state: string;
  desired: string;
  health: string | null;
  restarts: number;
}

interface JobView {
  job: { version: number };
  tasks: TaskView[];
}

const LIVE = new Set(["pending", "placed", "leased", "running"]);
const seconds = (ms: number): string => `${ms / 1000}s`;

/** The job's settings, the same as the Swarm service's in swarm-contender.ts. */
function jobSpec(name: string, replicas: number, opts: { health?: boolean; parallelism?: number; version?: string } = {}): Record<string, unknown> {
  const s = SETTINGS;
  return {
    name,
    image: TEST_IMAGE,
    command: TEST_COMMAND,
    replicas,
    resources: s.resources,
    env: { VERSION: opts.version ?? "1" },
    stopGrace: seconds(s.stopGraceMs),
    restart: { mode: "always", delay: seconds(s.restartDelayMs) },
    ...(opts.health
      ? { health: { type: "exec", command: ["sh", "-c", "true"], interval: seconds(s.healthIntervalMs), timeout: seconds(s.healthIntervalMs), failures: s.healthRetries } }
      : {}),
    ...(opts.parallelism !== undefined ? { update: { parallelism: opts.parallelism, minHealthy: seconds(s.minHealthyMs), order: "stop-first" } } : {}),
  };
}

const slotOf = (c: EngineContainer): number | undefined => {
  const slot = Number(c.labels["io.leasehold.slot"]);
  return Number.isInteger(slot) ? slot : undefined;
};

export async function leaseholdContender(engine: BenchEngine): Promise<Contender> {
  const cp = await startControlPlane({ config: { heartbeatInterval: SETTINGS.heartbeatInterval, leaseTtl: SETTINGS.leaseTtl } });
  const dataDir = mkdtempSync(join(tmpdir(), "leasehold-bench-swarm-agent-"));
  const forget = onEarlyExit(() => rmSync(dataDir, { recursive: true, force: true }));
  const nodeName = `bench-side-${process.pid}`;
  let agent: Child<{ nodeId: string; pid: number }> | null = null;
  try {
    agent = await spawnBenchChild<{ nodeId: string; pid: number }>(
      benchScript("real-agent.ts"),
      { server: cp.url, joinToken: await cp.joinToken(), name: nodeName, dataDir },
      { env: { DOCKER_HOST: engine.host } },
    );
    await timeUntil("the agent's node to be ready", performance.now(), async () => {
      const r = await cp.db.execute({ sql: "SELECT status FROM nodes WHERE name = ?", args: [nodeName] });
      return r.rows[0]?.["status"] === "ready";
    });
  } catch (err) {
    await agent?.stop();
    await cp.close();
    rmSync(dataDir, { recursive: true, force: true });
    forget();
    throw err;
  }
  const running = agent;
  return createContender(engine, cp, running.ready.nodeId, async () => {
    await running.stop();
    await cp.close();
    rmSync(dataDir, { recursive: true, force: true });
    forget();
  });
}

function createContender(engine: BenchEngine, cp: BenchControlPlane, nodeId: string, close: () => Promise<void>): Contender {
  const docker = engine.docker;
  let seq = 0;
  const labelsOf = (name: string): string[] => [`io.leasehold.job=default/${name}`, `io.leasehold.node-id=${nodeId}`];
  const containers = (name: string): Promise<EngineContainer[]> => runningContainers(docker, labelsOf(name));
  const job = (name: string): Promise<JobView> => cp.api<JobView>("GET", `/v1/namespaces/default/jobs/${name}`);
  const live = (view: JobView): TaskView[] => view.tasks.filter((t) => LIVE.has(t.state));

  /** `replicas` containers run, and the job has as many live tasks, all running and meant to. */
  async function settled(name: string, replicas: number, healthy = false): Promise<boolean> {
    const [running, view] = await Promise.all([containers(name), job(name)]);
    const tasks = live(view);
    return running.length === replicas && tasks.length === replicas && tasks.every((t) => t.state === "running" && t.desired === "run" && (!healthy || t.health === "healthy"));
  }

  const untilSettled = (name: string, replicas: number, healthy = false): Promise<number> =>
    timeUntil(`${name} to run ${replicas} tasks`, performance.now(), () => settled(name, replicas, healthy));

  /** Stops the job, waits until none of its copies runs, and removes its exited containers (the agent keeps some for logs). */
  async function remove(name: string): Promise<void> {
    await cp.api("POST", `/v1/namespaces/default/jobs/${name}/stop`, {});
    await timeUntil(`${name} to stop`, performance.now(), async () => (await containers(name)).length === 0 && live(await job(name)).length === 0);
    for (const id of await allContainers(docker, labelsOf(name))) await docker.getContainer(id).remove({ force: true }).catch(() => undefined);
  }

  return {
    name: "leasehold",

    async deploy(replicas) {
      const name = `lh-deploy-${seq++}`;
      const t0 = performance.now();
      await cp.apply(jobSpec(name, replicas));
      try {
        return await timeUntil(`${name}: ${replicas} tasks running`, t0, () => settled(name, replicas));
      } finally {
        await remove(name);
      }
    },

    async scale(steps): Promise<ScaleRun> {
      const name = `lh-scale-${seq++}`;
      const [first, ...rest] = steps;
      await cp.apply(jobSpec(name, first ?? 1));
      try {
        await untilSettled(name, first ?? 1);
        const before = containersBySlot(await containers(name), slotOf);
        const stepMs: number[] = [];
        let kept = true;
        for (const replicas of rest) {
          const t0 = performance.now();
          await cp.api("POST", `/v1/namespaces/default/jobs/${name}/scale`, { replicas });
          stepMs.push(await timeUntil(`${name}: scaled to ${replicas}`, t0, () => settled(name, replicas)));
          kept &&= sameContainers(before, containersBySlot(await containers(name), slotOf));
        }
        return { stepMs, survivorsKept: kept };
      } finally {
        await remove(name);
      }
    },

    async rollingUpdate(replicas, parallelism): Promise<UpdateRun> {
      const name = `lh-update-${seq++}`;
      const from = (await cp.apply(jobSpec(name, replicas, { health: true, parallelism }))).job.version;
      try {
        await untilSettled(name, replicas, true);
        const t0 = performance.now();
        const watching = watchUpdate(`${name}: update done`, t0, async () => {
          const [running, view] = await Promise.all([containers(name), job(name)]);
          const tasks = new Map(view.tasks.map((t) => [t.id, t]));
          const healthy = running.filter((c) => {
            const t = tasks.get(c.labels["io.leasehold.task"] ?? "");
            return t?.state === "running" && t.health === "healthy";
          });
          const updated = running.every((c) => Number(c.labels["io.leasehold.version"]) > from);
          return { healthy: healthy.length, done: running.length === replicas && healthy.length === replicas && updated && live(view).length === replicas };
        });
        await cp.apply(jobSpec(name, replicas, { health: true, parallelism, version: "2" }));
        return await watching;
      } finally {
        await remove(name);
      }
    },

    async crash(replicas) {
      const name = `lh-crash-${seq++}`;
      await cp.apply(jobSpec(name, replicas));
      try {
        await untilSettled(name, replicas);
        const victim = (await containers(name)).find((c) => slotOf(c) === 1);
        const task = live(await job(name)).find((t) => t.slot === 1);
        if (!victim || !task) throw new Error(`${name}: slot 1 is not running`);
        const t0 = performance.now();
        await engine.cli(["kill", victim.id]);
        return await timeUntil(`${name}: slot 1 running again`, t0, async () => {
          const [running, view] = await Promise.all([containers(name), job(name)]);
          const now = live(view).find((t) => t.slot === 1);
          const replaced = now !== undefined && now.state === "running" && now.desired === "run" && (now.id !== task.id || now.restarts > task.restarts);
          return replaced && running.length === replicas && running.some((c) => slotOf(c) === 1 && c.id !== victim.id) && live(view).length === replicas;
        });
      } finally {
        await remove(name);
      }
    },

    close,
  };
}
