// The drizzle schema: one table per aggregate. Times are integer milliseconds since the epoch.
import { sql } from "drizzle-orm";
import { index, integer, primaryKey, real, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

export const namespaces = sqliteTable("namespaces", {
  name: text("name").primaryKey(),
  description: text("description").notNull().default(""),
  createdAt: integer("created_at").notNull(),
});

export const jobs = sqliteTable(
  "jobs",
  {
    id: text("id").primaryKey(), // "<namespace>/<name>"
    namespace: text("namespace").notNull().references(() => namespaces.name),
    name: text("name").notNull(),
    type: text("type", { enum: ["service", "batch"] }).notNull(),
    status: text("status", { enum: ["running", "stopped"] }).notNull(),
    version: integer("version").notNull(), // the current (desired) version
    // The count is not part of the version: a scale changes it alone. NULL = the version's spec.replicas.
    replicas: integer("replicas"),
    // Of the spec without its count (templateHash): a spec differing only in replicas is the same version.
    specHash: text("spec_hash").notNull(),
    modifyIndex: integer("modify_index").notNull().default(1), // bumped on every change: optimistic concurrency
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [uniqueIndex("jobs_namespace_name").on(t.namespace, t.name)],
);

export const jobVersions = sqliteTable(
  "job_versions",
  {
    jobId: text("job_id").notNull().references(() => jobs.id, { onDelete: "cascade" }),
    version: integer("version").notNull(),
    spec: text("spec", { mode: "json" }).notNull(),
    specHash: text("spec_hash").notNull(),
    // The secret versions this version uses, by name (pinned ones and the latest of those followed, as
    // resolved when the version was written): part of specHash, so a rotation is a new version.
    secretVersions: text("secret_versions", { mode: "json" }).$type<Record<string, number>>(),
    createdBy: text("created_by").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.jobId, t.version] })],
);

export const TASK_STATES = ["pending", "placed", "leased", "running", "complete", "failed", "lost", "stopped"] as const;
export type TaskStateColumn = (typeof TASK_STATES)[number];

export const tasks = sqliteTable(
  "tasks",
  {
    id: text("id").primaryKey(),
    jobId: text("job_id").notNull().references(() => jobs.id, { onDelete: "cascade" }),
    namespace: text("namespace").notNull(),
    slot: integer("slot").notNull(),
    version: integer("version").notNull(),
    nodeId: text("node_id"),
    state: text("state", { enum: TASK_STATES }).notNull(),
    desired: text("desired", { enum: ["run", "stop"] }).notNull().default("run"),
    epoch: integer("epoch").notNull().default(1), // fencing token: only rises
    leaseExpiresAt: integer("lease_expires_at"),
    // A task whose job's disconnect policy is "stop" keeps each lease at least this long: its agent has
    // stopped it by then after losing contact, so a replacement never overlaps it (0 for "keep").
    fenceMs: integer("fence_ms").notNull().default(0),
    // 1 when the job chose update.order start-first: only then may a lease be granted for this row while
    // another copy of its slot may still run.
    startFirst: integer("start_first").notNull().default(0),
    cpu: integer("cpu").notNull(),
    memory: integer("memory").notNull(),
    hostPorts: text("host_ports", { mode: "json" }).$type<number[]>().notNull().default(sql`'[]'`),
    boundPorts: text("bound_ports", { mode: "json" }).$type<{ container: number; host: number }[]>().notNull().default(sql`'[]'`),
    health: text("health", { enum: ["starting", "healthy", "unhealthy"] }),
    // Since when this copy has been running and not unhealthy: a rollout counts it as settled after the job's
    // update.minHealthy. NULL while it is not (starting, unhealthy, not running).
    healthyAt: integer("healthy_at"),
    exitCode: integer("exit_code"),
    restarts: integer("restarts").notNull().default(0),
    attempt: integer("attempt").notNull().default(0),
    // When the first replacement counted in `attempt` happened: attempts older than the job's
    // reschedule.interval no longer count. NULL while attempt is 0.
    attemptSince: integer("attempt_since"),
    lostAt: integer("lost_at"),
    // When this copy was last placed on a node (a new row, or a row moved at the next epoch): a deployment's
    // healthy deadline counts from here. NULL while pending.
    placedAt: integer("placed_at"),
    message: text("message"),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [
    index("tasks_job").on(t.jobId, t.slot),
    // At most one task per slot is meant to run: two evaluations placing the same slot cannot both commit.
    uniqueIndex("tasks_live_slot").on(t.jobId, t.slot).where(sql`desired = 'run'`),
    index("tasks_node_state").on(t.nodeId, t.state),
    // State only: with the expiry in it, every lease renewal moved an index entry (a page write per lease
    // per heartbeat). Expired leases are found by scanning the live ones, a few times a second at most.
    index("tasks_state").on(t.state),
  ],
);

export const NODE_STATUSES = ["initializing", "ready", "down", "disconnected"] as const;

export const nodes = sqliteTable(
  "nodes",
  {
    id: text("id").primaryKey(),
    name: text("name").notNull(),
    region: text("region").notNull(),
    labels: text("labels", { mode: "json" }).$type<Record<string, string>>().notNull(),
    cpu: integer("cpu").notNull(),
    memory: integer("memory").notNull(),
    portMin: integer("port_min").notNull().default(20000),
    portMax: integer("port_max").notNull().default(32000),
    status: text("status", { enum: NODE_STATUSES }).notNull(),
    eligible: integer("eligible", { mode: "boolean" }).notNull().default(true),
    drainDeadline: integer("drain_deadline"), // non-null while draining
    lastHeartbeatAt: integer("last_heartbeat_at"),
    credentialGeneration: integer("credential_generation").notNull().default(1),
    agentVersion: text("agent_version"),
    joinTokenId: text("join_token_id"),
    // The agent's X25519 public key (JWK): task secrets are sealed to it at claim time.
    encryptionKey: text("encryption_key", { mode: "json" }).$type<Record<string, string>>(),
    // Where other hosts reach it ([{ address, scope }]): service endpoints on it are dialled there.
    addresses: text("addresses", { mode: "json" }).$type<{ address: string; scope: string }[]>().notNull().default(sql`'[]'`),
    // The TLS port its proxy takes connections from other nodes' proxies on (null: none; see worker/mesh).
    meshPort: integer("mesh_port"),
    // The node's work marker: takes the next value of one store-wide sequence whenever a task is placed on
    // the node or a copy it holds is asked to stop (triggers, in the writing transaction). A waiting claim
    // returns when it moves; an instance finds the moved ones by one range read on its index.
    workSeq: integer("work_seq").notNull().default(0),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [uniqueIndex("nodes_name").on(t.name), index("nodes_status_heartbeat").on(t.status, t.lastHeartbeatAt), index("nodes_work_seq").on(t.workSeq)],
);

export const DEPLOYMENT_STATUSES = ["running", "paused", "successful", "failed", "reverted", "cancelled"] as const;
export type DeploymentStatus = (typeof DEPLOYMENT_STATUSES)[number];

/**
 * One row per rolled-out version of a service job (see worker/deployments/). Its per-slot progress is read
 * from the version's task rows; the row holds what the tasks cannot say: the status, the canary promotion,
 * the wave, and the clocks of the progress and offline deadlines. Every change is conditional on
 * `modify_index`, so an operator's pause and an evaluation's progress never overwrite each other.
 */
export const deployments = sqliteTable(
  "deployments",
  {
    id: text("id").primaryKey(),
    jobId: text("job_id").notNull().references(() => jobs.id, { onDelete: "cascade" }),
    namespace: text("namespace").notNull(),
    version: integer("version").notNull(),
    // The version that ran before it (NULL for a job's first deployment).
    fromVersion: integer("from_version"),
    status: text("status", { enum: DEPLOYMENT_STATUSES }).notNull(),
    description: text("description").notNull(),
    // Canaries of the current wave promoted (by the operator or autoPromote); 1 when there are none to wait for.
    promoted: integer("promoted", { mode: "boolean" }).notNull().default(false),
    // With update.waves = region: the region being rolled now (NULL before the first wave is chosen).
    wave: text("wave"),
    // Regions whose wave is done, in order.
    wavesDone: text("waves_done", { mode: "json" }).$type<string[]>().notNull().default(sql`'[]'`),
    // How many of the version's tasks had settled at the last evaluation: one more resets the progress deadline.
    healthyCount: integer("healthy_count").notNull().default(0),
    progressDeadlineAt: integer("progress_deadline_at"),
    // Since when only slots on offline hosts have been left (NULL otherwise): bounded by update.offlineDeadline.
    offlineSince: integer("offline_since"),
    // The deployment this one reverts (auto-revert), if any.
    revertOf: text("revert_of"),
    // What started it when not an operator's apply: a secret's new version ({ secret, version }).
    cause: text("cause", { mode: "json" }).$type<{ secret: string; version: number }>(),
    modifyIndex: integer("modify_index").notNull().default(1),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [index("deployments_job").on(t.jobId, t.createdAt), index("deployments_status").on(t.status)],
);

export const joinTokens = sqliteTable("join_tokens", {
  id: text("id").primaryKey(),
  hash: text("hash").notNull().unique(), // sha-256 of the secret; the secret itself is never stored
  description: text("description").notNull().default(""),
  region: text("region"), // when set, nodes enrolling with it must be in this region
  maxUses: integer("max_uses"),
  uses: integer("uses").notNull().default(0),
  expiresAt: integer("expires_at"),
  revokedAt: integer("revoked_at"),
  createdBy: text("created_by").notNull(),
  createdAt: integer("created_at").notNull(),
});

export const apiTokens = sqliteTable("api_tokens", {
  id: text("id").primaryKey(), // the JWT's jti
  subject: text("subject").notNull(),
  roles: text("roles", { mode: "json" }).$type<Record<string, string>>().notNull(),
  // Permissions beyond the roles, e.g. "secret-values" (read secret values).
  permissions: text("permissions", { mode: "json" }).$type<string[]>(),
  expiresAt: integer("expires_at").notNull(),
  revokedAt: integer("revoked_at"),
  createdBy: text("created_by").notNull(),
  createdAt: integer("created_at").notNull(),
});

export const secrets = sqliteTable(
  "secrets",
  {
    namespace: text("namespace").notNull(),
    name: text("name").notNull(),
    version: integer("version").notNull(),
    ciphertext: text("ciphertext").notNull(), // AES-256-GCM, base64; namespace/name/version as associated data
    iv: text("iv").notNull(),
    // Which master key encrypted it (see worker/secrets/keyring.ts): rekeying moves values to another.
    keyId: text("key_id").notNull().default(""),
    bytes: integer("bytes").notNull().default(0),
    // 0: put with --no-rollout, so its jobs roll to it only at their next apply.
    rollout: integer("rollout", { mode: "boolean" }).notNull().default(true),
    createdBy: text("created_by").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.namespace, t.name, t.version] })],
);

export const events = sqliteTable(
  "events",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    at: integer("at").notNull(),
    namespace: text("namespace"),
    jobId: text("job_id"),
    taskId: text("task_id"),
    nodeId: text("node_id"),
    deploymentId: text("deployment_id"),
    type: text("type").notNull(),
    message: text("message").notNull(),
  },
  // GET /v1/events reads by job or namespace in id order (SQLite appends the row id to each index).
  (t) => [index("events_job").on(t.jobId, t.id), index("events_namespace").on(t.namespace), index("events_task").on(t.taskId), index("events_deployment").on(t.deploymentId)],
);

/**
 * Who changed what: one row per operator write, in the batch of the write itself. `detail` never holds a
 * secret value (GET /v1/audit serves it). Read newest first by (at, id); the indexes serve the namespace
 * and actor filters in that order (SQLite appends the row id to each index).
 */
export const audit = sqliteTable(
  "audit",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    at: integer("at").notNull(),
    actor: text("actor").notNull(),
    action: text("action").notNull(),
    namespace: text("namespace"),
    target: text("target"),
    detail: text("detail", { mode: "json" }),
  },
  (t) => [index("audit_at").on(t.at), index("audit_namespace_at").on(t.namespace, t.at), index("audit_actor_at").on(t.actor, t.at)],
);

/**
 * The last cpu and memory samples of each task, as its agent reported them (one per stats interval, in the
 * heartbeat after the sample): what `status` and `top` show and an autoscaler will read. Bounded: the
 * heartbeat that adds a task's sample drops all but its newest TASK_STATS_KEPT. `at` is the control plane's
 * time of the sample (its heartbeat's time less the sample's age), so agents' clocks do not matter.
 */
export const taskStats = sqliteTable(
  "task_stats",
  {
    taskId: text("task_id")
      .notNull()
      .references(() => tasks.id, { onDelete: "cascade" }),
    at: integer("at").notNull(),
    /** Percent of one core (200 = two cores busy). */
    cpuPercent: real("cpu_percent").notNull(),
    memoryBytes: integer("memory_bytes").notNull(),
    /** The container's memory limit as the engine applies it; null when it has none. */
    memoryLimitBytes: integer("memory_limit_bytes"),
  },
  (t) => [primaryKey({ columns: [t.taskId, t.at] })],
);

export const logRequests = sqliteTable(
  "log_requests",
  {
    id: text("id").primaryKey(),
    taskId: text("task_id").notNull(),
    nodeId: text("node_id").notNull(),
    tail: integer("tail").notNull(),
    /** Only lines written in the last this many ms (absent: any age). */
    sinceMs: integer("since_ms"),
    /** Each line prefixed with the engine's timestamp (RFC 3339, nanoseconds). */
    timestamps: integer("timestamps", { mode: "boolean" }).notNull().default(false),
    /** One stream only; absent: stdout and stderr interleaved as written. */
    stream: text("stream", { enum: ["stdout", "stderr"] }),
    status: text("status", { enum: ["pending", "sent", "done", "failed"] }).notNull(),
    output: text("output"),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [index("log_requests_node").on(t.nodeId, t.status)],
);

/**
 * What an operator asks of one task's agent beyond a log tail, picked up like log requests (heartbeat
 * replies, or the agent's request poll): a log follow, or a one-shot exec. `expires_at` bounds each: a
 * follow's stream handler renews it while its client is connected; an exec's is the time to be picked up
 * (pending) and then to answer (sent). Past it the row is dead, whatever its status says: every write is
 * conditional on it, so a stale agent or a late answer changes nothing.
 */
export const agentRequests = sqliteTable(
  "agent_requests",
  {
    id: text("id").primaryKey(),
    kind: text("kind", { enum: ["follow", "exec"] }).notNull(),
    namespace: text("namespace").notNull(),
    jobId: text("job_id").notNull(),
    taskId: text("task_id").notNull(),
    nodeId: text("node_id").notNull(),
    // done: an exec answered, or a follow the agent ended (its task stopped); closed: its client went away.
    status: text("status", { enum: ["pending", "sent", "done", "failed", "closed"] }).notNull(),
    /** JSON: a follow's log options, or an exec's command and timeoutMs (the command is dropped once it ends). */
    spec: text("spec", { mode: "json" }).notNull(),
    expiresAt: integer("expires_at").notNull(),
    /** A follow's next chunk sequence number: chunk writes are conditional on it. */
    nextSeq: integer("next_seq").notNull().default(0),
    /** JSON: an exec's exit code and output. */
    result: text("result", { mode: "json" }),
    /** Why it failed. */
    message: text("message"),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [index("agent_requests_node").on(t.nodeId, t.status), index("agent_requests_expires").on(t.expiresAt)],
);

/** Lines a follow's agent has sent and its stream handler has not yet: deleted as they are sent, or by age. */
export const followChunks = sqliteTable(
  "follow_chunks",
  {
    followId: text("follow_id").notNull(),
    seq: integer("seq").notNull(),
    /** JSON: the chunk's output entries and status message. */
    body: text("body").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.followId, t.seq] }), index("follow_chunks_created").on(t.createdAt)],
);

/**
 * Durable evaluations, one row per job: whatever may change a job's placement writes (or refreshes) its row
 * in the same batch as the change, so a crash at any point leaves the work in the store. Any instance takes
 * a due row under a visibility timeout and deletes it only if no request arrived meanwhile (`generation`),
 * so requests that arrive while an evaluation runs make it run once more, not get lost.
 */
export const evaluations = sqliteTable(
  "evaluations",
  {
    jobId: text("job_id").primaryKey(),
    /** Why it was asked for, most recent first (bounded): apply, scale, drain, task-ended, ... */
    triggers: text("triggers").notNull(),
    dueAt: integer("due_at").notNull(),
    /** Bumped by every request: completing an evaluation is conditional on the generation it took. */
    generation: integer("generation").notNull().default(1),
    claimedBy: text("claimed_by"),
    claimedUntil: integer("claimed_until"),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [index("evaluations_due").on(t.dueAt)],
);

/** Fleet-wide markers, e.g. `fleet_seen_at`: when any agent last reached the control plane. */
export const clusterState = sqliteTable("cluster_state", {
  key: text("key").primaryKey(),
  value: integer("value").notNull(),
});

export type JobRow = typeof jobs.$inferSelect;
export type TaskRow = typeof tasks.$inferSelect;
export type NodeRow = typeof nodes.$inferSelect;
export type DeploymentRow = typeof deployments.$inferSelect;
