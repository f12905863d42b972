// What the checks read of the store after a step: tasks, nodes, jobs, each version's rules, deployments.
// Read on a connection of its own, in one read batch, so every check of a step sees one instant.
import type { Client } from "@libsql/client";
import { OUTCOME_ENV, type BadOutcome } from "./agent";

export interface TaskRow {
  id: string;
  jobId: string;
  slot: number;
  version: number;
  nodeId: string | null;
  state: string;
  desired: string;
  epoch: number;
  leaseExpiresAt: number | null;
  cpu: number;
  memory: number;
  health: string | null;
  /** Since when it has run and not been unhealthy (the rollout's settling clock). */
  healthyAt: number | null;
  lostAt: number | null;
}

/** A version's template as the rules read it (durations in ms, as the stored spec keeps them). */
export interface VersionInfo {
  startFirst: boolean;
  keep: boolean;
  replicas: number;
  specHash: string;
  parallelism: number;
  minHealthyMs: number;
  healthyDeadlineMs: number;
  progressDeadlineMs: number;
  canary: number;
  autoRevert: boolean;
  waves: boolean;
  /** The operator's marker: the simulated agent makes this version's tasks fail or never turn healthy. */
  bad: BadOutcome | null;
}

export interface DeploymentRow {
  id: string;
  jobId: string;
  version: number;
  status: string;
  promoted: boolean;
  wave: string | null;
  wavesDone: string[];
  revertOf: string | null;
  description: string;
  createdAt: number;
}

export interface NodeRow {
  name: string;
  region: string;
  cpu: number;
  memory: number;
  draining: boolean;
  /** Past it every task on the node moves at once, whatever its job's parallelism. */
  drainDeadline: number | null;
}

export interface Snapshot {
  tasks: TaskRow[];
  nodes: Map<string, NodeRow>;
  jobs: Map<string, { status: string; version: number; replicas: number | null }>;
  versions: Map<string, Map<number, VersionInfo>>;
  /** Every deployment, oldest version first within a job. */
  deployments: DeploymentRow[];
}

export const ACTIVE_DEPLOYMENT = new Set(["running", "paused"]);

export async function snapshot(db: Client): Promise<Snapshot> {
  const [t, n, j, v, d] = await db.batch(
    [
      "SELECT id, job_id, slot, version, node_id, state, desired, epoch, lease_expires_at, cpu, memory, health, healthy_at, lost_at FROM tasks ORDER BY id",
      "SELECT id, name, region, cpu, memory, drain_deadline FROM nodes",
      "SELECT id, status, version, replicas FROM jobs",
      `SELECT job_id, version, spec_hash, spec ->> '$.update.order' AS ord, spec ->> '$.disconnect.policy' AS policy, spec ->> '$.replicas' AS replicas,
         spec ->> '$.update.parallelism' AS parallelism, spec ->> '$.update.minHealthy' AS min_healthy,
         spec ->> '$.update.healthyDeadline' AS healthy_deadline, spec ->> '$.update.progressDeadline' AS progress_deadline,
         spec ->> '$.update.canary' AS canary, spec ->> '$.update.autoRevert' AS auto_revert, spec ->> '$.update.waves' AS waves,
         spec ->> '$.env.${OUTCOME_ENV}' AS bad
       FROM job_versions`,
      "SELECT id, job_id, version, status, promoted, wave, waves_done, revert_of, description, created_at FROM deployments ORDER BY job_id, version, created_at, id",
    ],
    "read",
  );
  const num = (x: unknown) => (x === null || x === undefined ? null : Number(x));
  const str = (x: unknown) => (x === null || x === undefined ? null : String(x));
  const versions = new Map<string, Map<number, VersionInfo>>();
  for (const r of v?.rows ?? []) {
    const job = String(r["job_id"]);
    if (!versions.has(job)) versions.set(job, new Map());
    const bad = str(r["bad"]);
    versions.get(job)?.set(Number(r["version"]), {
      startFirst: r["ord"] === "start-first",
      keep: r["policy"] !== "stop",
      replicas: Number(r["replicas"]),
      specHash: String(r["spec_hash"]),
      // A field the spec lacks has its schema default (specs stored before it existed).
      parallelism: num(r["parallelism"]) ?? 1,
      minHealthyMs: num(r["min_healthy"]) ?? 5_000,
      healthyDeadlineMs: num(r["healthy_deadline"]) ?? 300_000,
      progressDeadlineMs: num(r["progress_deadline"]) ?? 600_000,
      canary: num(r["canary"]) ?? 0,
      autoRevert: Number(r["auto_revert"] ?? 0) === 1,
      waves: r["waves"] === "region",
      bad: bad === "fail" || bad === "unhealthy" ? bad : null,
    });
  }
  return {
    tasks: (t?.rows ?? []).map((r) => ({
      id: String(r["id"]),
      jobId: String(r["job_id"]),
      slot: Number(r["slot"]),
      version: Number(r["version"]),
      nodeId: str(r["node_id"]),
      state: String(r["state"]),
      desired: String(r["desired"]),
      epoch: Number(r["epoch"]),
      leaseExpiresAt: num(r["lease_expires_at"]),
      cpu: Number(r["cpu"]),
      memory: Number(r["memory"]),
      health: str(r["health"]),
      healthyAt: num(r["healthy_at"]),
      lostAt: num(r["lost_at"]),
    })),
    nodes: new Map((n?.rows ?? []).map((r) => [String(r["id"]), { name: String(r["name"]), region: String(r["region"]), cpu: Number(r["cpu"]), memory: Number(r["memory"]), draining: r["drain_deadline"] !== null, drainDeadline: num(r["drain_deadline"]) }])),
    jobs: new Map((j?.rows ?? []).map((r) => [String(r["id"]), { status: String(r["status"]), version: Number(r["version"]), replicas: num(r["replicas"]) }])),
    versions,
    deployments: (d?.rows ?? []).map((r) => ({
      id: String(r["id"]),
      jobId: String(r["job_id"]),
      version: Number(r["version"]),
      status: String(r["status"]),
      promoted: Number(r["promoted"]) === 1,
      wave: str(r["wave"]),
      wavesDone: JSON.parse(String(r["waves_done"] ?? "[]")) as string[],
      revertOf: str(r["revert_of"]),
      description: String(r["description"]),
      createdAt: Number(r["created_at"]),
    })),
  };
}

/** A job's count: its own (a scale writes no version), else its version's. */
export function replicasOf(s: Snapshot, jobId: string): number {
  const job = s.jobs.get(jobId);
  if (!job) return 0;
  return job.replicas ?? s.versions.get(jobId)?.get(job.version)?.replicas ?? 0;
}

/** The job's latest deployment: the one of its highest version (one per version; versions only rise). */
export function latestDeployment(s: Snapshot, jobId: string): DeploymentRow | undefined {
  let latest: DeploymentRow | undefined;
  for (const d of s.deployments) if (d.jobId === jobId && (latest === undefined || d.version >= latest.version)) latest = d;
  return latest;
}
