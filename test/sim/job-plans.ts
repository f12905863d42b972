// What the operator means each job to be: its template (image, env, update block, disconnect policy, and
// whether this version is a bad one), its count and whether it should run; and the job file it writes.
import { OUTCOME_ENV, type BadOutcome } from "./agent";
import type { Rng } from "./rng";

export interface UpdatePlan {
  parallelism: number;
  order: "stop-first" | "start-first" | null;
  minHealthy: "1s" | "2s";
  healthyDeadline: "5s" | "8s";
  /** Left to its default (10 m, longer than a run) or short enough to end a stalled rollout. */
  progressDeadline: "15s" | null;
  canary: number;
  autoPromote: boolean;
  autoRevert: boolean;
  /** Region waves, in this order (empty: by region name), on fleets of more than one region. */
  waves: string[] | null;
}

export interface Template {
  policy: "stop" | "keep";
  env: number;
  image: string;
  update: UpdatePlan;
  bad: BadOutcome | null;
}

export interface JobPlan extends Template {
  replicas: number;
  status: "absent" | "running" | "stopped";
  /** The templates of the versions the operator saw acknowledged, by version (what a rollback brings back). */
  versions: Map<number, Template>;
}

export interface Fleet {
  /** Whether the job schema takes update.order (see schemaHasUpdateOrder). */
  withOrder: boolean;
  /** The fleet's regions (one, "global", when the nodes name none). */
  regions: string[];
}

export function newPlan(rng: Rng, fleet: Fleet): JobPlan {
  const policy = rng.chance(0.6) ? "stop" : "keep";
  return { policy, env: 1, image: "busybox", update: newUpdate(rng, fleet, policy), bad: null, replicas: rng.int(1, 4), status: "absent", versions: new Map() };
}

/** An update block: start-first only where disconnect keep allows two copies of a slot at once. */
export function newUpdate(rng: Rng, fleet: Fleet, policy: Template["policy"]): UpdatePlan {
  const order = fleet.withOrder ? rng.pick(policy === "keep" ? (["stop-first", "start-first", null] as const) : (["stop-first", null] as const)) : null;
  const canary = rng.pick([0, 0, 1, 2]);
  const waves = fleet.regions.length > 1 && rng.chance(0.4) ? (rng.chance(0.5) ? [] : [...fleet.regions].reverse()) : null;
  return {
    parallelism: rng.int(1, 3),
    order,
    minHealthy: rng.pick(["1s", "2s"] as const),
    healthyDeadline: rng.pick(["5s", "8s"] as const),
    progressDeadline: rng.chance(0.3) ? "15s" : null,
    canary,
    autoPromote: canary > 0 && rng.chance(0.5),
    autoRevert: rng.chance(0.4),
    waves,
  };
}

/** Some updates are bad: the simulated agent fails their starts, or never reports them healthy. */
export function newOutcome(rng: Rng): BadOutcome | null {
  return rng.chance(0.3) ? rng.pick(["fail", "unhealthy"] as const) : null;
}

export function templateOf(p: Template): Template {
  return { policy: p.policy, env: p.env, image: p.image, update: { ...p.update, waves: p.update.waves && [...p.update.waves] }, bad: p.bad };
}

export function specOf(name: string, p: JobPlan): Record<string, unknown> {
  const u = p.update;
  return {
    name,
    replicas: p.replicas,
    image: p.image,
    env: { REVISION: String(p.env), ...(p.bad ? { [OUTCOME_ENV]: p.bad } : {}) },
    resources: { cpu: 500, memory: 256 },
    // Short bounds keep a run short: fence window = after + stopGrace + the control plane's margin.
    disconnect: p.policy === "stop" ? { policy: "stop", after: "2s" } : { policy: "keep" },
    stopGrace: "1s",
    update: {
      parallelism: u.parallelism,
      minHealthy: u.minHealthy,
      healthyDeadline: u.healthyDeadline,
      ...(u.progressDeadline ? { progressDeadline: u.progressDeadline } : {}),
      ...(u.order ? { order: u.order } : {}),
      ...(u.canary > 0 ? { canary: u.canary, autoPromote: u.autoPromote } : {}),
      ...(u.autoRevert ? { autoRevert: true } : {}),
      ...(u.waves ? { waves: "region", waveOrder: u.waves } : {}),
    },
  };
}

/** The job as a trace line shows it. */
export function planLine(p: JobPlan): string {
  const u = p.update;
  const rules = [`p${u.parallelism}`, u.order ?? "", u.canary > 0 ? `canary${u.canary}${u.autoPromote ? "+auto" : ""}` : "", u.autoRevert ? "revert" : "", u.waves ? `waves[${u.waves.join(",")}]` : ""];
  return `r${p.replicas} env${p.env} ${p.image} ${p.policy} ${rules.filter((x) => x).join(" ")}${p.bad ? ` BAD:${p.bad}` : ""}`;
}
