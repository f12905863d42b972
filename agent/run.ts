// runAgent: enroll (or reuse the stored credential), then three loops — heartbeat, claim (long-poll)
// and reconcile — plus Docker events for prompt exit handling. It only ever dials out.
// Its containers are owned by the cluster id the control plane gave at enrollment and the node id, so
// agents of other clusters (or other nodes) on the same engine are never touched, whatever their name.
// Task secrets come sealed to the node's X25519 key (node-key.ts), which the control plane learns at
// enrollment, or before the first claim from an agent enrolled before node keys.
// Each task joins its job's network (network/); the endpoints its upstreams and the node's ingress
// listeners balance over come in heartbeat replies, asked for by index in each heartbeat (proxy/), and the
// node's DNS names them on each job network's gateway (dns/, network/node-dns.ts). Another node's endpoints
// are dialled through that node's mesh port, over mutual TLS with node certificates the control plane
// issues at enrollment and renews through the heartbeat (mesh/).
// Given a metrics address, it serves Prometheus metrics of its own registry there (metrics/).
// Log follows and execs come in heartbeat replies and, while a follow is open, a request poll (requests/).
import { cpus, totalmem } from "node:os";
import { resolve } from "node:path";
import type { HeartbeatRequest, HeartbeatResponse, Revocation } from "../api/agent-protocol";
import type { AdvertisedAddress } from "../api/services";
import { detectAdvertise } from "./advertise";
import { createBackoff } from "./backoff";
import { createControlPlaneClient, ControlPlaneError, type ControlPlaneClient } from "./client";
import { createContactLog, type ContactLog } from "./contact-log";
import { loadIdentity, saveIdentity, type AgentIdentity } from "./identity";
import { createLeaseChecker } from "./lease-check";
import { createLeaseStore } from "./lease-store";
import { createLogger, errorText, type Logger, type LogLevel, type LogSink } from "./log";
import { createAgentMetrics, listenMetrics, parseListenAddress, startTaskStatsSampler } from "./metrics";
import { createDnsServer } from "./dns";
import { createJobNetworks, createNodeDns, createTaskNetworking, type JobNetworks } from "./network";
import { loadOrCreateNodeKey, type NodeKey } from "./node-key";
import { createTraffic, type Traffic } from "./proxy";
import { listenMesh, loadOrCreateMeshIdentity, type MeshCredentials, type MeshServer } from "./mesh";
import type { MeshCertificate, MeshRequest } from "../api/mesh";
import { createDockerRuntime, type ContainerRuntime, type NodeOwner } from "./runtime";
import { createAgentRequests } from "./requests";
import { createSecretFiles, defaultSecretsDir, DEFAULT_SECRETS_DIRS, isOnTmpfs } from "./secret-files";
import { createSupervisor, type HeldTaskView, type Supervisor } from "./supervisor";
import { createTaskSecrets } from "./task-secrets";

export const AGENT_VERSION = "0.1.0";

export interface AgentOptions {
  server: string;
  joinToken?: string | undefined;
  name: string;
  /** Absent: the region the join token is bound to, or "global". */
  region?: string | undefined;
  labels: Record<string, string>;
  dataDir: string;
  cpu?: number | undefined;
  memory?: number | undefined;
  runtime?: ContainerRuntime;
  /** Where log lines go instead of pino on stderr (each with its `level` as a field). */
  log?: LogSink;
  /** The least severe level logged (default info). */
  logLevel?: LogLevel | undefined;
  /** Exited containers kept per slot for `leasehold logs` (default 3). */
  keepExited?: number | undefined;
  /** How often the supervisor reconciles without an event (default 2 s). */
  reconcileIntervalMs?: number;
  /**
   * A tmpfs directory for the secret and config files of tasks (a directory per node is made in it).
   * Default: the first of DEFAULT_SECRETS_DIRS on tmpfs. Files are never written anywhere else.
   */
  secretsDir?: string | undefined;
  /** Where other hosts reach this one, sent at enrollment. Absent: this host's first non-internal IPv4 address (detectAdvertise), as a region address. */
  advertise?: AdvertisedAddress[] | undefined;
  /** Serve no DNS on job networks' gateways: containers resolve through the engine's default, and upstreams go by their env only. */
  noDns?: boolean | undefined;
  /**
   * The mesh port other nodes' proxies open this node's endpoints through (mutual TLS, on every interface).
   * 0 (the default here): any free port, recorded with the control plane. null: no mesh, and this node's
   * endpoints are reachable from itself only.
   */
  meshPort?: number | null | undefined;
  /**
   * Where to serve Prometheus metrics (GET /metrics), as HOST:PORT; port 0 takes any free one. Absent or
   * null (the default here, so agents in one process or on one test host never clash): none.
   */
  metricsAddr?: string | null | undefined;
  /** How often running tasks' CPU and memory are sampled for the metrics (default 10 s). */
  statsIntervalMs?: number | undefined;
}

export interface RunningAgent {
  nodeId: string;
  name: string;
  /** The cluster the node belongs to (its control plane's id), as its containers are labelled. */
  clusterId: string;
  region: string | undefined;
  supervisor: Supervisor;
  /** The node's job networks: a task's gateway address, for instance. */
  networks: JobNetworks;
  /** The node's upstream and ingress listeners and the endpoint sets they balance over. */
  traffic: Traffic;
  /** When the control plane last answered a heartbeat (ms). */
  lastContact(): number;
  /** The mesh port listening, if any. */
  meshPort: number | null;
  /** The metrics port listening, if any. */
  metricsPort: number | null;
  /** Stops the loops; containers keep running, and a restarted agent re-attaches to them. */
  stop(): Promise<void>;
}

/** Capacity this host offers: every core and 90% of memory, unless told otherwise. */
export function detectCapacity(): { cpu: number; memory: number } {
  return { cpu: cpus().length * 1000, memory: Math.floor((totalmem() / 1_048_576) * 0.9) };
}

/**
 * The cluster a stored identity belongs to: as the control plane said at enrollment, or (an identity
 * from an agent that predates the field) the kid of the pinned signing key, which is what it says.
 */
function clusterOf(identity: AgentIdentity): string {
  const cluster = identity.clusterId ?? identity.jwks.keys.find((k) => typeof k.kid === "string")?.kid;
  if (!cluster) throw new Error("the stored identity names no cluster and its pinned key has no kid: enroll again with a join token");
  return cluster;
}

export async function runAgent(opts: AgentOptions): Promise<RunningAgent> {
  const log = createLogger({ ...(opts.log ? { sink: opts.log } : {}), ...(opts.logLevel ? { level: opts.logLevel } : {}) });
  const metricsAddress = opts.metricsAddr ? parseListenAddress(opts.metricsAddr) : undefined;
  const metrics = createAgentMetrics({ processMetrics: metricsAddress !== undefined });
  const contact = metrics.watchContact(createContactLog(log));
  const dataDir = resolve(opts.dataDir);
  const client = createControlPlaneClient(opts.server);
  const runtime = opts.runtime ?? createDockerRuntime({ onPull: metrics.imagePulled });
  const warn = (message: string) => log.warn(message);
  // Made before enrolling, and kept when enrolling again: payloads sealed to it must still open.
  const { key: nodeKey, created: keyCreated } = await loadOrCreateNodeKey(dataDir, warn);
  if (keyCreated) log.info("made the node's encryption key", { kid: nodeKey.kid });
  const meshIdentity = opts.meshPort === null ? undefined : loadOrCreateMeshIdentity(dataDir, warn);
  const meshCredentials = (): MeshCredentials | undefined => {
    const cert = meshIdentity?.certificate();
    return meshIdentity && cert && cert.notAfter > Date.now() ? { keyPem: meshIdentity.keyPem, certificate: cert.certificate, ca: cert.ca } : undefined;
  };
  // Listening before enrolling: the port it got is what enrollment records. Requests are judged by the
  // supervisor and catalog made below (a connection before them finds nothing served).
  let authorize: (caller: string, service: string, port: number) => string | null = () => "starting";
  const mesh: MeshServer | undefined = meshIdentity
    ? await listenMesh({ port: opts.meshPort ?? 0, credentials: meshCredentials(), authorize: (c, s, p) => authorize(c, s, p), log }).catch((err: unknown) => {
        // Running on without one: this node's own tasks are served all the same.
        log.error("cannot open the mesh port: this node's endpoints are reachable from itself only, and it reaches no other node's", { port: opts.meshPort ?? 0, error: errorText(err) });
        return undefined;
      })
    : undefined;
  const meshRequest = (): MeshRequest | undefined => (meshIdentity && mesh ? { key: meshIdentity.publicJwk, port: mesh.port } : undefined);
  const acceptMesh = (cert: MeshCertificate | undefined) => {
    if (!cert || !meshIdentity) return;
    try {
      meshIdentity.accept(cert);
      const c = meshCredentials();
      if (c) mesh?.setCredentials(c);
    } catch (err) {
      log.error("the control plane's mesh certificate does not fit this node's key", { error: errorText(err) });
    }
  };
  // A control plane from before the mesh: said once, at enrollment or at the first heartbeat.
  let meshRefused = false;
  const refuseMesh = () => void (meshRefused = true);
  // A start that fails here (a refused join token) leaves nothing listening.
  const identity = await ensureIdentity(client, opts, dataDir, log, contact, nodeKey, meshRequest(), acceptMesh, refuseMesh).catch(async (err: unknown) => {
    await mesh?.close();
    throw err;
  });
  let credential = identity.credential;
  const owner: NodeOwner = { cluster: clusterOf(identity), nodeId: identity.nodeId };
  const secretsDir = opts.secretsDir !== undefined ? resolve(opts.secretsDir) : defaultSecretsDir();
  if (secretsDir === undefined) log.warn(`none of ${DEFAULT_SECRETS_DIRS.join(", ")} is on tmpfs: tasks with secret files fail here until the agent is given a tmpfs directory (--secrets-dir)`);
  else if (!isOnTmpfs(secretsDir)) log.warn(`${secretsDir} is not on tmpfs: tasks with secret files fail here (secret files are only written to memory)`);

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

  const networks = createJobNetworks({ runtime, owner, nodeName: opts.name, log });
  const caller = { nodeId: identity.nodeId, region: identity.region ?? opts.region ?? "global" };
  const traffic = createTraffic({ caller, log, mesh: meshCredentials });
  const dns = opts.noDns ? undefined : createNodeDns({ server: createDnsServer({ node: caller, log }), traffic, log });
  const supervisor = createSupervisor({
    runtime,
    checkLease: createLeaseChecker(identity.jwks, identity.nodeId),
    leaseStore,
    secrets: createTaskSecrets({ privateJwk: nodeKey.privateJwk, trusted: identity.jwks, files: createSecretFiles({ baseDir: secretsDir, nodeId: identity.nodeId, warn }) }),
    owner,
    nodeName: opts.name,
    networking: createTaskNetworking({ networks, traffic, ...(dns ? { dns } : {}), log }),
    now: monotonicNow,
    log,
    ...(opts.keepExited !== undefined ? { keepExited: opts.keepExited } : {}),
    onRestart: metrics.taskRestarted,
    onHealthFailure: metrics.healthCheckFailed,
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

  const requests = createAgentRequests({
    runtime,
    client,
    credential: () => credential,
    containerOf: (taskId) => supervisor.containerOf(taskId),
    held: (taskId) => supervisor.held().find((t) => t.taskId === taskId),
    log,
  });

  authorize = (callerNode, service, port) => {
    if (!supervisor.servedPorts().get(service)?.has(port)) return `no task here serves ${service} on port ${port}`;
    const set = traffic.catalog.snapshots()[service];
    if (!set) return `this node has not yet learned who may call ${service}`;
    return set.callers.includes(callerNode) ? null : `node ${callerNode} runs no task with ${service} as an upstream, nor an ingress of it`;
  };

  const adopted = await supervisor.adopt(lastContact);
  if (adopted > 0) log.info("re-attached to running tasks", { tasks: adopted });
  const unsubscribe = await runtime.events(
    { owner },
    (event) => {
      if (event.action === "die") {
        supervisor.onContainerExit(event.id, event.exitCode);
        supervisor.reconcile(lastContact).catch((err: unknown) => log.error("reconcile failed", { error: errorText(err) }));
      }
    },
    { onError: (err) => log.warn("docker events stream error", { error: err.message }) },
  );
  // Opened once nothing can fail the start any more (a failed start would leave it listening).
  metrics.watchTasks(() => supervisor.held());
  const metricsServer = metricsAddress ? await listenMetrics({ address: metricsAddress, registry: metrics.registry, log }) : undefined;
  // Samples feed the metrics and the heartbeats both (status, top and the dashboard read them from the store).
  const sampler = startTaskStatsSampler({ runtime, held: () => supervisor.held(), metrics, log, hostMemoryBytes: totalmem(), ...(opts.statsIntervalMs !== undefined ? { intervalMs: opts.statsIntervalMs } : {}) });

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
    contact.reached();
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
    if (reply.mesh) {
      meshAsked = true;
      acceptMesh(reply.mesh);
    }
    await supervisor.applyHeartbeat(reply, sentAt);
    await traffic.applyReply(reply).catch((err: unknown) => log.warn("could not apply service endpoints", { error: errorText(err) }));
    await dns?.refresh();
    for (const { id, taskId, tail, ...selection } of reply.logRequests) {
      void supervisor
        .logs(taskId, tail, selection)
        .then((output) => client.uploadLogs(credential, id, { output: output.slice(-500_000) }))
        .catch((err: unknown) => client.uploadLogs(credential, id, { output: "", error: errorText(err) }).catch(() => undefined));
    }
    requests.accept(reply);
    if (reply.work) wakeClaim();
  }

  let wakeClaimNow: (() => void) | null = null;
  const wakeClaim = () => {
    if (wakeClaimNow) wakeClaimNow();
    else claimInFlight?.abort();
  };

  // A control plane from before discovery refuses the fields it does not know (400): it is said once, and
  // heartbeats go on without them (no endpoints come, so upstreams and ingress serve nothing).
  let discoveryRefused = false;
  // The same for task stats, which ride on the reports.
  let usageRefused = false;
  // The mesh is asked for on the first heartbeat (which records the port, should it have moved) and again
  // once the certificate is past half its life.
  let meshAsked = false;
  // So are the addresses it advertises: they may have changed since it enrolled (a restart with other flags).
  const advertise = opts.advertise ?? detectAdvertise();
  let advertiseSent = advertise.length === 0;
  const discoveryFields = (): Pick<HeartbeatRequest, "services" | "ingress" | "mesh" | "advertise"> => {
    if (discoveryRefused) return {};
    // Only a node with a mesh needs its own services' callers: without one nothing dials in.
    traffic.setServed(mesh ? supervisor.servedPorts().keys() : []);
    const ask = !meshRefused && (!meshAsked || meshIdentity?.due(Date.now())) ? meshRequest() : undefined;
    return { ...traffic.heartbeatFields(), ...(ask ? { mesh: ask } : {}), ...(!advertiseSent ? { advertise } : {}) };
  };

  async function heartbeatLoop(): Promise<void> {
    const backoff = createBackoff({ baseMs: 500, maxMs: 30_000 });
    while (!stopped) {
      const reports = supervisor.reports(usageRefused ? undefined : sampler.takeUsage());
      const sentAt = monotonicNow();
      const discovery = discoveryFields();
      try {
        const reply = await metrics.heartbeat(client.heartbeat(credential, { tasks: reports, ...discovery }));
        if (discovery.advertise) advertiseSent = true;
        supervisor.delivered(reports);
        await onReply(reply, sentAt);
        backoff.reset();
        await sleep(Math.round(heartbeatIntervalMs * (0.9 + 0.1 * Math.random())), true);
      } catch (err) {
        if (stopped) return;
        // A control plane from before these fields refuses every one it does not know, in one answer: each
        // is dropped (and said once) together, so the next heartbeat goes through.
        const unknown = err instanceof ControlPlaneError && err.status === 400 ? unknownFields(err.message) : new Set<string>();
        if (discovery.advertise && unknown.has("advertise")) advertiseSent = true;
        if (unknown.has("usage") && !usageRefused) {
          usageRefused = true;
          log.warn("the control plane takes no task stats in heartbeats (an older version): status and top show none for this node", { error: errorText(err) });
        }
        if (discovery.mesh && unknown.has("mesh")) {
          meshRefused = true;
          log.warn("the control plane issues no mesh certificates (an older version): other nodes' endpoints are out of reach from here", { error: errorText(err) });
        }
        if ((discovery.services !== undefined || discovery.ingress !== undefined) && (unknown.has("services") || unknown.has("ingress"))) {
          discoveryRefused = true;
          log.warn("the control plane takes no service discovery in heartbeats (an older version): upstreams and ingress serve nothing here", { error: errorText(err) });
        }
        if (unknown.size > 0 && [...unknown].every((f) => f in discovery || f === "usage")) continue;
        if (err instanceof ControlPlaneError && err.unauthorized) {
          // The credential lapsed (offline past its life) or was replaced: enroll again, showing the old
          // credential so the control plane knows this is the same host and its tasks stay.
          if (opts.joinToken) {
            try {
              const renewed = await enrollWith(client, opts, dataDir, log, contact, nodeKey, identity.credential, meshRequest(), acceptMesh, refuseMesh);
              credential = renewed.credential;
              Object.assign(identity, renewed);
              backoff.reset();
              continue;
            } catch (enrollErr) {
              log.error("re-enrollment failed", { error: errorText(enrollErr) });
            }
          } else {
            log.error("node credential refused and no join token to enroll again with", { error: err.message });
          }
        }
        const wait = backoff.next();
        reportFailure("heartbeat", err, wait);
        await sleep(wait);
      }
    }
  }

  // The long-poll in flight; a heartbeat that says work is waiting cuts it short so the claim is made at once.
  let claimInFlight: AbortController | null = null;
  // The work marker of the last claim reply, sent with the next claim so work that came in between answers
  // it at once. Only a control plane that sent one is sent one (an older one refuses unknown fields).
  let workSeq: number | undefined;
  async function claimLoop(): Promise<void> {
    const backoff = createBackoff({ baseMs: 500, maxMs: 30_000 });
    while (!stopped) {
      try {
        claimInFlight = new AbortController();
        const signal = AbortSignal.any([abort.signal, claimInFlight.signal]);
        let reply;
        try {
          reply = await client.claim(credential, { waitMs: 20_000, ...(workSeq !== undefined ? { workSeq } : {}) }, signal);
        } catch (err) {
          if (!stopped && claimInFlight.signal.aborted) continue; // cut short on purpose: claim again now
          throw err;
        } finally {
          claimInFlight = null;
        }
        backoff.reset();
        contact.reached();
        await supervisor.accept(reply.leases);
        // Stop orders act at once, on the heartbeat's revocation path; the next heartbeat carries them too.
        await supervisor.revoke(stopsToAct(supervisor, reply.stops ?? []));
        workSeq = reply.workSeq;
        await supervisor.reconcile(lastContact);
        reportNow();
      } catch (err) {
        if (stopped) return;
        const wait = backoff.next();
        reportFailure("claim", err, wait);
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

  /**
   * An identity from before node keys (or one enrolled with another key): the control plane learns this
   * node's key before the first claim, so the grants it makes here can carry sealed secrets. An older
   * control plane without the route (404) is said once; the agent runs on, and sealed tasks fail here.
   */
  async function registerKey(): Promise<void> {
    const backoff = createBackoff({ baseMs: 500, maxMs: 30_000 });
    while (!stopped && identity.encryptionKeyId !== nodeKey.kid) {
      try {
        await client.registerEncryptionKey(credential, { key: nodeKey.publicJwk });
        identity.encryptionKeyId = nodeKey.kid;
        saveIdentity(dataDir, { ...identity, credential });
        log.info("registered the node's encryption key", { kid: nodeKey.kid });
        return;
      } catch (err) {
        if (stopped) return;
        if (err instanceof ControlPlaneError && err.status === 404) {
          log.warn("the control plane takes no node encryption keys (an older version): tasks with secrets cannot run here", { error: err.message });
          return;
        }
        // A refused credential is retried: the heartbeat loop enrolls again, with the key.
        if (!transient(err) && !(err instanceof ControlPlaneError && err.unauthorized)) {
          log.error("the control plane refused the node's encryption key; claiming without it", { error: errorText(err) });
          return;
        }
        const wait = backoff.next();
        reportFailure("encryption key", err, wait);
        await sleep(wait);
      }
    }
  }

  async function reconcileLoop(): Promise<void> {
    while (!stopped) {
      await supervisor.reconcile(lastContact).catch((err: unknown) => log.error("reconcile failed", { error: errorText(err) }));
      await sleep(opts.reconcileIntervalMs ?? 2_000);
    }
  }

  /** An unreachable control plane is said once (see ContactLog); a refusal is our bug, or the operator's. */
  function reportFailure(request: "heartbeat" | "claim" | "encryption key", err: unknown, retryInMs: number): void {
    if (transient(err)) contact.unreachable(err, { request, retryInMs });
    else log.error(`${request} refused; retrying`, { error: errorText(err), retryInMs });
  }

  const claims = registerKey()
    .catch((err: unknown) => log.error("could not register the node's encryption key; claiming without it", { error: errorText(err) }))
    .then(claimLoop);
  const loops = [heartbeatLoop(), claims, reconcileLoop()];
  requests.start();
  log.info("agent running", { node: opts.name, nodeId: identity.nodeId, cluster: owner.cluster, server: opts.server });

  return {
    nodeId: identity.nodeId,
    name: opts.name,
    clusterId: owner.cluster,
    region: identity.region,
    supervisor,
    networks,
    traffic,
    lastContact: () => lastContact,
    meshPort: mesh?.port ?? null,
    metricsPort: metricsServer?.port ?? null,
    async stop() {
      stopped = true;
      abort.abort();
      if (reportTimer) clearTimeout(reportTimer);
      unsubscribe();
      await requests.close();
      supervisor.close();
      await Promise.allSettled(loops);
      await traffic.close();
      await dns?.close();
      await mesh?.close();
      sampler.stop();
      await metricsServer?.close();
    },
  };
}

/**
 * The stop orders of a claim reply for copies still running (or about to) here. A copy that has stopped or
 * ended since is left to its report: a revocation of one would forget it before the report went out, and
 * the control plane would wait for its lease to lapse instead.
 */
export function stopsToAct(supervisor: { held(): Pick<HeldTaskView, "taskId" | "epoch" | "phase">[] }, stops: Revocation[]): Revocation[] {
  const live = new Map(supervisor.held().filter((t) => t.phase === "running" || t.phase === "starting" || t.phase === "backoff").map((t) => [t.taskId, t.epoch]));
  return stops.filter((s) => s.reason === "stopped" && live.get(s.taskId) === s.epoch);
}

/** The fields a strict body refused, as its problem detail names them (`unknown field "name"`). */
function unknownFields(message: string): Set<string> {
  return new Set([...message.matchAll(/unknown field "([A-Za-z]+)"/g)].map((m) => m[1]!));
}

/** Network errors, timeouts and 5xx: the control plane is (for now) unreachable, and is retried. */
function transient(err: unknown): boolean {
  return !(err instanceof ControlPlaneError) || err.status === 0 || err.status >= 500;
}

type MeshEnrollment = [request: MeshRequest | undefined, accept: (cert: MeshCertificate | undefined) => void, refused: () => void];

async function ensureIdentity(client: ControlPlaneClient, opts: AgentOptions, dataDir: string, log: Logger, contact: ContactLog, nodeKey: NodeKey, ...mesh: MeshEnrollment): Promise<AgentIdentity> {
  const stored = loadIdentity(dataDir);
  if (stored && stored.server === opts.server && stored.name === opts.name) return stored;
  if (!opts.joinToken) {
    throw new Error(`no stored credential in ${dataDir} for ${opts.name}@${opts.server}: give a join token (LEASEHOLD_JOIN_TOKEN or --join-token-file) to enroll`);
  }
  return enrollWith(client, opts, dataDir, log, contact, nodeKey, undefined, ...mesh);
}

async function enrollWith(
  client: ControlPlaneClient,
  opts: AgentOptions,
  dataDir: string,
  log: Logger,
  contact: ContactLog,
  nodeKey: NodeKey,
  previousCredential: string | undefined,
  ...[meshAsk, acceptMesh, meshRefused]: MeshEnrollment
): Promise<AgentIdentity> {
  if (!opts.joinToken) throw new Error("enrolling needs a join token");
  const capacity = { ...detectCapacity(), ...(opts.cpu ? { cpu: opts.cpu } : {}), ...(opts.memory ? { memory: opts.memory } : {}) };
  let advertise = opts.advertise ?? detectAdvertise();
  let mesh = meshAsk;
  if (advertise.length === 0) log.warn("no address to advertise (give --advertise): other hosts cannot reach this one's tasks");
  const backoff = createBackoff({ baseMs: 500, maxMs: 10_000 });
  for (;;) {
    try {
      const r = await client.enroll({
        token: opts.joinToken,
        name: opts.name,
        ...(opts.region !== undefined ? { region: opts.region } : {}),
        labels: opts.labels,
        capacity,
        agentVersion: AGENT_VERSION,
        ...(previousCredential ? { previousCredential } : {}),
        encryptionKey: nodeKey.publicJwk,
        ...(advertise.length > 0 ? { advertise } : {}),
        ...(mesh ? { mesh } : {}),
      });
      contact.reached();
      acceptMesh(r.mesh);
      const identity: AgentIdentity = {
        server: opts.server,
        name: opts.name,
        nodeId: r.nodeId,
        credential: r.credential,
        jwks: r.jwks as AgentIdentity["jwks"],
        ...(r.clusterId !== undefined ? { clusterId: r.clusterId } : {}),
        ...(r.region !== undefined ? { region: r.region } : {}),
        encryptionKeyId: nodeKey.kid,
      };
      saveIdentity(dataDir, identity);
      log.info("enrolled", {
        node: opts.name,
        nodeId: r.nodeId,
        cluster: r.clusterId,
        region: r.region,
        cpu: capacity.cpu,
        memory: capacity.memory,
        advertise: advertise.map((a) => `${a.address} (${a.scope})`).join(", "),
      });
      return identity;
    } catch (err) {
      // A control plane from before discovery (or the mesh) does not know the fields: enroll without them, and say so.
      const unknown = err instanceof ControlPlaneError && err.status === 400 ? unknownFields(err.message) : new Set<string>();
      if ((unknown.has("advertise") && advertise.length > 0) || (unknown.has("mesh") && mesh)) {
        if (unknown.has("advertise") && advertise.length > 0) {
          log.warn("the control plane takes no advertised addresses (an older version): enrolling without them", { error: errorText(err) });
          advertise = [];
        }
        if (unknown.has("mesh") && mesh) {
          log.warn("the control plane issues no mesh certificates (an older version): enrolling without a mesh, so other nodes' endpoints are out of reach from here", { error: errorText(err) });
          mesh = undefined;
          meshRefused();
        }
        continue;
      }
      // A refused token is final; an unreachable control plane is retried.
      if (!transient(err)) throw err;
      const wait = backoff.next();
      contact.unreachable(err, { request: "enroll", retryInMs: wait });
      await new Promise((r) => setTimeout(r, wait));
    }
  }
}
