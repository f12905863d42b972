// The shapes of the control plane's answers the dashboard reads (GET /openapi.json has them all). Those the
// contract in api/ defines are taken from it; the rest name only the fields the dashboard uses.
import type { TaskSample } from "../../../api/task-stats";

export type { AuditEntry, AuditPage } from "../../../api/audit";
export type { EventPage, FleetEvent } from "../../../api/events";
export type { Problem } from "../../../api/problem";
export type { SpecChange } from "../../../api/spec-diff";
export type { TaskSample } from "../../../api/task-stats";

export interface Namespace {
  name: string;
  description: string;
  createdAt: number;
}

export interface Job {
  id: string;
  namespace: string;
  name: string;
  type: "service" | "batch";
  status: "running" | "stopped";
  version: number;
  replicas: number;
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
  health: string | null;
  exitCode: number | null;
  restarts: number;
  boundPorts: { container: number; host: number }[];
  message: string | null;
  final?: boolean;
  /** Its latest cpu and memory sample (absent from control planes that do not collect them). */
  stats?: TaskSample | null;
}

export interface JobDetail {
  job: Job;
  spec: Record<string, unknown> | null;
  tasks: Task[];
  summary: Record<string, number>;
}

export interface JobVersion {
  version: number;
  spec: Record<string, unknown>;
  secretVersions?: Record<string, number>;
  createdBy: string;
  createdAt: number;
}

export type DeploymentStatus = "running" | "paused" | "successful" | "failed" | "reverted" | "cancelled";

export interface Deployment {
  id: string;
  jobId: string;
  namespace: string;
  version: number;
  fromVersion: number | null;
  status: DeploymentStatus;
  description: string;
  promoted: boolean;
  wave: string | null;
  revertOf: string | null;
  createdAt: number;
  updatedAt: number;
}

export interface DeploymentSlot {
  slot: number;
  canary: boolean;
  taskId: string | null;
  nodeId: string | null;
  state: string | null;
  healthy: boolean;
  oldVersion: number | null;
  offline: boolean;
}

export interface DeploymentDetail extends Deployment {
  counts: { desired: number; canaries: number; placed: number; healthy: number; old: number; offline: number };
  slots: DeploymentSlot[];
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
  drainDeadline: number | null;
  lastHeartbeatAt: number | null;
  agentVersion: string | null;
}

export interface LogRequest {
  id: string;
  taskId: string;
  status: "pending" | "sent" | "done" | "failed";
  output: string | null;
}

/** One message of a log follow stream. */
export type LogMessage =
  | { type: "output"; taskId: string; nodeId: string; stream: "stdout" | "stderr"; text: string }
  | { type: "status"; taskId: string; nodeId: string; message: string };

export interface SecretInfo {
  namespace: string;
  name: string;
  latest: number;
  versions: number;
  bytes: number;
  updatedAt: number;
  usedBy: string[];
}

export interface SecretVersion {
  version: number;
  bytes: number;
  keyId: string;
  rollout: boolean;
  createdBy: string;
  createdAt: number;
}
