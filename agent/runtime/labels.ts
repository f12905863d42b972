// Container labels that mark a container as leasehold's and carry what an agent needs to rebuild its state.
//
// Invariant: every container the agent creates carries all of the task labels; the cluster and node-id
// labels together are the ownership boundary, so agents sharing one engine — of one cluster or of
// several (staging and prod), under one node name or not — never see or touch each other's containers.
// The node name label is for people reading `docker ps`: names are reused, ids are not.

export const LABEL_PREFIX = "io.leasehold.";

export const LABELS = {
  task: "io.leasehold.task",
  job: "io.leasehold.job",
  epoch: "io.leasehold.epoch",
  node: "io.leasehold.node",
  /** The control plane the container's lease came from (see NodeOwner). */
  cluster: "io.leasehold.cluster",
  nodeId: "io.leasehold.node-id",
  namespace: "io.leasehold.namespace",
  slot: "io.leasehold.slot",
  version: "io.leasehold.version",
  /** Compact JSON the agent reads back after a restart (e.g. the lease token). */
  spec: "io.leasehold.spec",
  /** On a network: whose containers it is for ("job" or "namespace"); see agent/network. */
  network: "io.leasehold.network",
} as const;

export type LabelKey = (typeof LABELS)[keyof typeof LABELS];

/** Which task (and which lease of it) a container runs. */
export type TaskIdentity = {
  task: string;
  job: string;
  namespace: string;
  /** The slot (replica index) within the job. */
  slot: number;
  /** The job version the task belongs to. */
  version: number;
  /** Fencing token of the lease under which the container was started. */
  epoch: number;
  /** The node's name (for display; not an ownership test). */
  node: string;
  cluster: string;
  nodeId: string;
};

/**
 * Whose containers these are: a node of one cluster. Every listing and event subscription filters on
 * both, so a node name shared by two clusters, or reused inside one, selects nothing of another's.
 */
export type NodeOwner = { cluster: string; nodeId: string };

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/** The label selector that matches every container carrying the node name `node`, whatever its cluster. */
export function nodeSelector(node: string): string {
  return `${LABELS.node}=${node}`;
}

/** The label selectors (all must match) for the containers `owner` owns. */
export function ownerSelector(owner: NodeOwner): string[] {
  return [`${LABELS.cluster}=${owner.cluster}`, `${LABELS.nodeId}=${owner.nodeId}`];
}

/** Whose containers a network is for: one job's (by its id), or every job's of a namespace. */
export type NetworkServes = { kind: "job"; namespace: string; job: string } | { kind: "namespace"; namespace: string };

/** Labels of a network of `owner` (the ownership pair and the node name) and whose containers it is for. */
export function networkLabels(owner: NodeOwner, node: string, serves: NetworkServes): Record<string, string> {
  return {
    [LABELS.cluster]: owner.cluster,
    [LABELS.nodeId]: owner.nodeId,
    [LABELS.node]: node,
    [LABELS.network]: serves.kind,
    [LABELS.namespace]: serves.namespace,
    ...(serves.kind === "job" ? { [LABELS.job]: serves.job } : {}),
  };
}

/** Labels for a container running `identity`, with `restore` as the compact spec label. */
export function taskLabels(identity: TaskIdentity, restore?: JsonObject): Record<string, string> {
  const labels: Record<string, string> = {
    [LABELS.task]: identity.task,
    [LABELS.job]: identity.job,
    [LABELS.namespace]: identity.namespace,
    [LABELS.slot]: String(identity.slot),
    [LABELS.version]: String(identity.version),
    [LABELS.epoch]: String(identity.epoch),
    [LABELS.node]: identity.node,
    [LABELS.cluster]: identity.cluster,
    [LABELS.nodeId]: identity.nodeId,
  };
  if (restore !== undefined) labels[LABELS.spec] = JSON.stringify(restore);
  return labels;
}

function intLabel(labels: Readonly<Record<string, string>>, key: string): number | undefined {
  const raw = labels[key];
  if (raw === undefined || !/^\d+$/.test(raw)) return undefined;
  const n = Number(raw);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** The task a container runs, read back from its labels; undefined if any owned label is missing or malformed. */
export function parseTaskLabels(labels: Readonly<Record<string, string>>): TaskIdentity | undefined {
  const task = labels[LABELS.task];
  const job = labels[LABELS.job];
  const namespace = labels[LABELS.namespace];
  const node = labels[LABELS.node];
  const cluster = labels[LABELS.cluster];
  const nodeId = labels[LABELS.nodeId];
  const slot = intLabel(labels, LABELS.slot);
  const version = intLabel(labels, LABELS.version);
  const epoch = intLabel(labels, LABELS.epoch);
  if (!task || !job || !namespace || !node || !cluster || !nodeId || slot === undefined || version === undefined || epoch === undefined) {
    return undefined;
  }
  return { task, job, namespace, node, cluster, nodeId, slot, version, epoch };
}

/** The restore spec stored on a container; undefined if absent or not a JSON object. */
export function parseRestoreLabel(labels: Readonly<Record<string, string>>): JsonObject | undefined {
  const raw = labels[LABELS.spec];
  if (raw === undefined) return undefined;
  try {
    const value: unknown = JSON.parse(raw);
    return isJsonObject(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Only the io.leasehold.* entries of a label map (docker event attributes mix labels with image, name, exitCode). */
export function ownedLabels(attributes: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(attributes)) if (k.startsWith(LABEL_PREFIX)) out[k] = v;
  return out;
}

/** Docker container name for a task: leasehold-<job>-<slot>-<shortTask>-e<epoch>-<node>, sanitised. */
export function containerName(identity: TaskIdentity): string {
  const clean = (s: string): string => s.replace(/[^a-zA-Z0-9_.-]+/g, "-").replace(/^[-_.]+|[-_.]+$/g, "");
  const shortTask = identity.task.replace(/[^a-zA-Z0-9]/g, "").slice(0, 8) || "task";
  // The epoch is part of the name so a re-leased slot on the same node never collides with the
  // exited container of its previous lease.
  return ["leasehold", clean(identity.job), String(identity.slot), shortTask, `e${identity.epoch}`, clean(identity.node)]
    .filter((part) => part.length > 0)
    .join("-")
    .slice(0, 200);
}
