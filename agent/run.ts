// runAgent: enroll (or reuse the stored credential), then three loops — heartbeat, claim (long-poll)
// and reconcile — plus Docker events for prompt exit handling. It only ever dials out.
import { cpus, totalmem } from "node:os";
import { resolve } from "node:path";
import type { HeartbeatResponse } from "../api/agent-protocol";
import { createBackoff } from "./backoff";
import { createControlPlaneClient, ControlPlaneError, type ControlPlaneClient } from "./client";
import { loadIdentity, saveIdentity, type AgentIdentity } from "./identity";
import { createLeaseChecker } from "./lease-check";
import { createLeaseStore } from "./lease-store";
import { createDockerRuntime, type ContainerRuntime } from "./runtime";
import { createSupervisor, type Logger, type Supervisor } from "./supervisor";

export const AGENT_VERSION = "0.1.0";

export interface AgentOptions {
  server: string;
  joinToken?: string | undefined;
  name: string;
  region: string;
  labels: Record<string, string>;
  dataDir: string;
  cpu?: number | undefined;
  memory?: number | undefined;
  runtime?: ContainerRuntime;
  log?: Logger;
  /** How often the supervisor reconciles without an event (default 2 s). */
  reconcileIntervalMs?: number;
}

export interface RunningAgent {
  nodeId: string;
  name: string;
  supervisor: Supervisor;
  /** When the control plane last answered a heartbeat (ms). */
  lastContact(): number;
  /** Stops the loops; containers keep running, and a restarted agent re-attaches to them. */
  stop(): Promise<void>;
}

/** Capacity this host offers: every core and 90% of memory, unless told otherwise. */
export function detectCapacity(): { cpu: number; memory: number } {
  return { cpu: cpus().length * 1000, memory: Math.floor((totalmem() / 1_048_576) * 0.9) };
}

const defaultLog: Logger = (message, fields) => console.error(JSON.stringify({ at: new Date().toISOString(), level: "info", message, ...fields }));

export async function runAgent(opts: AgentOptions): Promise<RunningAgent> {
  const log = opts.log ?? defaultLog;
  const dataDir = resolve(opts.dataDir);
  const client = createControlPlaneClient(opts.server);
  const runtime = opts.runtime ?? createDockerRuntime();
  const identity = await ensureIdentity(client, opts, dataDir, log);
  let credential = identity.credential;

  const leaseStore = createLeaseStore(dataDir);
  // Disconnection is measured on a monotonic clock (a wall clock stepped back would lengthen the bound of a
  // `disconnect: stop` task). A restarted agent counts it from the last answer it had, saved on disk in wall
  // time, not from its start: otherwise a restart behind a partition would keep such a task running on.
  const monotonicNow = () => performance.timeOrigin + performance.now();
  const storedContact = leaseStore.loadContact();
  let lastContact = monotonicNow() - (storedContact !== null ? Math.max(0, Date.now() - storedContact) : 0);
  let contactSavedAt = Number.NEGATIVE_INFINITY;
  let heartbeatIntervalMs = 5_000;
  let stopped = false;
  const abort = new AbortController();
  let wakeHeartbeat: (() => void) | null = null;
  // A report asked for while a heartbeat is in flight: the next wait is skipped, so nothing waits a full interval.
  let reportPending = false;
  const reportNow = () => {
    reportPending = true;
    wakeHeartbeat?.();
  };
  let reportTimer: NodeJS.Timeout | null = null;

  const supervisor = createSupervisor({
    runtime,
    checkLease: createLeaseChecker(identity.jwks, identity.nodeId),
    leaseStore,
    nodeName: opts.name,
    now: monotonicNow,
    log,
    reconcileAfter: (delayMs) => {
      const timer = setTimeout(() => {
        if (!stopped) void supervisor.reconcile(lastContact).catch(() => undefined);
      }, delayMs + 5);
      timer.unref();
    },
    reportSoon: () => {
      // Coalesce bursts of changes into one early heartbeat.
      if (reportTimer || stopped) return;
      reportTimer = setTimeout(() => {
        reportTimer = null;
        reportNow();
      }, 100);
    },
  });

  const adopted = await supervisor.adopt(lastContact);
  if (adopted > 0) log("re-attached to running tasks", { tasks: adopted });
  const unsubscribe = await runtime.events(
    { node: opts.name },
    (event) => {
      if (event.action === "die") {
        supervisor.onContainerExit(event.id, event.exitCode);
        supervisor.reconcile(lastContact).catch((err: unknown) => log("reconcile failed", { error: err instanceof Error ? err.message : String(err) }));
      }
    },
    { onError: (err) => log("docker events stream error", { error: err.message }) },
  );

  const sleep = (ms: number, wakeable = false) =>
    new Promise<void>((done) => {
      const timer = setTimeout(finish, ms);
      function finish() {
        clearTimeout(timer);
        abort.signal.removeEventListener("abort", finish);
        if (wakeable && wakeHeartbeat === finish) {
          wakeHeartbeat = null;
          reportPending = false;
        }
        done();
      }
      if (wakeable && reportPending) {
        reportPending = false;
        return finish();
      }
      if (wakeable) wakeHeartbeat = finish;
      abort.signal.addEventListener("abort", finish, { once: true });
    });

  async function onReply(reply: HeartbeatResponse, sentAt: number): Promise<void> {
    lastContact = monotonicNow();
    if (lastContact - contactSavedAt >= 1_000) {
      contactSavedAt = lastContact;
      leaseStore.saveContact(Date.now());
    }
    heartbeatIntervalMs = reply.heartbeatIntervalMs;
    if (reply.credential) {
      credential = reply.credential;
      saveIdentity(dataDir, { ...identity, credential });
    }
    await supervisor.applyHeartbeat(reply, sentAt);
    for (const req of reply.logRequests) {
      void supervisor
        .logs(req.taskId, req.tail)
        .then((output) => client.uploadLogs(credential, req.id, { output: output.slice(-500_000) }))
        .catch((err: unknown) => client.uploadLogs(credential, req.id, { output: "", error: err instanceof Error ? err.message : String(err) }).catch(() => undefined));
    }
    if (reply.work) wakeClaim();
  }

  let wakeClaimNow: (() => void) | null = null;
  const wakeClaim = () => {
    if (wakeClaimNow) wakeClaimNow();
    else claimInFlight?.abort();
  };

  async function heartbeatLoop(): Promise<void> {
    const backoff = createBackoff({ baseMs: 500, maxMs: 30_000 });
    while (!stopped) {
      const reports = supervisor.reports();
      const sentAt = monotonicNow();
      try {
        const reply = await client.heartbeat(credential, { tasks: reports });
        supervisor.delivered(reports);
        await onReply(reply, sentAt);
        backoff.reset();
        await sleep(Math.round(heartbeatIntervalMs * (0.9 + 0.1 * Math.random())), true);
      } catch (err) {
        if (stopped) return;
        if (err instanceof ControlPlaneError && err.unauthorized) {
          // The credential lapsed (offline past its life) or was replaced: enroll again, showing the old
          // credential so the control plane knows this is the same host and its tasks stay.
          if (opts.joinToken) {
            try {
              const renewed = await enrollWith(client, opts, dataDir, log, identity.credential);
              credential = renewed.credential;
              Object.assign(identity, renewed);
              backoff.reset();
              continue;
            } catch (enrollErr) {
              log("re-enrollment failed", { error: enrollErr instanceof Error ? enrollErr.message : String(enrollErr) });
            }
          } else {
            log("node credential refused and no join token to enroll again with", { error: err.message });
          }
        }
        const wait = backoff.next();
        log("heartbeat failed; retrying", { error: err instanceof Error ? err.message : String(err), retryInMs: wait });
        await sleep(wait);
      }
    }
  }

  // The long-poll in flight; a heartbeat that says work is waiting cuts it short so the claim is made at once.
  let claimInFlight: AbortController | null = null;
  async function claimLoop(): Promise<void> {
    const backoff = createBackoff({ baseMs: 500, maxMs: 30_000 });
    while (!stopped) {
      try {
        claimInFlight = new AbortController();
        const signal = AbortSignal.any([abort.signal, claimInFlight.signal]);
        let reply;
        try {
          reply = await client.claim(credential, 20_000, signal);
        } catch (err) {
          if (!stopped && claimInFlight.signal.aborted) continue; // cut short on purpose: claim again now
          throw err;
        } finally {
          claimInFlight = null;
        }
        backoff.reset();
        await supervisor.accept(reply.leases);
        await supervisor.reconcile(lastContact);
        reportNow();
      } catch (err) {
        if (stopped) return;
        const wait = backoff.next();
        log("claim failed; retrying", { error: err instanceof Error ? err.message : String(err), retryInMs: wait });
        await new Promise<void>((done) => {
          const finish = () => {
            clearTimeout(t);
            abort.signal.removeEventListener("abort", finish);
            done();
          };
          const t = setTimeout(finish, wait);
          wakeClaimNow = finish;
          abort.signal.addEventListener("abort", finish, { once: true });
        });
        wakeClaimNow = null;
      }
    }
  }

  async function reconcileLoop(): Promise<void> {
    while (!stopped) {
      await supervisor.reconcile(lastContact).catch((err: unknown) => log("reconcile failed", { error: err instanceof Error ? err.message : String(err) }));
      await sleep(opts.reconcileIntervalMs ?? 2_000);
    }
  }

  const loops = [heartbeatLoop(), claimLoop(), reconcileLoop()];
  log("agent running", { node: opts.name, nodeId: identity.nodeId, server: opts.server });

  return {
    nodeId: identity.nodeId,
    name: opts.name,
    supervisor,
    lastContact: () => lastContact,
    async stop() {
      stopped = true;
      abort.abort();
      if (reportTimer) clearTimeout(reportTimer);
      unsubscribe();
      supervisor.close();
      await Promise.allSettled(loops);
    },
  };
}

async function ensureIdentity(client: ControlPlaneClient, opts: AgentOptions, dataDir: string, log: Logger): Promise<AgentIdentity> {
  const stored = loadIdentity(dataDir);
  if (stored && stored.server === opts.server && stored.name === opts.name) return stored;
  if (!opts.joinToken) {
    throw new Error(`no stored credential in ${dataDir} for ${opts.name}@${opts.server}: pass --join-token to enroll`);
  }
  return enrollWith(client, opts, dataDir, log, undefined);
}

async function enrollWith(client: ControlPlaneClient, opts: AgentOptions, dataDir: string, log: Logger, previousCredential: string | undefined): Promise<AgentIdentity> {
  if (!opts.joinToken) throw new Error("enrolling needs a join token");
  const capacity = { ...detectCapacity(), ...(opts.cpu ? { cpu: opts.cpu } : {}), ...(opts.memory ? { memory: opts.memory } : {}) };
  const backoff = createBackoff({ baseMs: 500, maxMs: 10_000 });
  for (;;) {
    try {
      const r = await client.enroll({
        token: opts.joinToken,
        name: opts.name,
        region: opts.region,
        labels: opts.labels,
        capacity,
        agentVersion: AGENT_VERSION,
        ...(previousCredential ? { previousCredential } : {}),
      });
      const identity: AgentIdentity = { server: opts.server, name: opts.name, nodeId: r.nodeId, credential: r.credential, jwks: r.jwks as AgentIdentity["jwks"] };
      saveIdentity(dataDir, identity);
      log("enrolled", { node: opts.name, nodeId: r.nodeId, cpu: capacity.cpu, memory: capacity.memory });
      return identity;
    } catch (err) {
      // A refused token is final; an unreachable control plane is retried.
      if (err instanceof ControlPlaneError && err.status >= 400 && err.status < 500) throw err;
      const wait = backoff.next();
      log("enrollment failed; retrying", { error: err instanceof Error ? err.message : String(err), retryInMs: wait });
      await new Promise((r) => setTimeout(r, wait));
    }
  }
}
