// The ContainerRuntime adapter for the Docker Engine API (dockerode); dockerode's types stay inside this file and its docker-* helpers.
//
// Invariants: every container this adapter lists, or reports events for, carries the caller's
// cluster and node-id labels (the engine filters on both: nothing of another owner is ever read); containers are created with no engine restart policy, so restarts are
// the supervisor's decision alone. Networks follow the same ownership rule (docker-networks.ts).
import Dockerode from "dockerode";
import { demultiplexToString } from "./demux";
import { LABEL_PREFIX, ownedLabels, ownerSelector, parseRestoreLabel, parseTaskLabels, taskLabels, containerName } from "./labels";
import { ContainerRuntimeError } from "./container-runtime";
import { createDockerExec } from "./docker-exec";
import { createDockerLogs } from "./docker-logs";
import { createDockerNetworks } from "./docker-networks";
import { statsSampleOf } from "./docker-stats";
import { numberField, objectField, reason, statusCode, stringField, toError, wrap } from "./docker-values";
import type {
  ContainerDetails,
  ContainerEvent,
  ContainerEventAction,
  ContainerInspection,
  ContainerRuntime,
  ContainerSpec,
  ContainerState,
  ContainerStatsSample,
  ContainerSummary,
  ExecResult,
  HostPort,
  PortProtocol,
  StartedContainer,
  StopResult,
  Unsubscribe,
} from "./container-runtime";
import type { NodeOwner } from "./labels";

export type DockerRuntimeOptions = {
  /** A ready client; wins over socketPath. */
  docker?: Dockerode;
  /** Engine socket; default DOCKER_HOST, then the platform's default socket. */
  socketPath?: string;
  /** Told of every pull ensureImage makes (an image already present is none): how long it took, and whether it left the image. */
  onPull?: (pull: ImagePull) => void;
};

export type ImagePull = { image: string; seconds: number; ok: boolean };

const EVENT_ACTIONS: readonly ContainerEventAction[] = ["start", "die", "oom", "destroy"];
const STATES: readonly Exclude<ContainerState, "missing">[] = ["created", "running", "paused", "restarting", "removing", "exited", "dead"];
/** How long stop() waits for the engine to reap a container after SIGKILL. */
const KILL_REAP_MS = 10_000;
/** exec() keeps at most this much output (the tail). */
const EXEC_OUTPUT_LIMIT = 64 * 1024;
const EVENTS_RETRY_MIN_MS = 500;
const EVENTS_RETRY_MAX_MS = 30_000;

export function createDockerRuntime(opts: DockerRuntimeOptions = {}): ContainerRuntime {
  const docker = opts.docker ?? (opts.socketPath !== undefined ? new Dockerode({ socketPath: opts.socketPath }) : new Dockerode());

  async function ensureImage(image: string, { timeoutMs }: { timeoutMs: number }): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    try {
      await withTimeout(docker.getImage(image).inspect(), timeoutMs, `inspecting image ${image}`);
      return;
    } catch (error) {
      if (statusCode(error) !== 404) throw wrap(error, `inspect image ${image}`);
    }
    const pullStarted = performance.now();
    const pulled = (ok: boolean) => opts.onPull?.({ image, seconds: (performance.now() - pullStarted) / 1000, ok });
    try {
      await pull(image, Math.max(0, deadline - Date.now()), timeoutMs);
      pulled(true);
    } catch (error) {
      pulled(false);
      throw new ContainerRuntimeError("image_unavailable", `image ${image} not present and pull failed: ${reason(error)}`, { cause: error });
    }
  }

  async function pull(image: string, remainingMs: number, timeoutMs: number): Promise<void> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), remainingMs);
    try {
      const stream = await docker.pull(image, { abortSignal: controller.signal });
      await new Promise<void>((resolve, reject) => {
        let failure: string | undefined;
        const lines = jsonLines((value) => {
          const message = pullError(value);
          if (message !== undefined) failure ??= message;
        });
        stream.on("data", (chunk: Buffer | string) => lines.push(chunk));
        stream.on("error", (e: unknown) => reject(e));
        stream.on("end", () => {
          lines.flush();
          if (failure !== undefined) reject(new Error(failure));
          else resolve();
        });
        // After end this is a no-op; before it, the engine hung up mid-pull.
        stream.on("close", () => reject(new Error(failure ?? "the engine closed the pull stream")));
        controller.signal.addEventListener("abort", () => reject(new Error(`no result within ${timeoutMs} ms`)), { once: true });
      });
    } catch (error) {
      if (controller.signal.aborted) throw new Error(`no result within ${timeoutMs} ms`, { cause: error });
      throw error;
    } finally {
      clearTimeout(timer);
    }
    // A pull that streamed no error but left nothing behind is still a failure.
    await withTimeout(docker.getImage(image).inspect(), Math.max(1, remainingMs), `inspecting pulled image ${image}`);
  }

  async function start(spec: ContainerSpec): Promise<StartedContainer> {
    validateSpec(spec);
    const ports = (spec.ports ?? []).map((p) => ({ container: p.container, host: p.host ?? 0, protocol: p.protocol ?? "tcp", hostIp: p.hostIp ?? spec.hostIp ?? "" }));
    const exposed: Record<string, Record<string, never>> = {};
    const bindings: Record<string, { HostIp: string; HostPort: string }[]> = {};
    for (const p of ports) {
      const key = `${p.container}/${p.protocol}`;
      exposed[key] = {};
      (bindings[key] ??= []).push({ HostIp: p.hostIp, HostPort: p.host > 0 ? String(p.host) : "" });
    }
    const memoryBytes = spec.memoryMiB !== undefined ? spec.memoryMiB * 1024 * 1024 : undefined;
    const name = containerName(spec.task);
    let container: Dockerode.Container;
    try {
      container = await docker.createContainer({
        name,
        Image: spec.image,
        ...(spec.command !== undefined ? { Cmd: spec.command } : {}),
        Env: Object.entries(spec.env ?? {}).map(([k, v]) => `${k}=${v}`),
        Labels: { ...spec.labels, ...taskLabels(spec.task, spec.restore) },
        ExposedPorts: exposed,
        ...(spec.network ? { NetworkingConfig: { EndpointsConfig: { [spec.network.name]: { Aliases: spec.network.aliases ?? [] } } } } : {}),
        HostConfig: {
          ...(spec.network ? { NetworkMode: spec.network.name } : {}),
          ...(spec.dns?.length ? { Dns: spec.dns } : {}),
          ...(spec.cpuMillis !== undefined ? { NanoCpus: spec.cpuMillis * 1_000_000 } : {}),
          // Swap equal to memory: the limit is a hard one, not memory plus as much swap again.
          ...(memoryBytes !== undefined ? { Memory: memoryBytes, MemorySwap: memoryBytes } : {}),
          PortBindings: bindings,
          ...(spec.files?.length ? { Mounts: spec.files.map((f) => ({ Type: "bind" as const, Source: f.source, Target: f.target, ReadOnly: true })) } : {}),
          RestartPolicy: { Name: "no" },
        },
      });
    } catch (error) {
      const status = statusCode(error);
      if (status === 404 && spec.network && /network/i.test(reason(error))) {
        throw new ContainerRuntimeError("not_found", `network ${spec.network.name} is missing (ensureNetwork first): ${reason(error)}`, { cause: error });
      }
      if (status === 404) {
        throw new ContainerRuntimeError("image_unavailable", `image ${spec.image} is not present (ensureImage first)`, { cause: error });
      }
      if (status === 409) throw new ContainerRuntimeError("conflict", `container name ${name} is taken: ${reason(error)}`, { cause: error });
      throw wrap(error, `create container ${name}`);
    }
    try {
      await container.start();
    } catch (error) {
      // Leave nothing half-made behind: a created-but-unstartable container would only confuse list().
      await container.remove({ force: true, v: true }).catch(() => undefined);
      throw wrap(error, `start container ${name}`);
    }
    let hostPorts: HostPort[] = [];
    for (let attempt = 0; attempt < 20; attempt++) {
      const info = await container.inspect();
      hostPorts = hostPortsOf(info.NetworkSettings.Ports);
      // Bindings are normally reported as soon as start returns; a container that already exited has none.
      if (hostPorts.length >= ports.length || !info.State.Running) break;
      await sleep(50);
    }
    return { id: container.id, name, hostPorts };
  }

  async function waitStopped(container: Dockerode.Container, timeoutMs: number): Promise<{ exited: boolean; exitCode: number | null }> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    try {
      const result: unknown = await container.wait({ condition: "not-running", abortSignal: controller.signal });
      return { exited: true, exitCode: numberField(result, "StatusCode") ?? null };
    } catch (error) {
      if (controller.signal.aborted) return { exited: false, exitCode: null };
      if (statusCode(error) === 404) return { exited: true, exitCode: null };
      throw wrap(error, `wait for container ${container.id}`);
    } finally {
      clearTimeout(timer);
    }
  }

  async function stop(id: string, { graceMs }: { graceMs: number }): Promise<StopResult> {
    const container = docker.getContainer(id);
    const before = await inspect(id);
    if (before.state === "missing") return { outcome: "missing", exitCode: null };
    if (before.state !== "running" && before.state !== "restarting" && before.state !== "paused") {
      return { outcome: "already-stopped", exitCode: before.exitCode };
    }
    const term = await signal(container, "SIGTERM");
    if (term === "missing") return { outcome: "missing", exitCode: null };
    if (term === "not-running") return { outcome: "already-stopped", exitCode: await exitCodeOf(id) };
    const graceful = await waitStopped(container, graceMs);
    if (graceful.exited) return { outcome: "graceful", exitCode: graceful.exitCode ?? (await exitCodeOf(id)) };
    const kill = await signal(container, "SIGKILL");
    if (kill === "missing") return { outcome: "killed", exitCode: null };
    const reaped = await waitStopped(container, KILL_REAP_MS);
    if (!reaped.exited) throw new ContainerRuntimeError("timeout", `container ${id} still running ${KILL_REAP_MS} ms after SIGKILL`);
    return { outcome: "killed", exitCode: reaped.exitCode ?? (await exitCodeOf(id)) };
  }

  async function signal(container: Dockerode.Container, sig: string): Promise<"sent" | "not-running" | "missing"> {
    try {
      await container.kill({ signal: sig });
      return "sent";
    } catch (error) {
      const status = statusCode(error);
      if (status === 404) return "missing";
      if (status === 409) return "not-running";
      throw wrap(error, `signal ${sig} to container ${container.id}`);
    }
  }

  async function exitCodeOf(id: string): Promise<number | null> {
    const info = await inspect(id);
    return info.state === "missing" ? null : info.exitCode;
  }

  async function remove(id: string): Promise<void> {
    try {
      await docker.getContainer(id).remove({ force: true, v: true });
    } catch (error) {
      const status = statusCode(error);
      // 409 here means a removal is already in progress.
      if (status === 404 || status === 409) return;
      throw wrap(error, `remove container ${id}`);
    }
  }

  async function inspect(id: string): Promise<ContainerInspection> {
    let info: Dockerode.ContainerInspectInfo;
    try {
      info = await docker.getContainer(id).inspect();
    } catch (error) {
      if (statusCode(error) === 404) return { id, state: "missing" };
      throw wrap(error, `inspect container ${id}`);
    }
    const state = parseState(info.State.Status);
    const labels = info.Config.Labels ?? {};
    const details: ContainerDetails = {
      id: info.Id,
      name: info.Name.replace(/^\//, ""),
      image: info.Config.Image,
      state,
      exitCode: state === "exited" || state === "dead" ? info.State.ExitCode : null,
      startedAt: engineDate(info.State.StartedAt),
      finishedAt: engineDate(info.State.FinishedAt),
      oomKilled: info.State.OOMKilled,
      restartCount: info.RestartCount,
      ipAddress: ipAddressOf(info.NetworkSettings),
      hostPorts: hostPortsOf(info.NetworkSettings.Ports),
      labels,
      task: parseTaskLabels(labels),
      restore: parseRestoreLabel(labels),
      resources: { nanoCpus: info.HostConfig.NanoCpus ?? 0, memoryBytes: info.HostConfig.Memory ?? 0 },
    };
    return details;
  }

  async function list({ owner, all = false }: { owner: NodeOwner; all?: boolean }): Promise<ContainerSummary[]> {
    let rows: Dockerode.ContainerInfo[];
    try {
      rows = await docker.listContainers({ all, filters: { label: ownerSelector(owner) } });
    } catch (error) {
      throw wrap(error, `list containers of node ${owner.nodeId}`);
    }
    return rows.map((row) => ({
      id: row.Id,
      name: (row.Names[0] ?? "").replace(/^\//, ""),
      image: row.Image,
      state: parseState(row.State),
      createdAt: new Date(row.Created * 1000),
      labels: row.Labels,
      task: parseTaskLabels(row.Labels),
      restore: parseRestoreLabel(row.Labels),
    }));
  }

  async function stats(id: string): Promise<ContainerStatsSample> {
    let s: Dockerode.ContainerStats;
    try {
      // stream=false waits for a second sample, so precpu_stats is filled in.
      s = await docker.getContainer(id).stats({ stream: false });
    } catch (error) {
      throw wrap(error, `read stats of container ${id}`);
    }
    return statsSampleOf(s);
  }

  async function events(
    filter: { owner: NodeOwner },
    onEvent: (event: ContainerEvent) => void,
    opts: { onError?: (error: Error) => void } = {},
  ): Promise<Unsubscribe> {
    let closed = false;
    let controller = new AbortController();
    let retryTimer: ReturnType<typeof setTimeout> | undefined;
    let retryDelay = EVENTS_RETRY_MIN_MS;
    // Resume point for reconnects, in engine nanoseconds (before any event: when we subscribed);
    // a replay can repeat events at that instant, so those are deduplicated.
    let lastNano = 0n;
    const subscribedAtNano = BigInt(Date.now()) * 1_000_000n;
    let seenAtLast = new Set<string>();

    const deliver = (value: unknown, line: string): void => {
      const event = parseEvent(value, line);
      if (event === undefined) return;
      if (event.nano < lastNano) return;
      const key = `${event.event.id}/${event.event.action}`;
      if (event.nano === lastNano && seenAtLast.has(key)) return;
      if (event.nano > lastNano) {
        lastNano = event.nano;
        seenAtLast = new Set();
      }
      seenAtLast.add(key);
      onEvent(event.event);
    };

    const connect = async (since: bigint | undefined): Promise<void> => {
      controller = new AbortController();
      const stream = await docker.getEvents({
        ...(since !== undefined ? { since: nanoToSeconds(since) } : {}),
        filters: { type: ["container"], event: [...EVENT_ACTIONS], label: ownerSelector(filter.owner) },
        abortSignal: controller.signal,
      });
      retryDelay = EVENTS_RETRY_MIN_MS;
      const lines = jsonLines(deliver);
      let ended = false;
      const dropped = (error: Error): void => {
        if (ended) return;
        ended = true;
        if (closed) return;
        opts.onError?.(error);
        scheduleReconnect();
      };
      stream.on("data", (chunk: Buffer | string) => lines.push(chunk));
      stream.on("error", (error: unknown) => dropped(toError(error)));
      stream.on("end", () => dropped(new Error("docker event stream ended")));
      // A destroyed connection (engine restart, idle timeout) may close without end or error.
      stream.on("close", () => dropped(new Error("docker event stream closed")));
    };

    const scheduleReconnect = (): void => {
      if (closed) return;
      const delay = retryDelay;
      retryDelay = Math.min(retryDelay * 2, EVENTS_RETRY_MAX_MS);
      retryTimer = setTimeout(() => {
        retryTimer = undefined;
        if (closed) return;
        connect(lastNano > 0n ? lastNano : subscribedAtNano).catch((error: unknown) => {
          if (closed) return;
          opts.onError?.(wrap(error, "reconnect to docker events"));
          scheduleReconnect();
        });
      }, delay);
    };

    try {
      await connect(undefined);
    } catch (error) {
      throw wrap(error, `subscribe to docker events of node ${filter.owner.nodeId}`);
    }
    return function unsubscribe() {
      closed = true;
      if (retryTimer !== undefined) clearTimeout(retryTimer);
      controller.abort();
    };
  }

  async function exec(id: string, cmd: string[], { timeoutMs }: { timeoutMs: number }): Promise<ExecResult> {
    if (cmd.length === 0) throw new ContainerRuntimeError("invalid_spec", "exec needs a command");
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    const timedOut = (cause?: unknown): ContainerRuntimeError =>
      new ContainerRuntimeError("timeout", `exec ${JSON.stringify(cmd)} in container ${id} timed out after ${timeoutMs} ms`, { cause });
    try {
      const handle = await docker.getContainer(id).exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true, abortSignal: controller.signal });
      const stream = await handle.start({ Detach: false, Tty: false, abortSignal: controller.signal });
      const raw = await new Promise<Buffer>((resolve, reject) => {
        const chunks: Buffer[] = [];
        stream.on("data", (chunk: Buffer) => chunks.push(chunk));
        stream.on("end", () => resolve(Buffer.concat(chunks)));
        stream.on("error", reject);
        controller.signal.addEventListener("abort", () => reject(timedOut()), { once: true });
      });
      const output = demultiplexToString(raw);
      // The stream can end a moment before the engine records the exit code.
      for (;;) {
        const info = await handle.inspect({ abortSignal: controller.signal });
        if (!info.Running && info.ExitCode !== null) {
          return { exitCode: info.ExitCode, output: output.length > EXEC_OUTPUT_LIMIT ? output.slice(-EXEC_OUTPUT_LIMIT) : output };
        }
        await sleep(20);
      }
    } catch (error) {
      if (controller.signal.aborted) throw error instanceof ContainerRuntimeError ? error : timedOut(error);
      const status = statusCode(error);
      if (status === 409) throw new ContainerRuntimeError("conflict", `container ${id} is not running: ${reason(error)}`, { cause: error });
      throw wrap(error, `exec in container ${id}`);
    } finally {
      clearTimeout(timer);
    }
  }

  return { ensureImage, start, stop, remove, inspect, list, stats, events, exec, ...createDockerLogs(docker), ...createDockerExec(docker), ...createDockerNetworks(docker) };
}

function validateSpec(spec: ContainerSpec): void {
  const bad = (message: string): never => {
    throw new ContainerRuntimeError("invalid_spec", message);
  };
  if (spec.image.length === 0) bad("image is empty");
  for (const key of Object.keys(spec.labels ?? {})) {
    if (key.startsWith(LABEL_PREFIX)) bad(`label ${key} is reserved`);
  }
  for (const key of Object.keys(spec.env ?? {})) {
    if (key.length === 0 || key.includes("=")) bad(`environment variable name ${JSON.stringify(key)} is not valid`);
  }
  for (const f of spec.files ?? []) {
    if (!f.source.startsWith("/") || !f.target.startsWith("/")) bad(`mounted file ${f.target} needs absolute paths on the host and in the container`);
  }
  if (spec.cpuMillis !== undefined && !(Number.isInteger(spec.cpuMillis) && spec.cpuMillis > 0)) bad("cpuMillis must be a positive integer");
  if (spec.memoryMiB !== undefined && !(Number.isInteger(spec.memoryMiB) && spec.memoryMiB > 0)) bad("memoryMiB must be a positive integer");
  for (const p of spec.ports ?? []) {
    if (!isPort(p.container)) bad(`container port ${p.container} is out of range`);
    if (p.host !== undefined && p.host !== 0 && !isPort(p.host)) bad(`host port ${p.host} is out of range`);
  }
}

function isPort(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && n <= 65535;
}

function parseState(status: string): Exclude<ContainerState, "missing"> {
  const found = STATES.find((s) => s === status);
  // Unknown states from a newer engine are treated as dead rather than guessed at.
  return found ?? "dead";
}

/** Docker writes 0001-01-01T00:00:00Z for "never". */
function engineDate(value: string | undefined): Date | null {
  if (!value || value.startsWith("0001-")) return null;
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? null : d;
}

function ipAddressOf(settings: Dockerode.ContainerInspectInfo["NetworkSettings"]): string | null {
  // The top-level IPAddress (default bridge) is deprecated in newer engines and missing from the typings.
  const legacy = stringField(settings, "IPAddress");
  if (legacy) return legacy;
  for (const net of Object.values(settings.Networks ?? {})) if (net.IPAddress) return net.IPAddress;
  return null;
}

/** Host ports from NetworkSettings.Ports, one per container port (IPv4 and IPv6 bindings share a port). */
function hostPortsOf(ports: unknown): HostPort[] {
  if (typeof ports !== "object" || ports === null) return [];
  const out: HostPort[] = [];
  for (const [key, bindings] of Object.entries(ports)) {
    const match = /^(\d+)\/(tcp|udp)$/.exec(key);
    if (!match || !Array.isArray(bindings)) continue;
    const protocol: PortProtocol = match[2] === "udp" ? "udp" : "tcp";
    const container = Number(match[1]);
    for (const binding of bindings) {
      const host = Number(stringField(binding, "HostPort"));
      if (isPort(host) && !out.some((p) => p.container === container && p.protocol === protocol)) {
        out.push({ container, host, protocol });
      }
    }
  }
  return out.sort((a, b) => a.container - b.container);
}

function parseEvent(value: unknown, line: string): { event: ContainerEvent; nano: bigint } | undefined {
  if (stringField(value, "Type") !== "container") return undefined;
  const action = EVENT_ACTIONS.find((a) => a === stringField(value, "Action"));
  if (action === undefined) return undefined;
  const actor = objectField(value, "Actor");
  const id = stringField(actor, "ID") ?? stringField(value, "id");
  if (id === undefined) return undefined;
  const attributes: Record<string, string> = {};
  for (const [k, v] of Object.entries(objectField(actor, "Attributes") ?? {})) if (typeof v === "string") attributes[k] = v;
  // timeNano exceeds 2^53, so it is read from the raw line rather than the parsed (rounded) number.
  const exact = /"timeNano":\s*(\d+)/.exec(line)?.[1];
  const nano = exact !== undefined ? BigInt(exact) : BigInt(numberField(value, "time") ?? 0) * 1_000_000_000n;
  const event: ContainerEvent = { id, action, labels: ownedLabels(attributes), at: Number(nano / 1_000_000n) };
  const exitCode = attributes["exitCode"];
  if (action === "die" && exitCode !== undefined && /^-?\d+$/.test(exitCode)) event.exitCode = Number(exitCode);
  return { event, nano };
}

/** Engine `since` value: seconds, floored to the microsecond so the replay starts at or before `nano`. */
function nanoToSeconds(nano: bigint): number {
  return Number(nano / 1_000n) / 1_000_000;
}

/** Feeds newline-delimited JSON from a byte stream to `onValue`, skipping lines that do not parse. */
function jsonLines(onValue: (value: unknown, line: string) => void): { push(chunk: Buffer | string): void; flush(): void } {
  let pending = "";
  const emit = (line: string): void => {
    if (line.trim() === "") return;
    try {
      onValue(JSON.parse(line), line);
    } catch {
      // A partial or non-JSON line carries nothing we act on.
    }
  };
  return {
    push(chunk) {
      pending += typeof chunk === "string" ? chunk : chunk.toString("utf8");
      let nl = pending.indexOf("\n");
      while (nl >= 0) {
        emit(pending.slice(0, nl));
        pending = pending.slice(nl + 1);
        nl = pending.indexOf("\n");
      }
    },
    flush() {
      emit(pending);
      pending = "";
    },
  };
}

function pullError(value: unknown): string | undefined {
  const detail = stringField(objectField(value, "errorDetail"), "message");
  return detail ?? stringField(value, "error");
}

function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ContainerRuntimeError("timeout", `${what} timed out after ${timeoutMs} ms`)), timeoutMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
