// What the side-by-side with Docker Swarm measures, and how both contenders are observed on their shared engine.
//
// Both contenders are held to the same settings (SETTINGS) and observed the same way: through the engine's
// own container list, confirmed by the orchestrator's own view, polled every POLL_MS from the moment the
// request is sent (the request's own time, CLI or HTTP, is part of the figure).
import type Dockerode from "dockerode";
import { sleep } from "./stats";

export const SETTINGS = {
  deployReplicas: 20,
  scaleSteps: [3, 10, 3],
  updateReplicas: 6,
  updateParallelism: [1, 2],
  crashReplicas: 3,
  /** Health check of the update scenario: `sh -c true` in the container, every second, unhealthy after 3 failures. */
  healthIntervalMs: 1_000,
  healthRetries: 3,
  /**
   * How long a new copy runs healthy before the next step of an update: leasehold `update.minHealthy`; Swarm
   * `--update-delay` (Swarm moves to the next task once the new one is running, which with a health check
   * means healthy, then waits the delay) and `--update-monitor` (its failure window) both set to it.
   */
  minHealthyMs: 2_000,
  /** busybox httpd as PID 1 ignores SIGTERM, so every stop waits this grace out, for both. */
  stopGraceMs: 1_000,
  /** Wait before a crashed container is started again (Swarm --restart-delay, leasehold restart.delay). */
  restartDelayMs: 1_000,
  /** leasehold's agent heartbeat and lease TTL for the section: the product defaults. */
  heartbeatInterval: "5s",
  leaseTtl: "15s",
  resources: { cpu: 50, memory: 16 },
  capMs: 120_000,
} as const;

/** How often the settling of a step is checked. */
export const POLL_MS = 100;
/** How often the healthy copies are counted during an update. */
export const SAMPLE_MS = 200;

export type ContenderName = "Swarm" | "leasehold";

export interface ScaleRun {
  /** ms for each step after the first to settle (3 → 10, 10 → 3). */
  stepMs: number[];
  /** Whether the containers of the first step's slots are the same ones after every step. */
  survivorsKept: boolean;
}

export interface UpdateRun {
  /** ms from the request until every replica runs the new spec, healthy, and no old copy runs. */
  ms: number;
  /** The fewest replicas running and healthy in any sample from the request until done. */
  minHealthy: number;
  samples: number;
  /** Swarm only: ms until the service's own update status said completed (one monitor period after the last task). */
  completedMs?: number;
}

/** One orchestrator driving the shared engine; each scenario starts its own service or job and removes it. */
export interface Contender {
  readonly name: ContenderName;
  deploy(replicas: number): Promise<number>;
  scale(steps: readonly number[]): Promise<ScaleRun>;
  rollingUpdate(replicas: number, parallelism: number): Promise<UpdateRun>;
  /** ms from `docker kill` of one replica until a replacement runs and the orchestrator counts it running. */
  crash(replicas: number): Promise<number>;
  close(): Promise<void>;
}

export interface EngineContainer {
  id: string;
  labels: Record<string, string>;
  /** The engine's health status; null when the container has no engine health check. */
  health: "starting" | "healthy" | "unhealthy" | null;
}

/** Running containers carrying every label given (key=value), with the engine's health status. */
export async function runningContainers(docker: Dockerode, labels: string[]): Promise<EngineContainer[]> {
  const list = await docker.listContainers({ filters: { label: labels, status: ["running"] } });
  return list.map((c) => ({ id: c.Id, labels: c.Labels, health: healthOf(c.Status) }));
}

/** Every container (any state) carrying the labels: what a clean-up must leave at zero. */
export async function allContainers(docker: Dockerode, labels: string[]): Promise<string[]> {
  const list = await docker.listContainers({ all: true, filters: { label: labels } });
  return list.map((c) => c.Id);
}

/** The engine's status text ends in "(healthy)", "(unhealthy)" or "(health: starting)" when it runs a check. */
function healthOf(status: string): EngineContainer["health"] {
  if (status.endsWith("(healthy)")) return "healthy";
  if (status.endsWith("(unhealthy)")) return "unhealthy";
  if (status.endsWith("(health: starting)")) return "starting";
  return null;
}

/** ms from `startedAt` until `settled` answers true, checked every POLL_MS; throws after the cap. */
export async function timeUntil(what: string, startedAt: number, settled: () => Promise<boolean>, capMs: number = SETTINGS.capMs): Promise<number> {
  for (;;) {
    if (await settled()) return performance.now() - startedAt;
    if (performance.now() - startedAt > capMs) throw new Error(`timed out after ${capMs} ms waiting for ${what}`);
    await sleep(POLL_MS);
  }
}

export interface UpdateView {
  /** Replicas running and healthy now. */
  healthy: number;
  /** Every replica runs the new spec, healthy, and no old copy runs. */
  done: boolean;
}

/**
 * Watches an update from `startedAt`: checks `observe` every POLL_MS until done, and keeps the fewest healthy
 * replicas among observations at least SAMPLE_MS apart (the first and the last always count).
 */
export async function watchUpdate(what: string, startedAt: number, observe: () => Promise<UpdateView>): Promise<{ ms: number; minHealthy: number; samples: number }> {
  let minHealthy = Number.POSITIVE_INFINITY;
  let samples = 0;
  let lastSample = Number.NEGATIVE_INFINITY;
  for (;;) {
    const at = performance.now();
    const view = await observe();
    if (view.done || at - lastSample >= SAMPLE_MS) {
      minHealthy = Math.min(minHealthy, view.healthy);
      samples++;
      lastSample = at;
    }
    if (view.done) return { ms: at - startedAt, minHealthy, samples };
    if (at - startedAt > SETTINGS.capMs) throw new Error(`timed out after ${SETTINGS.capMs} ms waiting for ${what}`);
    await sleep(Math.max(0, POLL_MS - (performance.now() - at)));
  }
}

/** The slot → container id map of running containers, by the label that names the slot. */
export function containersBySlot(containers: readonly EngineContainer[], slotOf: (c: EngineContainer) => number | undefined): Map<number, string> {
  const map = new Map<number, string>();
  for (const c of containers) {
    const slot = slotOf(c);
    if (slot !== undefined) map.set(slot, c.id);
  }
  return map;
}

/** Whether every slot of `before` still runs the same container in `after`. */
export function sameContainers(before: ReadonlyMap<number, string>, after: ReadonlyMap<number, string>): boolean {
  for (const [slot, id] of before) if (after.get(slot) !== id) return false;
  return true;
}
