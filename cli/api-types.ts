// The shapes of the control plane's responses that the CLI reads (see GET /openapi.json).
import type { TaskSample } from "../api/task-stats";

/** A job file's plan (POST /v1/jobs/plan): its schema is the contract's own. */
export type { PlanChange, PlanNode, PlanResponse } from "../api/job-plan";

export interface Job {
  id: string;
  namespace: string;
  name: string;
  type: "service" | "batch";
  status: "running" | "stopped";
  version: number;
  createdAt: number;
  updatedAt: number;
}

export interface Task {
  id: string;
  slot: number;
  version: number;
  nodeId: string | null;
  state: string;
  desired: string;
  epoch: number;
  leaseExpiresAt: number | null;
  health: string | null;
  exitCode: number | null;
  restarts: number;
  attempt: number;
  boundPorts: { container: number; host: number }[];
  /** The task's last error, or why its slot waits (a pending task: the reason no node takes it). */
  message: string | null;
  /** True when the control plane will not replace this task's slot on its own; absent (older servers) means false. */
  final?: boolean;
  /** The latest cpu and memory sample; null before the first, absent from older servers. */
  stats?: TaskSample | null;
}

export type { TaskSample, TaskSamples } from "../api/task-stats";

/** The stored spec as the API returns it: only the fields the CLI reads are named. */
export interface StoredSpec {
  type?: "service" | "batch";
  replicas?: number;
  image?: string;
  health?: unknown;
}

export interface Evaluation {
  placed?: number;
  replaced?: number;
  stopped?: number;
  unplaced?: { jobId?: string; slot: number; reason: string }[];
}

export interface ApplyResponse {
  job: Job;
  changed: boolean;
  /** Set when only replicas changed: a scale, no new version. */
  scaled?: { from: number; to: number };
  /** The deployment that rolls out the new version (service jobs); absent from servers that do not send it. */
  deploymentId?: string;
  evaluation?: Evaluation;
}

export interface JobDetail {
  job: Job;
  spec: StoredSpec | null;
  tasks: Task[];
  summary: Record<string, number>;
}

export interface JobEvent {
  id: number;
  at: number;
  type: string;
  message: string;
  taskId: string | null;
  nodeId: string | null;
}

export interface Node {
  id: string;
  name: string;
  region: string;
  labels: Record<string, string>;
  capacity: { cpu: number; memory: number };
  allocated?: { cpu: number; memory: number; tasks: number };
  state: string;
  eligible: boolean;
  lastHeartbeatAt: number | null;
}

export interface LogRequest {
  id: string;
  taskId: string;
  nodeId: string;
  status: "pending" | "sent" | "done" | "failed";
  output?: string | null;
  createdAt?: number;
}

export interface JobVersion {
  version: number;
  spec: Record<string, unknown>;
  createdBy: string;
  createdAt: number;
}

export interface ScaleResponse {
  job: Job;
  changed: boolean;
  scaled?: { from: number; to: number };
  evaluation?: Evaluation;
}

export interface RollbackResponse {
  job: Job;
  changed: boolean;
  rolledBackTo: number;
  evaluation?: Evaluation;
}

export interface StopResponse {
  job: Job;
  evaluation?: Evaluation;
}

export type DeploymentStatus = "running" | "paused" | "successful" | "failed" | "reverted" | "cancelled";

/** A new service version's rollout (GET /v1/namespaces/{ns}/deployments). */
export interface Deployment {
  id: string;
  jobId: string;
  namespace: string;
  /** The version it rolls out. */
  version: number;
  /** The version that ran before; null for a job's first. */
  fromVersion: number | null;
  status: DeploymentStatus;
  /** Where it stands: computed while it runs, the stored outcome once it has ended. */
  description: string;
  /** Whether the canaries (of the current wave) are promoted; true when there are none. */
  promoted: boolean;
  /** With update.waves = region: the region rolling now. */
  wave: string | null;
  wavesDone: string[];
  /** The failed deployment this one reverts (auto-revert). */
  revertOf: string | null;
  /** A secret's new version that started it (a rotation). */
  cause?: { secret: string; version: number } | null;
  progressDeadlineAt: number | null;
  createdAt: number;
  updatedAt: number;
}

/** One slot of a deployment: the new version's task in it, if any, and an old copy still running. */
export interface DeploymentSlot {
  /** Canaries are -1 … -N. */
  slot: number;
  canary: boolean;
  taskId: string | null;
  nodeId: string | null;
  region: string | null;
  state: string | null;
  placedAt: number | null;
  healthySince: number | null;
  /** Ran healthy for update.minHealthy. */
  healthy: boolean;
  /** The version of an old copy still running in the slot. */
  oldVersion: number | null;
  /** Waits on a host that is not ready: pending, not failed. */
  offline: boolean;
}

export interface DeploymentDetail extends Deployment {
  counts: { desired: number; canaries: number; placed: number; healthy: number; old: number; offline: number };
  slots: DeploymentSlot[];
  events: { id: number; at: number; type: string; message: string }[];
}

export interface DeploymentActionResponse {
  deployment: Deployment;
  evaluation?: Evaluation;
}

/** One stored version of a secret: metadata only, never the value. */
export interface SecretVersion {
  version: number;
  bytes: number;
  /** The id of the master key it is encrypted under. */
  keyId: string;
  /** Whether its put rolled it out to the jobs that follow the secret's latest. */
  rollout: boolean;
  createdBy: string;
  createdAt: number;
}

/** A secret as listed (GET /v1/namespaces/{ns}/secrets). */
export interface SecretInfo {
  namespace: string;
  name: string;
  latest: number;
  versions: number;
  /** Size of the newest version. */
  bytes: number;
  updatedAt: number;
  /** Running jobs whose current version uses it. */
  usedBy: string[];
}

/** A job rolled to a secret's new version by its put. */
export interface SecretRotation {
  /** The job's id, `namespace/name`. */
  job: string;
  /** The job version written for it; null when the job changed meanwhile (its own new version decides). */
  version: number | null;
  deploymentId?: string;
}

export interface SecretPutResponse {
  namespace: string;
  name: string;
  version: SecretVersion;
  rollouts: SecretRotation[];
}

export interface SecretVersionsResponse {
  namespace: string;
  name: string;
  /** Newest first. */
  versions: SecretVersion[];
  usedBy: string[];
}

export interface SecretValue {
  namespace: string;
  name: string;
  version: number;
  value: string;
  encoding: "base64";
}

export interface SecretDeleteResponse {
  deleted: string;
  /** How many versions went with it. */
  versions: number;
}

export interface SecretRekeyResponse {
  /** The key every value is now under. */
  keyId: string;
  /** Values re-encrypted by this call; the others were under keyId already. */
  rekeyed: number;
  total: number;
}

/** GET /v1/services: one service of a namespace, with its endpoint counts. */
export interface ServiceSummary {
  namespace: string;
  name: string;
  index: number;
  healthy: number;
  endpoints: number;
  tags: string[];
  jobs: string[];
}
