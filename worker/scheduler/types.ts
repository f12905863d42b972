// What the scheduler reads (a read-only view of jobs, nodes and tasks at one instant) and the plan it returns.
// The control plane adapts its rows to these shapes; nothing here knows about the database.

export interface SchedulerInput {
  /** Seeds every tie-break, so the same input and evalId always give the same plan. */
  evalId: string;
  /** Milliseconds since the epoch. Expiry is computed against this value, never against a clock. */
  now: number;
  /**
   * The jobs to reconcile. May be a subset of all jobs: tasks of jobs not listed only count as usage (and
   * not even that once lost), and are never stopped or marked lost here.
   */
  jobs: JobView[];
  nodes: NodeView[];
  /**
   * The listed jobs' rows (finished rows whose desired state is stop may be left out), plus rows that hold
   * resources for other jobs — those may be summarised, e.g. one synthetic row per node.
   */
  tasks: TaskView[];
}

export interface Resources {
  /** Millicores (1000 = one core). */
  cpu: number;
  /** MiB. */
  memory: number;
}

export interface Constraint {
  /** "region" | "name" | "label.<key>". */
  attribute: string;
  operator: "=" | "!=" | "in" | "not_in" | "exists" | "not_exists";
  value?: string | string[];
}

export interface JobPort {
  name: string;
  container: number;
  /** Static host port; absent = dynamic, which never conflicts. */
  host?: number;
}

export interface ReschedulePolicy {
  /** Replacements of a failed copy allowed per slot within intervalMs; 0 = unlimited. */
  attempts: number;
  intervalMs: number;
  /** Wait before the first replacement of a failed copy; doubles for each later one. */
  delayMs: number;
  maxDelayMs: number;
}

export interface JobView {
  id: string;
  namespace: string;
  name: string;
  version: number;
  type: "service" | "batch";
  status: "running" | "stopped";
  replicas: number;
  resources: Resources;
  ports: JobPort[];
  constraints: Constraint[];
  spread?: { attribute: string };
  reschedule: ReschedulePolicy;
  /**
   * How many slots may be replaced (update) or migrated (drain) at once, and in which order. `stop-first`
   * (the default) starts a slot's new copy only once its old copy is gone: its holder reported it stopped,
   * or its lease lapsed (the stored expiry includes the fence window). `start-first` lets the two overlap.
   */
  update: {
    parallelism: number;
    order?: UpdateOrder;
    /** How long a new copy must run healthy before it stops counting as in flight (default 0). */
    minHealthyMs?: number;
  };
  /** What the job's deployment allows now (see worker/deployments/); absent: roll every slot freely. */
  rollout?: RolloutGate;
}

/**
 * A deployment's say over the reconciler. Old-version slots are updated only while it does not hold, and
 * only on nodes of the allowed regions; canary slots (-1 … -canaries) run the new version beside the old.
 */
export interface RolloutGate {
  /** No old-version slot is updated: the deployment is paused, failed, or its canaries await a promote. */
  hold: boolean;
  /** Canary slots to keep running at the job's version (0: any canary row is retired). */
  canaries: number;
  /** Canaries are placed on nodes of this region (waves); absent: anywhere the job may run. */
  canaryRegion?: string;
  /** Only slots whose old copies are on nodes of these regions are updated (waves); absent: any region. */
  regions?: readonly string[];
}

export type UpdateOrder = "stop-first" | "start-first";

export type NodeStatus = "initializing" | "ready" | "down" | "disconnected";

export interface NodeView {
  id: string;
  name: string;
  region: string;
  labels: Record<string, string>;
  capacity: Resources;
  status: NodeStatus;
  eligible: boolean;
  draining: boolean;
  /** Draining and past its deadline: everything on it moves now, outside its jobs' update budgets. */
  drainForced?: boolean;
}

export type TaskState = "pending" | "placed" | "leased" | "running" | "complete" | "failed" | "lost" | "stopped";

export interface TaskView {
  id: string;
  jobId: string;
  slot: number;
  version: number;
  nodeId: string | null;
  state: TaskState;
  desired: "run" | "stop";
  epoch: number;
  /** ms; null = never leased. */
  leaseExpiresAt: number | null;
  /** How many times this slot was re-placed after a failure, counted since attemptSince. */
  attempt: number;
  /** When the first of those replacements happened; null while attempt is 0. */
  attemptSince?: number | null;
  /** When the task was lost or failed; the reschedule delay counts from here. */
  lostAt: number | null;
  healthy: boolean | null;
  /** Since when this copy has been running and not unhealthy (ms); null when it is not, or not yet known. */
  healthySince?: number | null;
  resources: Resources;
  /** Static host ports it holds. */
  hostPorts: number[];
  /** When it was last placed on a node (ms); null while pending. */
  placedAt?: number | null;
}

/** A new task row. */
export interface Placement {
  jobId: string;
  slot: number;
  version: number;
  nodeId: string;
  resources: Resources;
  hostPorts: number[];
}

/**
 * Why an existing row is re-placed on a node:
 * - "lost": its lease expired or its node went down;
 * - "failed": it exited with an error;
 * - "complete": a service task exited cleanly — services are meant to keep running;
 * - "pending": the row exists but was never placed;
 * - "drain": its node is draining (migrate bucket only).
 */
export type ReplaceReason = "lost" | "failed" | "complete" | "pending";

/** The same task row, moved to another node; the control plane bumps its epoch. */
export interface Replacement {
  taskId: string;
  jobId: string;
  slot: number;
  nodeId: string;
  reason: ReplaceReason | "drain";
  /** The row's attempt count after this move (changed only for "failed" and "complete"). */
  attempt: number;
  /** When the first attempt counted in it happened. */
  attemptSince: number | null;
  hostPorts: number[];
}

export type StopReason = "scale-down" | "job-stopped" | "update" | "drain" | "node-down" | "canary";

export interface Stop {
  taskId: string;
  reason: StopReason;
}

export interface LostTask {
  taskId: string;
  nodeId: string | null;
  /** When it was lost: the lease expiry, or `now` when its node is down or gone. */
  at: number;
}

export interface DelayedReplacement {
  taskId: string;
  /** Not replaced before this instant (ms). */
  until: number;
}

export interface GivenUp {
  taskId: string;
  reason: string;
}

export interface PlacementMetrics {
  /** Every node in the fleet: each is either filtered or exhausted when a placement fails. */
  nodesEvaluated: number;
  /** Nodes that can never take this job as things stand (status, eligibility, drain, constraints), by reason. */
  filtered: Record<string, number>;
  /** Nodes that could take the job but are full (cpu, memory, "port N"), by the first resource short. */
  exhausted: Record<string, number>;
}

export interface PlacementFailure {
  jobId: string;
  slot: number;
  /** The existing row that could not be moved (replacement, migration, pending); absent for a new slot. */
  taskId?: string;
  /** For people, e.g. "no node with 2000m cpu, 512MiB memory where region = eu: 3 nodes short on cpu, ...". */
  reason: string;
  metrics: PlacementMetrics;
}

/**
 * Named buckets. Every input task id appears in exactly one of replace, migrate, stop, delayed, failed
 * and ignore; `lost` is a marking on top of that (a lost task is also replaced, delayed, failed, stopped to retire it, or ignored).
 */
export interface Plan {
  evalId: string;
  place: Placement[];
  replace: Replacement[];
  migrate: Replacement[];
  stop: Stop[];
  lost: LostTask[];
  delayed: DelayedReplacement[];
  failed: GivenUp[];
  ignore: string[];
  unplaced: PlacementFailure[];
  /**
   * Jobs whose rollout or drain waits only for a new copy to have run healthy for `minHealthyMs`, and when
   * the first of them will have: a good time for the job's next evaluation.
   */
  wake: { jobId: string; at: number }[];
}
