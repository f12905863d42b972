// The supervisor: reconciles held leases against the node's containers. It starts what is missing,
// restarts by policy, stops what has no valid lease (revoked, refused as stale, or past its
// disconnect bound), runs health checks, and produces the per-task reports heartbeats carry.
//
// Invariants: it acts only on leases that verified against the pinned keys and name this node, and only
// on payloads whose hash is the lease's `ph` (a lease and its payload are held, and stored, as a pair); it
// only ever lists, stops or removes containers labelled with this node's cluster and node id (never by
// name alone: another cluster's node may share it); a task has at most one container per epoch.
// A start that fails (the image cannot be pulled, the engine refuses) is a failed attempt under the
// job's restart policy, like an exit: retried after its delay, `failed` once its attempts are used up.
// So is a task whose health check failed `failures` times in a row (unless its check says onFailure:
// ignore): its container is stopped and the policy decides; the new container's check starts over.
// Fencing on the agent's side: it never runs a task at an epoch at or below one it was told is fenced
// (stale, expired, gone, stopped) or that it has ended, nor below one it has already run — kept on disk,
// so a stale lease that arrives late (a long-poll answered after a drain) or after a restart is refused.
// Sealed tasks (see task-secrets.ts): the sealed payload is held and stored with its lease, opened at each
// start and never kept open; one that is missing or does not open fails the task before any container is
// made. A task's secret files exist only while a container of its task and epoch runs: every pass, and an
// adoption, sweeps the rest. Networking (when given) works the same way: a task's network is made and its
// upstreams opened before its container, and every pass and adoption settles them against the held tasks.
import type { HeartbeatResponse, LeaseClaims, LeaseGrant, Revocation, TaskReport, TaskSpec, TaskUsage } from "../api/agent-protocol";
import { errorText, type Logger } from "./log";
import { createHealthCheck, taskHealthOf, type HealthCheck, type HealthSnapshot } from "./health";
import { ContainerRuntimeError, type ContainerRuntime, type ContainerSpec, type ContainerSummary, type HostPort, type JsonObject, type LogOptions, type NodeOwner, type StartedContainer } from "./runtime";
import type { LeaseChecker } from "./lease-check";
import type { LeaseStore, StoredLease } from "./lease-store";
import { clearLeftovers } from "./leftovers";
import { noTaskSecrets, TaskSecretsError, type TaskSecrets } from "./task-secrets";

export type TaskPhase = "starting" | "running" | "backoff" | "complete" | "failed" | "stopping" | "stopped";

interface HeldTask {
  taskId: string;
  lease: string;
  claims: LeaseClaims;
  /** The lease's payload, as it arrived: it hashes to `claims.ph`. */
  spec: TaskSpec;
  /** When the spec is sealed: the JWE of its secrets, as it came beside the lease (never opened here for longer than a start). */
  sealed: string | undefined;
  phase: TaskPhase;
  containerId: string | null;
  hostPorts: HostPort[];
  exitCode: number | null;
  /** Restart times within the policy interval. */
  restartTimes: number[];
  restarts: number;
  nextStartAt: number;
  health: HealthCheck | null;
  /** Set when the running container's check asks for a restart (why); the next pass acts on it. */
  healthFailure: string | null;
  message: string | undefined;
  /** Why the pending (or last) restart happens: shown as the message once the new container runs. */
  restartReason: string | undefined;
  busy: boolean;
  /**
   * Whether the control plane has vouched for this lease since this process took it: a claim handed it
   * over, or a heartbeat renewed it. A lease adopted after a restart is not started (again) until then:
   * it may have been fenced while the agent was down.
   */
  confirmed: boolean;
  /**
   * When the request was sent whose reply last renewed this lease (this process's clock), or null before
   * any. The control plane renewed it no earlier, so its stored expiry is at least this plus the fence
   * window: a `disconnect: stop` task that stops within `after` of it is gone before any replacement may
   * start. Counting from any contact instead (a reply to a heartbeat sent before the lease was taken) let
   * a task run past its lease (simulator seed 3).
   */
  renewedSentAt: number | null;
}

export interface SupervisorDeps {
  runtime: ContainerRuntime;
  checkLease: LeaseChecker;
  /** This node's cluster and id: the ownership labels every container carries and every listing filters on. */
  owner: NodeOwner;
  /** This node's name, labelled for people reading `docker ps`. */
  nodeName: string;
  now: () => number;
  log: Logger;
  /** Asks the heartbeat loop to report soon (a task changed state). */
  reportSoon: () => void;
  /** Asks for a reconciliation pass after `delayMs` (a restart delay ends). */
  reconcileAfter: (delayMs: number) => void;
  imagePullTimeoutMs?: number;
  /**
   * Exited containers kept per slot once their end has been reported, for `leasehold logs` (default
   * DEFAULT_KEEP_EXITED); older ones are removed.
   */
  keepExited?: number;
  /** Where the newest lease of each held task, with its payload, is kept across agent restarts. */
  leaseStore: LeaseStore;
  /** Opens sealed payloads with the node's key and puts their files on tmpfs. Absent: sealed tasks fail. */
  secrets?: TaskSecrets;
  /** Each task's network and upstreams (agent/network). Absent: containers join the engine's default bridge, and upstreams are not served. */
  networking?: TaskNetworking;
  /** Told when a task is started again under its restart policy (the node's metrics count these). */
  onRestart?: (taskId: string) => void;
  /** Told when a task's health check turns unhealthy, whatever its onFailure says. */
  onHealthFailure?: (taskId: string) => void;
}

/** What the supervisor needs of the node's networking. */
export interface TaskNetworking {
  /**
   * Before a task's container is made: its network (made if missing), the env naming its upstreams (served
   * from now on) and those addresses by service, for its config files.
   */
  prepare(task: { taskId: string; spec: TaskSpec }): Promise<{ network: { name: string; aliases: string[] }; env: Record<string, string>; upstreams: ReadonlyMap<string, string>; dns?: string[] }>;
  /**
   * After every pass and an adoption: the held tasks that run or may start again. Upstreams and networks of
   * no such task go (a network once no running container is on it).
   */
  settle(tasks: { taskId: string; spec: TaskSpec }[]): Promise<void>;
}

/** A held task as others read it: its phase and container, and the job slot it fills (for metrics labels). */
export interface HeldTaskView {
  taskId: string;
  epoch: number;
  phase: TaskPhase;
  containerId: string | null;
  restarts: number;
  namespace: string;
  job: string;
  slot: number;
}

export interface Supervisor {
  /** Rebuilds state from the node's containers and their labels alone (after an agent restart). */
  adopt(lastContact: number): Promise<number>;
  /** Takes leases from a claim reply (each verified here, with its payload). */
  accept(leases: Pick<LeaseGrant, "taskId" | "lease" | "task" | "sealed">[]): Promise<void>;
  /** Applies a heartbeat reply (to a request sent at `sentAt`): renewed grants, revocations. */
  applyHeartbeat(reply: HeartbeatResponse, sentAt: number): Promise<void>;
  /** Applies revocations: a heartbeat reply's, or the stop orders of a claim reply. */
  revoke(revoked: Revocation[]): Promise<void>;
  /** Reports for the next heartbeat; tasks that reached an end are forgotten once reported. */
  /** Each held task's report; `usageOf` adds a task's sample to it when there is a new one. */
  reports(usageOf?: (taskId: string, epoch: number) => TaskUsage | undefined): TaskReport[];
  /** Marks reports as delivered (drops finished tasks). */
  delivered(reports: TaskReport[]): void;
  /** One reconciliation pass. `lastContact` is when the control plane last answered. */
  reconcile(lastContact: number): Promise<void>;
  /** A container died: reconcile that task now. */
  onContainerExit(containerId: string, exitCode: number | undefined): void;
  /** The task's log tail: the last `tail` lines (of one stream, from a window, with timestamps, when asked). */
  logs(taskId: string, tail: number, opts?: Omit<LogOptions, "tail">): Promise<string>;
  /** The container holding the task's log: its current one, else its newest on this node (an exited one kept). */
  containerOf(taskId: string): Promise<string | null>;
  held(): HeldTaskView[];
  /** The host ports running tasks serve each service on ("namespace/name"): what the node's mesh may open. */
  servedPorts(): Map<string, Set<number>>;
  /** Stops health checks; containers keep running (an agent restart re-attaches to them). */
  close(): void;
}

/**
 * Enough to read back why the last attempts of a slot ended (a crash, the version before an update)
 * while bounding what a long-lived host accumulates: each exited container keeps its log file and
 * writable layer on disk.
 */
export const DEFAULT_KEEP_EXITED = 3;

/** Fences remembered per agent: the oldest are forgotten past this (a task's id is never reused). */
const MAX_FENCES = 10_000;

export function createSupervisor(deps: SupervisorDeps): Supervisor {
  const tasks = new Map<string, HeldTask>();
  const pullTimeoutMs = deps.imagePullTimeoutMs ?? 120_000;
  const keepExited = Math.max(0, deps.keepExited ?? DEFAULT_KEEP_EXITED);
  const fences = new Map(Object.entries(deps.leaseStore.loadFences()));
  const secrets = deps.secrets ?? noTaskSecrets();

  /** No epoch of this task at or below `epoch` runs here again. */
  function fence(taskId: string, epoch: number): void {
    if ((fences.get(taskId) ?? 0) >= epoch) return;
    fences.delete(taskId);
    fences.set(taskId, epoch);
    while (fences.size > MAX_FENCES) fences.delete(fences.keys().next().value as string);
    deps.leaseStore.saveFences(Object.fromEntries(fences));
  }
  const fencedAt = (taskId: string, epoch: number): boolean => epoch <= (fences.get(taskId) ?? 0);

  function persist(): void {
    deps.leaseStore.save(
      Object.fromEntries([...tasks.values()].map((t): [string, StoredLease] => [t.taskId, { lease: t.lease, task: t.spec, ...(t.sealed !== undefined ? { sealed: t.sealed } : {}) }])),
    );
  }

  function hold(lease: string, claims: LeaseClaims, spec: TaskSpec, sealed: string | undefined, containerId: string | null, confirmed: boolean, renewedSentAt: number | null): HeldTask {
    const t: HeldTask = {
      taskId: claims.sub,
      lease,
      claims,
      spec,
      sealed,
      phase: containerId ? "running" : "starting",
      containerId,
      hostPorts: [],
      exitCode: null,
      restartTimes: [],
      restarts: 0,
      nextStartAt: 0,
      health: null,
      healthFailure: null,
      message: undefined,
      restartReason: undefined,
      busy: false,
      confirmed,
      renewedSentAt,
    };
    tasks.set(t.taskId, t);
    return t;
  }

  async function accept(leases: Pick<LeaseGrant, "taskId" | "lease" | "task" | "sealed">[]): Promise<void> {
    for (const g of leases) {
      // A payload that does not hash to the token's `ph` is refused here like any bad lease: nothing runs.
      const verdict = await deps.checkLease(g.lease, g.task, deps.now());
      if (!verdict.ok) {
        deps.log.warn("refusing lease", { task: g.taskId, reason: verdict.reason });
        continue;
      }
      const existing = tasks.get(verdict.claims.sub);
      if (fencedAt(verdict.claims.sub, verdict.claims.epoch) || (existing && verdict.claims.epoch < existing.claims.epoch)) {
        deps.log.warn("refusing lease", { task: g.taskId, epoch: verdict.claims.epoch, reason: "this epoch was fenced, or a newer one already ran here" });
        continue;
      }
      if (existing && existing.claims.epoch === verdict.claims.epoch) {
        // Token and payload are kept as a pair. A payload changed at the same epoch (no such change is made
        // yet) leaves the running container be, and is what its next start runs.
        existing.lease = g.lease;
        existing.claims = verdict.claims;
        existing.spec = verdict.task;
        // Sealed again for the same payload (each seal differs); one sent without it leaves the one held.
        existing.sealed = g.sealed ?? existing.sealed;
        existing.confirmed = true;
        continue;
      }
      if (existing) {
        // A newer epoch of a task we hold: the old container belongs to a fenced lease.
        fence(existing.taskId, existing.claims.epoch);
        await retire(existing, "superseded by a newer lease");
      }
      hold(g.lease, verdict.claims, verdict.task, g.sealed, null, true, null);
    }
    persist();
  }

  async function adopt(lastContact: number): Promise<number> {
    const containers = await deps.runtime.list({ owner: deps.owner, all: true });
    let adopted = 0;
    // Newest epoch per task wins; anything else is a leftover of a fenced lease.
    const byTask = new Map<string, ContainerSummary>();
    for (const c of containers) {
      if (!c.task) continue;
      const prev = byTask.get(c.task.task);
      if (!prev || (prev.task && prev.task.epoch < c.task.epoch)) byTask.set(c.task.task, c);
    }
    const stored = deps.leaseStore.load();
    for (const c of containers) {
      const labelled = typeof c.restore?.["lease"] === "string" ? { lease: c.restore["lease"], task: c.restore["task"] } : undefined;
      const chosen = c.task && byTask.get(c.task.task) === c && !fencedAt(c.task.task, c.task.epoch);
      // The stored lease is the newest (renewals re-sign it); the label is the one the container started under.
      const candidates = [c.task ? stored[c.task.task] : undefined, labelled].filter((l) => l !== undefined);
      let lease: string | undefined;
      let verdict: Awaited<ReturnType<LeaseChecker>> | undefined;
      for (const candidate of chosen ? candidates : []) {
        // Signature, node and payload only: whether the lease still holds is the control plane's answer to
        // the next heartbeat. The payload is checked again: it is run from here on.
        const v = await deps.checkLease(candidate.lease, candidate.task, null);
        if (v.ok && v.claims.epoch === c.task?.epoch) {
          lease = candidate.lease;
          verdict = v;
          break;
        }
        verdict = v;
      }
      if (!verdict?.ok || lease === undefined) {
        if (c.state === "running") {
          deps.log.warn("stopping container without a valid lease", { container: c.name, reason: verdict && !verdict.ok ? verdict.reason : "no lease label" });
          await deps.runtime.stop(c.id, { graceMs: 10_000 }).catch(() => undefined);
        }
        continue;
      }
      // Adopted after a restart: its last renewal is no later than the last answer this host had. The sealed
      // payload is in no label, only in leases.json; whichever lease was chosen, it opens only for the payload
      // it was sealed for.
      const sealed = c.task ? stored[c.task.task]?.sealed : undefined;
      const t = hold(lease, verdict.claims, verdict.task, sealed, c.id, false, lastContact);
      if (c.state !== "running") {
        const details = await deps.runtime.inspect(c.id);
        t.exitCode = details.state !== "missing" ? details.exitCode : null;
        t.phase = "backoff";
        t.nextStartAt = 0;
        decideAfterExit(t, t.exitCode ?? undefined);
      } else {
        await restoreFiles(t);
        const details = await deps.runtime.inspect(c.id);
        if (details.state !== "missing") t.hostPorts = details.hostPorts;
        startHealth(t, details.state !== "missing" ? details.ipAddress : null);
      }
      adopted++;
    }
    persist();
    sweepFiles();
    await settleNetworking();
    return adopted;
  }

  /**
   * Probes the running container with a fresh check (its grace counts from now). One that turns unhealthy
   * under onFailure restart only records why and asks for a pass: the pass stops the container, so a
   * task's container is only ever acted on by reconciliation, one pass at a time.
   */
  function startHealth(t: HeldTask, ipAddress: string | null): void {
    t.health?.stop();
    t.health = null;
    t.healthFailure = null;
    const health = taskHealthOf(t.spec);
    if (!health || !t.containerId) return;
    const check = createHealthCheck(health.check, { containerId: t.containerId, hostPorts: t.hostPorts, ipAddress }, {
      runtime: deps.runtime,
      onChange: (status, snapshot) => {
        if (status === "unhealthy" && t.health === check) deps.onHealthFailure?.(t.taskId);
        if (status === "unhealthy" && health.onFailure === "restart" && t.health === check) {
          t.healthFailure = healthFailureText(snapshot);
          deps.reconcileAfter(0);
        }
        deps.reportSoon();
      },
    });
    t.health = check;
  }

  /**
   * A running container adopted after a restart: if the tmpfs behind its mounts was emptied (a reboot, a
   * remount), its files are written back from the stored sealed payload before the agent does anything else.
   * The engine resolves a bind mount's source at every start of the container, so a `docker restart` of it
   * needs them there.
   */
  async function restoreFiles(t: HeldTask): Promise<void> {
    if (!t.spec.sealed) return;
    try {
      // Its network and upstreams are there (the container runs on them): prepare finds them and names the
      // addresses the container's env holds.
      const written = await secrets.restore(sealedTask(t), async () => (deps.networking ? (await deps.networking.prepare({ taskId: t.taskId, spec: t.spec })).upstreams : undefined));
      if (written > 0) deps.log.info("wrote back a running task's secret files", { task: t.taskId, files: written });
    } catch (err) {
      deps.log.warn("could not write back a running task's secret files", { task: t.taskId, error: errorText(err) });
    }
  }

  const sealedTask = (t: HeldTask) => ({ taskId: t.taskId, epoch: t.claims.epoch, ph: t.claims.ph, spec: t.spec, sealed: t.sealed });

  /** Only containers that may still run keep their files: every other task's directory goes. */
  function sweepFiles(): void {
    const live = [...tasks.values()].filter((t) => t.containerId !== null && (t.phase === "running" || t.phase === "stopping"));
    try {
      const removed = secrets.sweep(live.map((t) => ({ taskId: t.taskId, epoch: t.claims.epoch })));
      if (removed > 0) deps.log.debug("removed the secret files of stopped containers", { containers: removed });
    } catch (err) {
      deps.log.warn("could not remove secret files", { error: errorText(err) });
    }
  }

  async function startContainer(t: HeldTask): Promise<void> {
    const { spec, claims } = t;
    try {
      // Opened first: a payload that does not open fails the task before anything is pulled or made.
      const opened = await secrets.open(sealedTask(t));
      await deps.runtime.ensureImage(spec.image, { timeoutMs: pullTimeoutMs });
      // Networking first: config files that read an upstream's address are written with it.
      const networked = deps.networking ? await deps.networking.prepare({ taskId: t.taskId, spec }) : undefined;
      const files = secrets.place({ taskId: t.taskId, epoch: claims.epoch }, opened, networked?.upstreams);
      const started = await startOrClear(t, {
        task: {
          task: t.taskId,
          job: spec.jobId,
          namespace: spec.namespace,
          slot: spec.slot,
          version: spec.version,
          epoch: claims.epoch,
          node: deps.nodeName,
          cluster: deps.owner.cluster,
          nodeId: deps.owner.nodeId,
        },
        image: spec.image,
        ...(spec.command ? { command: spec.command } : {}),
        // Secret env values follow the spec's env. Anyone who may `docker inspect` the container reads them
        // there (Config.Env): that is why secret files are the recommended way.
        env: {
          ...spec.env,
          ...opened.env,
          ...networked?.env,
          LEASEHOLD_TASK_ID: t.taskId,
          LEASEHOLD_JOB: spec.job,
          LEASEHOLD_NAMESPACE: spec.namespace,
          LEASEHOLD_SLOT: String(spec.slot),
          LEASEHOLD_EPOCH: String(claims.epoch),
        },
        cpuMillis: spec.resources.cpu,
        memoryMiB: spec.resources.memory,
        // A port that serves a service is reached through the proxies (this node's on loopback, other nodes'
        // through the mesh), so it is published on loopback only: no other host can go around the mesh.
        ports: spec.ports.map((p) => ({ container: p.container, ...(p.host !== undefined ? { host: p.host } : {}), protocol: p.protocol, ...(p.service !== undefined ? { hostIp: "127.0.0.1" } : {}) })),
        files,
        ...(networked ? { network: networked.network } : {}),
        ...(networked?.dns ? { dns: networked.dns } : {}),
        // The label is what a restarted agent falls back on: the token with its payload, checked again then.
        // Neither holds a secret: the spec names secrets and versions only, and the sealed payload stays out.
        restore: { lease: t.lease, task: spec as unknown as JsonObject },
      });
      t.containerId = started.id;
      t.hostPorts = started.hostPorts;
      t.phase = "running";
      t.exitCode = null;
      t.message = t.restartReason !== undefined ? `restarted: ${t.restartReason}` : undefined;
      const details = await deps.runtime.inspect(started.id);
      startHealth(t, details.state !== "missing" ? details.ipAddress : null);
      // It may have exited already (a short batch task): the exit event can precede our bookkeeping.
      if (details.state === "exited" || details.state === "dead") handleExit(t, details.exitCode ?? undefined);
    } catch (err) {
      if (err instanceof TaskSecretsError) {
        // The same payload would fail the same way again: no restart policy applies.
        t.phase = "failed";
        t.message = err.message;
      } else {
        decideAfterFailure(t, errorText(err).trim());
      }
      deps.log.warn("task could not start", { task: t.taskId, error: errorText(err), next: t.phase, restarts: t.restarts });
    }
    deps.reportSoon();
  }

  /**
   * Starts the task's container. The name is the task's and epoch's: if it is taken, by a stopped container
   * of this very epoch that no held task accounts for (an adoption that could not verify its lease stopped
   * it, and a claim then handed the lease over again), that leftover is removed and the start tried once more.
   */
  async function startOrClear(t: HeldTask, spec: ContainerSpec): Promise<StartedContainer> {
    try {
      return await deps.runtime.start(spec);
    } catch (err) {
      if (!(err instanceof ContainerRuntimeError && err.code === "conflict")) throw err;
      const held = new Set([...tasks.values()].map((h) => h.containerId));
      const leftovers = (await deps.runtime.list({ owner: deps.owner, all: true })).filter(
        (c) => c.task?.task === t.taskId && c.task.epoch === t.claims.epoch && c.state !== "running" && !held.has(c.id),
      );
      if (leftovers.length === 0) throw err;
      for (const c of leftovers) {
        deps.log.info("removing a stopped container of the same epoch to start the task again", { task: t.taskId, container: c.name });
        await deps.runtime.remove(c.id);
      }
      return await deps.runtime.start(spec);
    }
  }

  /**
   * A start that failed, or a container stopped for failing its health check, is a failed attempt: the
   * same policy and backoff as an exit, with the reason kept as the task's message (reported while it
   * waits, so `leasehold status` shows why), and `failed` only once its attempts are used up. Giving up
   * at once on a start failure had the control plane re-place the slot as fast as the agent could fail
   * it again.
   */
  function decideAfterFailure(t: HeldTask, message: string): void {
    t.message = message;
    if (t.spec.restart.mode === "never") {
      t.phase = "failed";
      return;
    }
    restartOrGiveUp(t, message);
  }

  /** What an exit means under the restart policy: restart later, or done (complete / failed). */
  function decideAfterExit(t: HeldTask, exitCode: number | undefined): void {
    const code = exitCode ?? -1;
    t.exitCode = code;
    const { mode } = t.spec.restart;
    const wantsRestart = mode === "always" || (mode === "on-failure" && code !== 0);
    if (!wantsRestart) {
      t.phase = code === 0 ? "complete" : "failed";
      return;
    }
    restartOrGiveUp(t, `exited with ${code}`);
  }

  /** Waits out the restart delay, unless the attempts within the policy interval are used up: then failed. */
  function restartOrGiveUp(t: HeldTask, what: string): void {
    const now = deps.now();
    const { attempts, intervalMs, delayMs } = t.spec.restart;
    t.restartTimes = t.restartTimes.filter((at) => now - at < intervalMs);
    if (t.restartTimes.length >= attempts) {
      t.phase = "failed";
      t.message = `${what}; ${attempts} restarts within ${Math.round(intervalMs / 1000)}s used up`;
      return;
    }
    t.phase = "backoff";
    t.nextStartAt = now + delayMs;
    t.restartReason = what;
    deps.reconcileAfter(delayMs);
  }

  /**
   * Stops a container whose health check failed and lets the restart policy decide what follows. The
   * decision comes first: the exit the stop causes is then not the running container's, so it is not
   * counted a second time.
   */
  async function stopUnhealthy(t: HeldTask, containerId: string, why: string): Promise<void> {
    t.health?.stop();
    t.health = null;
    t.healthFailure = null;
    decideAfterFailure(t, why);
    deps.log.warn("task failed its health check", { task: t.taskId, why, next: t.phase, restarts: t.restarts });
    deps.reportSoon();
    await deps.runtime.stop(containerId, { graceMs: t.spec.stopGraceMs }).catch((err: unknown) => deps.log.warn("stop failed", { task: t.taskId, error: errorText(err) }));
  }

  function handleExit(t: HeldTask, exitCode: number | undefined): void {
    if (t.phase !== "running") return;
    t.health?.stop();
    t.health = null;
    t.healthFailure = null;
    decideAfterExit(t, exitCode);
    deps.log.info("task exited", { task: t.taskId, exitCode, next: t.phase });
    deps.reportSoon();
  }

  async function retire(t: HeldTask, why: string): Promise<void> {
    t.health?.stop();
    t.health = null;
    tasks.delete(t.taskId);
    persist();
    if (t.containerId) {
      deps.log.info("stopping task", { task: t.taskId, epoch: t.claims.epoch, why });
      await deps.runtime.stop(t.containerId, { graceMs: t.spec.stopGraceMs }).catch((err: unknown) => deps.log.warn("stop failed", { task: t.taskId, error: errorText(err) }));
    }
  }

  async function reconcileTask(t: HeldTask, lastContact: number): Promise<void> {
    const now = deps.now();
    // Self-fencing: cut off from the control plane past the lease's bound, a `stop` task stops — whatever
    // its phase, so one waiting to restart is not started again either. The bound counts from the lease's
    // own last renewal (see renewedSentAt), and from the last contact at most.
    if (t.spec.disconnect.policy === "stop") {
      const since = Math.min(lastContact, t.renewedSentAt ?? Number.POSITIVE_INFINITY);
      if (t.renewedSentAt !== null && now - since > t.spec.disconnect.afterMs) {
        await retire(t, `control plane unreachable for ${Math.round((now - since) / 1000)}s (disconnect policy stop)`);
        return;
      }
      // Not renewed yet (handed over by a claim): nothing starts until a heartbeat has renewed it.
      if (t.renewedSentAt === null && (t.phase === "starting" || t.phase === "backoff")) return;
    }
    if (t.phase === "stopping") {
      if (t.containerId) await deps.runtime.stop(t.containerId, { graceMs: t.spec.stopGraceMs }).catch(() => undefined);
      t.health?.stop();
      t.health = null;
      t.phase = "stopped";
      deps.reportSoon();
      return;
    }
    // Adopted after a restart and not yet vouched for: nothing is started until a heartbeat renews it.
    if (!t.confirmed && (t.phase === "starting" || t.phase === "backoff")) return;
    if (t.phase === "starting" || (t.phase === "backoff" && now >= t.nextStartAt)) {
      if (t.phase === "backoff") {
        t.restarts++;
        t.restartTimes.push(now);
        deps.onRestart?.(t.taskId);
        if (t.containerId) await deps.runtime.remove(t.containerId).catch(() => undefined);
        t.containerId = null;
      }
      await startContainer(t);
      return;
    }
    if (t.phase === "running" && t.containerId && t.healthFailure !== null) {
      await stopUnhealthy(t, t.containerId, t.healthFailure);
      return;
    }
    if (t.phase === "running" && t.containerId) {
      // Events catch exits at once; this inspection is the safety net for a missed event.
      const details = await deps.runtime.inspect(t.containerId);
      if (details.state === "missing") handleExit(t, undefined);
      else if (details.state === "exited" || details.state === "dead") handleExit(t, details.exitCode ?? undefined);
    }
  }

  // One pass at a time: a pass that overlapped another could see a container whose start() has not
  // returned yet as unaccounted for and stop it. A request during a pass runs one more pass after it.
  let inFlight: Promise<void> | null = null;
  let again = false;
  let latestContact = 0;
  function reconcile(lastContact: number): Promise<void> {
    latestContact = Math.max(latestContact, lastContact);
    if (inFlight) {
      again = true;
      return inFlight;
    }
    inFlight = (async () => {
      try {
        do {
          again = false;
          await reconcilePass(latestContact);
        } while (again);
      } finally {
        inFlight = null;
      }
    })();
    return inFlight;
  }

  async function reconcilePass(lastContact: number): Promise<void> {
    await Promise.all(
      [...tasks.values()].map(async (t) => {
        if (t.busy) return;
        t.busy = true;
        try {
          await reconcileTask(t, lastContact);
        } catch (err) {
          deps.log.error("reconcile failed", { task: t.taskId, error: errorText(err) });
        } finally {
          t.busy = false;
        }
      }),
    );
    sweepFiles();
    const known = new Set([...tasks.values()].map((t) => t.containerId).filter((id): id is string => id !== null));
    await clearLeftovers({ runtime: deps.runtime, owner: deps.owner, log: deps.log, keepExited }, known);
    await settleNetworking();
  }

  /** Tasks that still run, or may start again, keep their network and upstreams; the rest go. */
  async function settleNetworking(): Promise<void> {
    if (!deps.networking) return;
    const live = [...tasks.values()].filter((t) => t.phase === "starting" || t.phase === "running" || t.phase === "backoff" || t.phase === "stopping");
    try {
      await deps.networking.settle(live.map((t) => ({ taskId: t.taskId, spec: t.spec })));
    } catch (err) {
      deps.log.warn("could not settle task networks", { error: errorText(err) });
    }
  }

  function reportedState(t: HeldTask): TaskReport["state"] {
    // A copy being stopped still runs until it has stopped: it is not starting.
    if (t.phase === "stopping") return t.containerId !== null ? "running" : "starting";
    return t.phase === "running" ? "running" : t.phase === "complete" ? "complete" : t.phase === "failed" ? "failed" : t.phase === "stopped" ? "stopped" : "starting";
  }

  function reportOf(t: HeldTask): TaskReport {
    const state = reportedState(t);
    const health = t.health ? t.health.status() : null;
    return {
      lease: t.lease,
      state,
      health,
      exitCode: t.exitCode,
      restarts: t.restarts,
      hostPorts: t.hostPorts.map((p) => ({ container: p.container, host: p.host })),
      ...(t.message ? { message: t.message.slice(0, 1000) } : {}),
    };
  }

  async function revoke(revoked: Revocation[]): Promise<void> {
    for (const r of revoked) {
      // Any revocation fences its epoch: that lease is never acted on again, whatever arrives later.
      if (r.reason !== "bad-signature" && r.reason !== "wrong-node" && r.taskId !== "") fence(r.taskId, r.epoch);
      const t = tasks.get(r.taskId);
      if (!t || t.claims.epoch !== r.epoch) continue;
      if (r.reason === "stopped") {
        // A stop order again (the claim's and the heartbeat's replies both carry it): a copy stopping, or
        // stopped or ended but not yet reported, keeps its place, so its end is reported, not forgotten.
        if (t.phase !== "stopping" && t.phase !== "stopped" && t.phase !== "complete" && t.phase !== "failed") t.phase = "stopping";
      } else {
        // Fenced out (stale epoch, expired, gone) or already reported: stop and forget.
        await retire(t, `lease refused: ${r.reason}`);
      }
    }
  }

  async function containerOf(taskId: string): Promise<string | null> {
    const held = tasks.get(taskId)?.containerId;
    if (held) return held;
    const found = (await deps.runtime.list({ owner: deps.owner, all: true })).filter((c) => c.task?.task === taskId);
    found.sort((a, b) => (b.task?.epoch ?? 0) - (a.task?.epoch ?? 0) || b.createdAt.getTime() - a.createdAt.getTime());
    return found[0]?.id ?? null;
  }

  return {
    adopt,
    accept,
    async applyHeartbeat(reply, sentAt) {
      for (const g of reply.renewed) {
        const t = tasks.get(g.taskId);
        if (t && t.claims.epoch === g.epoch) {
          t.confirmed = true;
          t.renewedSentAt = Math.max(t.renewedSentAt ?? Number.NEGATIVE_INFINITY, sentAt);
        }
        if (t && t.claims.epoch === g.epoch && g.lease) {
          // A renewal carries no payload: the re-signed token must name the payload held.
          const verdict = await deps.checkLease(g.lease, t.spec, deps.now());
          if (verdict.ok) {
            t.lease = g.lease;
            t.claims = verdict.claims;
            persist();
          } else {
            deps.log.warn("refusing renewed lease; keeping the one held", { task: g.taskId, reason: verdict.reason });
          }
        }
      }
      await revoke(reply.revoked);
    },
    revoke,
    reports: (usageOf) =>
      [...tasks.values()].map((t) => {
        const report = reportOf(t);
        const usage = usageOf?.(t.taskId, t.claims.epoch);
        return usage ? { ...report, usage } : report;
      }),
    delivered(reports) {
      // What was sent, not what holds now: a task that ended while its heartbeat was in flight was
      // reported running, and is forgotten only once its end has been reported too.
      const sent = new Map(reports.map((r) => [r.lease, r.state]));
      for (const t of [...tasks.values()]) {
        const state = sent.get(t.lease);
        if (state === undefined) continue;
        // Ends are reported once; the container stays (exited) for logs and is cleared later.
        if ((state === "complete" || state === "failed" || state === "stopped") && state === reportedState(t)) {
          fence(t.taskId, t.claims.epoch);
          t.health?.stop();
          tasks.delete(t.taskId);
          persist();
        }
      }
    },
    reconcile,
    onContainerExit(containerId, exitCode) {
      for (const t of tasks.values()) if (t.containerId === containerId) handleExit(t, exitCode);
    },
    containerOf,
    async logs(taskId, tail, opts = {}) {
      const id = await containerOf(taskId);
      if (!id) throw new Error(`task ${taskId} has no container on this node`);
      return deps.runtime.logs(id, { tail, ...opts });
    },
    held: () =>
      [...tasks.values()].map((t) => ({ taskId: t.taskId, epoch: t.claims.epoch, phase: t.phase, containerId: t.containerId, restarts: t.restarts, namespace: t.spec.namespace, job: t.spec.job, slot: t.spec.slot })),
    servedPorts() {
      const out = new Map<string, Set<number>>();
      for (const t of tasks.values()) {
        if (t.phase !== "running") continue;
        for (const p of t.spec.ports) {
          const host = p.service !== undefined ? t.hostPorts.find((h) => h.container === p.container)?.host : undefined;
          if (host === undefined) continue;
          const key = `${t.spec.namespace}/${p.service}`;
          if (!out.has(key)) out.set(key, new Set());
          out.get(key)!.add(host);
        }
      }
      return out;
    },
    close() {
      for (const t of tasks.values()) t.health?.stop();
    },
  };
}

/** Why a check that just turned unhealthy restarts its task: the failures in a row and the last probe's answer. */
function healthFailureText(snapshot: HealthSnapshot): string {
  const n = snapshot.consecutiveFailures;
  return `health check failed ${n === 1 ? "once" : `${n} times`}: ${snapshot.lastResult?.detail ?? "no result"}`;
}
