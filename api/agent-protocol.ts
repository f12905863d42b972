// The agent protocol: enrollment, claim, heartbeat and lease claims, shared by control plane and agent.
import { z } from "zod";
import { execOrderSchema, followOrderSchema, logSelectionSchema } from "./agent-requests";
import { jobSpecSchema } from "./job-spec";
import { meshCertificateSchema, meshRequestSchema } from "./mesh";
import { nodeEncryptionKeySchema } from "./sealed";
import { advertisedAddressSchema, ingressListenerSchema, serviceSnapshotSchema } from "./services";

/** JWT audiences: one per kind of token, so a token of one kind is never accepted as another. */
export const AUDIENCE = { operator: "leasehold:operator", node: "leasehold:node", lease: "leasehold:lease" } as const;
export const ISSUER = "leasehold";

const labels = z.record(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}$/, "not a valid label key"), z.string().max(256)).default({});

export const enrollRequestSchema = z.strictObject({
  token: z.string().min(8).max(256),
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, "node names are letters, digits, '.', '_' and '-'"),
  /** Absent: the region the join token is bound to, or "global" for an unbound token. */
  region: z.string().regex(/^[a-z0-9-]{1,32}$/).optional(),
  labels,
  capacity: z.strictObject({
    cpu: z.int().min(1).max(1_024_000),
    memory: z.int().min(4).max(16_777_216),
    ports: z.strictObject({ min: z.int().min(1).max(65535), max: z.int().min(1).max(65535) }).optional(),
  }),
  agentVersion: z.string().max(64).optional(),
  /** The node credential this host held before (even expired): proves it is the same host re-enrolling. */
  previousCredential: z.string().max(4096).optional(),
  /** The agent's X25519 public key: task secrets are sealed to it. A node without one is handed no secrets. */
  encryptionKey: nodeEncryptionKeySchema.optional(),
  /** Where other hosts reach this one (its tasks' published ports), by scope. Absent: none, and its endpoints are reachable only from itself. */
  advertise: z.array(advertisedAddressSchema).max(8).optional(),
  /** The node's mesh: its key (a certificate is issued for it) and the TLS port other nodes' proxies dial. Absent: endpoints on it are reachable only from itself. */
  mesh: meshRequestSchema.optional(),
});
export type EnrollRequest = z.input<typeof enrollRequestSchema>;

export const enrollResponseSchema = z.object({
  nodeId: z.string(),
  credential: z.string(),
  heartbeatIntervalMs: z.number(),
  leaseTtlMs: z.number(),
  jwks: z.object({ keys: z.array(z.record(z.string(), z.unknown())) }),
  /** Which control plane this is (stable while its signing key is): agents label their containers with it. */
  clusterId: z.string().optional(),
  /** The region the node was enrolled in (the request's, else the join token's, else "global"). */
  region: z.string().optional(),
  mesh: meshCertificateSchema.optional().describe("The node's mesh certificate, when it enrolled with a mesh key"),
});
export type EnrollResponse = z.infer<typeof enrollResponseSchema>;

/**
 * What an agent needs to run a task: the lease's payload. It travels beside the signed token (in claim
 * replies), and the token's `ph` claim is its hash (see payload-hash.ts).
 */
export const taskSpecSchema = z.object({
  jobId: z.string(),
  namespace: z.string(),
  job: z.string(),
  slot: z.number(),
  version: z.number(),
  type: jobSpecSchema.shape.type,
  image: z.string(),
  command: z.array(z.string()).optional(),
  env: z.record(z.string(), z.string()),
  resources: z.object({ cpu: z.number(), memory: z.number() }),
  ports: z.array(z.object({ name: z.string(), container: z.number(), host: z.number().optional(), protocol: z.enum(["tcp", "udp"]), service: z.string().optional().describe("The service the port serves, in the task's namespace") })),
  health: z.unknown().optional(),
  restart: z.object({ mode: z.enum(["always", "on-failure", "never"]), attempts: z.number(), intervalMs: z.number(), delayMs: z.number() }),
  disconnect: z.object({ policy: z.enum(["keep", "stop"]), afterMs: z.number() }),
  stopGraceMs: z.number(),
  secrets: z
    .array(z.object({ name: z.string(), version: z.number(), file: z.string().optional(), env: z.string().optional(), mode: z.number().optional() }))
    .optional()
    .describe("Secrets the task uses, by name and version (never their values): as a file (path, mode) or an env variable"),
  config: z.array(z.object({ file: z.string(), mode: z.number() })).optional().describe("Config files the task gets (their rendered content travels sealed)"),
  sealed: z.boolean().optional().describe("True when the task's files and secret env travel sealed beside the lease: run it only with them"),
  upstreams: z
    .array(z.object({ service: z.string(), namespace: z.string(), port: z.number(), policy: z.enum(["round-robin", "least-connections"]) }))
    .optional()
    .describe("Services the agent serves to the task on its job network's gateway, at port, balanced across the service's healthy endpoints"),
  network: z.enum(["job", "namespace"]).optional().describe("The Docker bridge network the task joins on its host: one per job (default) or per namespace"),
}).describe("The task's payload: what the agent runs. Its hash (payloadHash) is the lease's ph claim");
export type TaskSpec = z.infer<typeof taskSpecSchema>;

/**
 * Claims of a lease JWS: a small fencing token. `exp` bounds the grant; the renewed expiry lives in the
 * store and heartbeat replies. The task spec is not in it: `ph` is the hash of that payload, which travels
 * beside the token, so a heartbeat re-signs and carries only this.
 */
export interface LeaseClaims {
  sub: string; // task id
  node: string;
  epoch: number;
  ver: number; // job version
  exp: number; // seconds
  iat: number;
  ph: string; // payloadHash of the task spec
}

const leaseToken = z.string().describe("Compact JWS (EdDSA) of the lease claims: sub (task id), node, epoch, ver (job version), iat, exp and ph (the payload's hash)");
const leaseExpiry = z.number().describe("When the lease lapses unless renewed (ms since epoch)");

export const leaseGrantSchema = z.object({
  taskId: z.string(),
  epoch: z.number(),
  lease: leaseToken,
  expiresAt: leaseExpiry,
  task: taskSpecSchema.describe("The lease's payload, beside its token: run it only if its payloadHash equals the token's ph claim"),
  sealed: z
    .string()
    .optional()
    .describe("When task.sealed: the task's secret files, config files and secret env, a compact JWE (ECDH-ES, A256GCM) sealed to this node's encryption key"),
});
export type LeaseGrant = z.infer<typeof leaseGrantSchema>;

/** A renewal carries no payload: the agent holds it from the claim, and the token's `ph` is unchanged. */
export const leaseRenewalSchema = z
  .object({
    taskId: z.string(),
    epoch: z.number(),
    lease: leaseToken.optional().describe("A re-signed token when the grant nears its end (same ph, no payload); absent: keep the one held"),
    expiresAt: leaseExpiry,
  })
  .describe("A renewed lease: its new expiry, and now and then a re-signed token");
export type LeaseRenewal = z.infer<typeof leaseRenewalSchema>;

export const revocationSchema = z.object({
  taskId: z.string(),
  epoch: z.number(),
  reason: z.enum(["stale-epoch", "expired", "stopped", "not-found", "wrong-node", "bad-signature"]),
  detail: z.string(),
});
export type Revocation = z.infer<typeof revocationSchema>;

export const claimRequestSchema = z.strictObject({
  waitMs: z.int().min(0).max(30_000).default(0).describe("Long-poll: how long to wait for new work"),
  workSeq: z
    .int()
    .min(0)
    .optional()
    .describe("The workSeq of the previous claim reply: answer at once if work came since. Send it only to a control plane whose replies carry workSeq"),
});
export type ClaimRequest = z.input<typeof claimRequestSchema>;
export const claimResponseSchema = z.object({
  leases: z.array(leaseGrantSchema).describe("Every lease the node holds, each token with its payload (task) beside it"),
  // Optional: control planes before these fields answer without them, and agents before them ignore them.
  stops: z
    .array(revocationSchema)
    .optional()
    .describe("Held leases whose tasks are asked to stop (reason stopped): stop them and report them stopped. Heartbeat replies revoke them too"),
  workSeq: z.number().optional().describe("The node's work marker as this reply read it: send it with the next claim"),
  heartbeatIntervalMs: z.number(),
  leaseTtlMs: z.number(),
});
export type ClaimResponse = z.infer<typeof claimResponseSchema>;

/** One cpu and memory sample of a task's container, as the agent took it `ageMs` before the heartbeat. */
export const taskUsageSchema = z.strictObject({
  cpuPercent: z.number().min(0).max(102_400).describe("Percent of one core since the previous sample (200: two cores busy)"),
  memoryBytes: z.int().min(0).max(Number.MAX_SAFE_INTEGER),
  memoryLimitBytes: z.int().min(0).max(Number.MAX_SAFE_INTEGER).nullable().default(null),
  ageMs: z.int().min(0).max(3_600_000).describe("How long before this heartbeat the sample was taken"),
});
export type TaskUsage = z.input<typeof taskUsageSchema>;

export const taskReportSchema = z.strictObject({
  lease: z.string().min(16).max(65_536),
  state: z.enum(["starting", "running", "complete", "failed", "stopped"]),
  health: z.enum(["starting", "healthy", "unhealthy"]).nullable().default(null),
  exitCode: z.int().nullable().default(null),
  restarts: z.int().min(0).default(0),
  hostPorts: z.array(z.strictObject({ container: z.int(), host: z.int() })).max(64).default([]),
  message: z.string().max(1024).optional(),
  usage: taskUsageSchema.optional().describe("The task's latest cpu and memory sample, sent once, in the first heartbeat after it was taken"),
});
export type TaskReport = z.input<typeof taskReportSchema>;

export const encryptionKeyRequestSchema = z.strictObject({ key: nodeEncryptionKeySchema });

export const heartbeatRequestSchema = z.strictObject({
  tasks: z.array(taskReportSchema).max(2_000).default([]),
  services: z
    .record(z.string().max(128), z.number())
    .refine((m) => Object.keys(m).length <= 256, "at most 256 services")
    .optional()
    .describe('The services this node needs endpoints of ("namespace/name": the index it holds, 0 for none yet): the reply carries those whose set changed'),
  ingress: z.number().optional().describe("The index of the ingress listeners this node holds (0: none yet): the reply carries them when they changed"),
  mesh: meshRequestSchema.optional().describe("Asks for a new mesh certificate for this key, and records the mesh port: sent when the agent starts without a valid one and once the one held is past half its life"),
  advertise: z
    .array(advertisedAddressSchema)
    .max(8)
    .optional()
    .describe("Where other hosts reach this node now, replacing what it enrolled with: sent on an agent's first heartbeat after it starts"),
});
export type HeartbeatRequest = z.input<typeof heartbeatRequestSchema>;

export const heartbeatResponseSchema = z.object({
  renewed: z.array(leaseRenewalSchema).describe("Leases renewed by this heartbeat: tokens only, never payloads"),
  revoked: z.array(revocationSchema),
  work: z.boolean().describe("New placements wait for this node: claim now"),
  credential: z.string().optional().describe("A fresh node credential when the current one nears expiry"),
  logRequests: z.array(logSelectionSchema.extend({ id: z.string(), taskId: z.string() })).default([]),
  follows: z.array(followOrderSchema).optional().describe("Log follows handed to this node by this heartbeat"),
  execs: z.array(execOrderSchema).optional().describe("Execs handed to this node by this heartbeat"),
  services: z.array(serviceSnapshotSchema).optional().describe("Services asked for whose endpoint set is not the one the node holds: the whole set, with its index"),
  ingress: z
    .object({ index: z.number(), listeners: z.array(ingressListenerSchema) })
    .optional()
    .describe("The ingress listeners this node should run, when they are not the ones it holds"),
  mesh: meshCertificateSchema.optional().describe("A new mesh certificate, when the heartbeat asked for one"),
  heartbeatIntervalMs: z.number(),
  leaseTtlMs: z.number(),
});
export type HeartbeatResponse = z.infer<typeof heartbeatResponseSchema>;
