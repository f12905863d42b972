// Docker Swarm as a contender: services driven with the docker CLI (`service create/scale/update`, `kill`) on
// the bench engine, observed through the engine's container list and the swarm's own task list.
import { TEST_COMMAND, TEST_IMAGE } from "./ceilings";
import type { BenchEngine } from "./bench-engine";
import { SETTINGS, allContainers, containersBySlot, runningContainers, sameContainers, timeUntil, watchUpdate, type Contender, type EngineContainer, type ScaleRun, type UpdateRun } from "./side-by-side";

/** The fields of a swarm task this file reads (the engine's Task object). */
interface SwarmTask {
  ID: string;
  Slot?: number;
  DesiredState: string;
  Status: { State: string };
  Spec: { ContainerSpec?: { Env?: string[] } };
}

const SERVICE_ID = "com.docker.swarm.service.id";
const TASK_ID = "com.docker.swarm.task.id";
const TASK_NAME = "com.docker.swarm.task.name";

const seconds = (ms: number): string => `${ms / 1000}s`;

/** The service's settings, the same as leasehold's job spec in leasehold-contender.ts. */
function createArgs(name: string, replicas: number, opts: { health?: boolean; parallelism?: number }): string[] {
  const s = SETTINGS;
  return [
    "service", "create", "--detach", "--no-resolve-image", "--name", name, "--replicas", String(replicas),
    "--restart-condition", "any", "--restart-delay", seconds(s.restartDelayMs), "--stop-grace-period", seconds(s.stopGraceMs),
    "--limit-cpu", String(s.resources.cpu / 1000), "--reserve-cpu", String(s.resources.cpu / 1000),
    "--limit-memory", `${s.resources.memory}M`, "--reserve-memory", `${s.resources.memory}M`,
    "--env", "VERSION=1",
    ...(opts.health
      ? ["--health-cmd", "true", "--health-interval", seconds(s.healthIntervalMs), "--health-timeout", seconds(s.healthIntervalMs),
         "--health-retries", String(s.healthRetries), "--health-start-period", "0s"]
      : []),
    ...(opts.parallelism !== undefined
      ? ["--update-parallelism", String(opts.parallelism), "--update-delay", seconds(s.minHealthyMs), "--update-monitor", seconds(s.minHealthyMs),
         "--update-order", "stop-first", "--update-failure-action", "pause"]
      : []),
    TEST_IMAGE, ...TEST_COMMAND,
  ];
}

function slotOf(c: EngineContainer): number | undefined {
  // <service>.<slot>.<task id>
  const parts = (c.labels[TASK_NAME] ?? "").split(".");
  const slot = Number(parts[parts.length - 2]);
  return Number.isInteger(slot) ? slot : undefined;
}

export function swarmContender(engine: BenchEngine): Contender {
  const docker = engine.docker;
  let seq = 0;

  async function tasks(serviceId: string): Promise<SwarmTask[]> {
    return (await docker.listTasks({ filters: { service: [serviceId], "desired-state": ["running"] } })) as SwarmTask[];
  }

  const running = (serviceId: string): Promise<EngineContainer[]> => runningContainers(docker, [`${SERVICE_ID}=${serviceId}`]);

  /** `replicas` containers run, and the swarm has as many tasks meant to run, all running. */
  async function settled(serviceId: string, replicas: number): Promise<boolean> {
    const [containers, meant] = await Promise.all([running(serviceId), tasks(serviceId)]);
    return containers.length === replicas && meant.length === replicas && meant.every((t) => t.Status.State === "running");
  }

  async function create(name: string, replicas: number, opts: { health?: boolean; parallelism?: number } = {}): Promise<string> {
    return engine.cli(createArgs(name, replicas, opts));
  }

  async function createSettled(name: string, replicas: number, opts: { health?: boolean; parallelism?: number } = {}): Promise<string> {
    const id = await create(name, replicas, opts);
    await timeUntil(`${name} to run ${replicas} tasks`, performance.now(), async () => {
      if (!(await settled(id, replicas))) return false;
      return !opts.health || (await running(id)).every((c) => c.health === "healthy");
    });
    return id;
  }

  async function remove(serviceId: string): Promise<void> {
    await engine.cli(["service", "rm", serviceId]);
    await timeUntil(`service ${serviceId}'s containers to be removed`, performance.now(), async () => (await allContainers(docker, [`${SERVICE_ID}=${serviceId}`])).length === 0);
  }

  return {
    name: "Swarm",

    async deploy(replicas) {
      const name = `sw-deploy-${seq++}`;
      const t0 = performance.now();
      const id = await create(name, replicas);
      try {
        return await timeUntil(`${name}: ${replicas} tasks running`, t0, () => settled(id, replicas));
      } finally {
        await remove(id);
      }
    },

    async scale(steps): Promise<ScaleRun> {
      const name = `sw-scale-${seq++}`;
      const [first, ...rest] = steps;
      const id = await createSettled(name, first ?? 1);
      try {
        const before = containersBySlot(await running(id), slotOf);
        const stepMs: number[] = [];
        let kept = true;
        for (const replicas of rest) {
          const t0 = performance.now();
          await engine.cli(["service", "scale", "--detach", `${id}=${replicas}`]);
          stepMs.push(await timeUntil(`${name}: scaled to ${replicas}`, t0, () => settled(id, replicas)));
          kept &&= sameContainers(before, containersBySlot(await running(id), slotOf));
        }
        return { stepMs, survivorsKept: kept };
      } finally {
        await remove(id);
      }
    },

    async rollingUpdate(replicas, parallelism): Promise<UpdateRun> {
      const name = `sw-update-${seq++}`;
      const id = await createSettled(name, replicas, { health: true, parallelism });
      try {
        const t0 = performance.now();
        const watching = watchUpdate(`${name}: update done`, t0, async () => {
          const [containers, meant] = await Promise.all([running(id), tasks(id)]);
          const updated = new Set(meant.filter((t) => t.Spec.ContainerSpec?.Env?.includes("VERSION=2")).map((t) => t.ID));
          const healthy = containers.filter((c) => c.health === "healthy");
          const done = containers.length === replicas && healthy.length === replicas && containers.every((c) => updated.has(c.labels[TASK_ID] ?? ""));
          return { healthy: healthy.length, done };
        });
        await engine.cli(["service", "update", "--detach", "--no-resolve-image", "--env-add", "VERSION=2", id]);
        const watched = await watching;
        const completedMs = await timeUntil(`${name}: update status completed`, t0, async () => {
          const service = (await docker.getService(id).inspect()) as { UpdateStatus?: { State?: string } };
          return service.UpdateStatus?.State === "completed";
        });
        return { ...watched, completedMs };
      } finally {
        await remove(id);
      }
    },

    async crash(replicas) {
      const name = `sw-crash-${seq++}`;
      const id = await createSettled(name, replicas);
      try {
        const victim = (await running(id)).find((c) => slotOf(c) === 2) ?? (await running(id))[0];
        if (!victim) throw new Error(`${name}: no running container to kill`);
        const victimTask = victim.labels[TASK_ID];
        const t0 = performance.now();
        await engine.cli(["kill", victim.id]);
        return await timeUntil(`${name}: a replacement running`, t0, async () => {
          const [containers, meant] = await Promise.all([running(id), tasks(id)]);
          return (
            containers.length === replicas &&
            containers.every((c) => c.id !== victim.id) &&
            meant.length === replicas &&
            meant.every((t) => t.ID !== victimTask && t.Status.State === "running")
          );
        });
      } finally {
        await remove(id);
      }
    },

    async close() {
      // Services are removed by each scenario; the engine's teardown removes anything left.
    },
  };
}
