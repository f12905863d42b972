// The ContainerRuntime port: what the agent needs from a container engine, in leasehold's own types.
import type { JsonObject, NetworkServes, NodeOwner, TaskIdentity } from "./labels";

export type PortProtocol = "tcp" | "udp";

export type PortMapping = {
  container: number;
  /** Static host port; absent or 0 lets the engine pick a free one. */
  host?: number;
  /** Host address this port is published on, over the container's hostIp. */
  hostIp?: string;
  protocol?: PortProtocol;
};

export type HostPort = { container: number; host: number; protocol: PortProtocol };

/** A host file bind-mounted read-only into the container (a task's secret or config file, kept on tmpfs). */
export type FileMount = {
  /** Absolute path on the engine's host. */
  source: string;
  /** Absolute path in the container. */
  target: string;
};

export type ContainerSpec = {
  task: TaskIdentity;
  image: string;
  /** Replaces the image's CMD; the entrypoint is kept. */
  command?: string[];
  env?: Record<string, string>;
  /** CPU limit in millicores (1000 = one core). */
  cpuMillis?: number;
  /** Memory limit in MiB. */
  memoryMiB?: number;
  ports?: PortMapping[];
  /** Host files mounted read-only, each at its own path in the container. */
  files?: FileMount[];
  /** Extra labels; keys under io.leasehold. are reserved and rejected. */
  labels?: Record<string, string>;
  /** Stored as compact JSON in the io.leasehold.spec label, read back after an agent restart. */
  restore?: JsonObject;
  /** Host address ports are published on; default all interfaces. */
  hostIp?: string;
  /** A network made with ensureNetwork that the container joins instead of the engine's default bridge. */
  network?: { name: string; aliases?: string[] };
  /** Nameservers the container's names go to (on a network, the engine's embedded DNS forwards to them). Default: the engine's. */
  dns?: string[];
};

export type StartedContainer = { id: string; name: string; hostPorts: HostPort[] };

export type ContainerState = "created" | "running" | "paused" | "restarting" | "removing" | "exited" | "dead" | "missing";

export type ContainerDetails = {
  id: string;
  name: string;
  image: string;
  state: Exclude<ContainerState, "missing">;
  /** Set while the container is exited or dead; null while created or running. */
  exitCode: number | null;
  startedAt: Date | null;
  finishedAt: Date | null;
  oomKilled: boolean;
  restartCount: number;
  /** Address on the engine's bridge network, if any. */
  ipAddress: string | null;
  hostPorts: HostPort[];
  labels: Record<string, string>;
  /** The task the container runs, if it carries a complete set of task labels. */
  task: TaskIdentity | undefined;
  restore: JsonObject | undefined;
  resources: { nanoCpus: number; memoryBytes: number };
};

export type ContainerInspection = ContainerDetails | { id: string; state: "missing" };

export type ContainerSummary = {
  id: string;
  name: string;
  image: string;
  state: Exclude<ContainerState, "missing">;
  createdAt: Date;
  labels: Record<string, string>;
  task: TaskIdentity | undefined;
  restore: JsonObject | undefined;
};

export type StopOutcome =
  /** The container exited on SIGTERM within the grace period. */
  | "graceful"
  /** The grace period ran out and the container was killed. */
  | "killed"
  | "already-stopped"
  | "missing";

export type StopResult = { outcome: StopOutcome; exitCode: number | null };

export type ContainerStatsSample = {
  /** Percent of one core (100 = one core fully used), like `docker stats`. */
  cpuPercent: number;
  /** CPU time the container has used since it started (all cores together), in seconds: only ever rises while it runs. */
  cpuSeconds: number;
  memoryBytes: number;
  memoryLimitBytes: number;
};

export type ContainerEventAction = "start" | "die" | "oom" | "destroy";

export type ContainerEvent = {
  id: string;
  action: ContainerEventAction;
  /** Present on die. */
  exitCode?: number;
  /** The container's io.leasehold.* labels. */
  labels: Record<string, string>;
  /** Engine time of the event, ms since the epoch. */
  at: number;
};

export type Unsubscribe = () => void;

export type ExecResult = { exitCode: number; output: string };

export type LogStreamKind = "stdout" | "stderr";

/** Which lines of a container's log to read. */
export type LogOptions = {
  /** At most this many lines written before now (0: none; a follow then gives only new ones). */
  tail: number;
  /** Only lines written within this many ms before now. */
  sinceMs?: number;
  /** Each line prefixed with the engine's RFC 3339 timestamp (nanoseconds). */
  timestamps?: boolean;
  /** Only this stream; absent: stdout and stderr interleaved as written. */
  stream?: LogStreamKind;
};

export type LogFollowHandlers = {
  /** Output as the engine hands it on: whole frames, not whole lines. */
  onOutput(stream: LogStreamKind, data: Buffer): void;
  /** The stream ended: the container stopped, the engine went away (`error`), or close() was called. Called once. */
  onEnd(error?: Error): void;
};

export type LogFollow = { close(): void };

/** A one-shot command's outcome: each stream's last maxOutputBytes. */
export type CommandResult = {
  /** null when it did not exit by itself (timed out, and killed). */
  exitCode: number | null;
  stdout: string;
  stderr: string;
  /** Output beyond the limit was dropped (its start). */
  truncated: boolean;
  timedOut: boolean;
};

/** A bridge network of one node, for the containers of one job (or one namespace) on it. */
export type NetworkSpec = {
  /** The engine-wide name; it must be unique per owner (see agent/network). */
  name: string;
  owner: NodeOwner;
  /** The node's name, labelled for people reading `docker network ls`. */
  node: string;
  /** Whose containers it is for, labelled on it: the job's (by job id) or the whole namespace's. */
  serves: NetworkServes;
};

export type NetworkInfo = {
  id: string;
  name: string;
  /** The host's address on the network: containers on it reach the host there. */
  gateway: string;
  /** CIDR, e.g. 172.18.0.0/16. */
  subnet: string;
  labels: Record<string, string>;
};

export type NetworkRemoval = "removed" | "in-use" | "missing";

export interface ContainerRuntime {
  /** Makes sure `image` is present locally, pulling it if not; rejects within `timeoutMs`. */
  ensureImage(image: string, opts: { timeoutMs: number }): Promise<void>;
  /** Creates and starts a container; resolves with the host ports actually bound. */
  start(spec: ContainerSpec): Promise<StartedContainer>;
  /** SIGTERM, then SIGKILL after `graceMs`. Idempotent: stopped or removed containers are fine. */
  stop(id: string, opts: { graceMs: number }): Promise<StopResult>;
  /** Removes the container (killing it if still running). Idempotent. */
  remove(id: string): Promise<void>;
  /** Never throws for a missing container: its state is "missing". */
  inspect(id: string): Promise<ContainerInspection>;
  /** Containers of `owner` only (cluster and node id); running ones unless `all`. */
  list(filter: { owner: NodeOwner; all?: boolean }): Promise<ContainerSummary[]>;
  /** The last `tail` lines of stdout and stderr (or the one stream asked for), interleaved as written. */
  logs(id: string, opts: LogOptions): Promise<string>;
  /**
   * Follows a container's log (`docker logs --follow`): the selected lines, then new ones as they are written,
   * until the container stops or close() is called. Resolves once the engine stream is open.
   */
  followLogs(id: string, opts: LogOptions & LogFollowHandlers): Promise<LogFollow>;
  /** One resource sample. */
  stats(id: string): Promise<ContainerStatsSample>;
  /**
   * Subscribes to start/die/oom/destroy of `owner`'s containers. Resolves once the engine
   * stream is open, so nothing that happens after it resolves is missed; reconnects on its own
   * if the stream drops, replaying from the last event seen.
   */
  events(
    filter: { owner: NodeOwner },
    onEvent: (event: ContainerEvent) => void,
    opts?: { onError?: (error: Error) => void },
  ): Promise<Unsubscribe>;
  /** Runs `cmd` inside a running container; rejects with a timeout error after `timeoutMs`. */
  exec(id: string, cmd: string[], opts: { timeoutMs: number }): Promise<ExecResult>;
  /**
   * Runs a one-shot command in a running container with stdout and stderr apart (no TTY, no stdin), kills it
   * (and what it started) at `timeoutMs`, and resolves either way. Rejects only when it cannot be run at all.
   */
  execCommand(id: string, cmd: string[], opts: { timeoutMs: number; maxOutputBytes: number }): Promise<CommandResult>;
  /**
   * The owner's network of that name, made if missing. Idempotent and safe to race (two callers get the
   * same network); a network of that name owned by anyone else is a conflict, never adopted.
   */
  ensureNetwork(spec: NetworkSpec): Promise<NetworkInfo>;
  /** Networks of `owner` only (cluster and node id). */
  listNetworks(filter: { owner: NodeOwner }): Promise<NetworkInfo[]>;
  /** Removes a network unless a running container is on it ("in-use"). Idempotent ("missing"). */
  removeNetwork(id: string): Promise<NetworkRemoval>;
}

export type ContainerRuntimeErrorCode =
  | "image_unavailable"
  | "not_found"
  | "conflict"
  | "timeout"
  | "invalid_spec"
  | "engine";

export class ContainerRuntimeError extends Error {
  override readonly name = "ContainerRuntimeError";
  readonly code: ContainerRuntimeErrorCode;

  constructor(code: ContainerRuntimeErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}
