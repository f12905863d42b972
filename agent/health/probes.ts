// Single health probes (http, tcp, exec) and where to aim them; each resolves to a result, never throws.
import http from "node:http";
import net from "node:net";
import type { ContainerRuntime, HostPort } from "../runtime/container-runtime";

/** Where a task's container can be reached from the agent's host. */
export type HealthTarget = {
  containerId: string;
  /** Published ports, as start() or inspect() reported them. */
  hostPorts: readonly HostPort[];
  /** The container's address on the engine's network, used when a port is not published. */
  ipAddress: string | null;
  /** Address published ports are reached on; default 127.0.0.1 (the agent runs on the host). */
  hostAddress?: string;
};

export type ProbeResult = { ok: boolean; detail: string };

/** Timers the probes and the monitor run on; tests may pass their own. */
export type HealthTimers = {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
};

export function systemTimers(): HealthTimers {
  return {
    now: () => Date.now(),
    setTimeout: (fn, ms) => setTimeout(fn, ms),
    clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
  };
}

/** Host port mapping on the host address first, else the container's own address. */
export function resolveAddress(target: HealthTarget, containerPort: number): { host: string; port: number } | undefined {
  const published = target.hostPorts.find((p) => p.container === containerPort && p.protocol === "tcp");
  if (published) return { host: target.hostAddress ?? "127.0.0.1", port: published.host };
  if (target.ipAddress) return { host: target.ipAddress, port: containerPort };
  return undefined;
}

/** GET `path`; a 2xx or 3xx answer within `timeoutMs` is healthy. Redirects are not followed. */
export function probeHttp(
  address: { host: string; port: number },
  path: string,
  timeoutMs: number,
  timers: HealthTimers,
): Promise<ProbeResult> {
  return new Promise((resolve) => {
    let settled = false;
    const finish = (result: ProbeResult): void => {
      if (settled) return;
      settled = true;
      timers.clearTimeout(timer);
      req.destroy();
      resolve(result);
    };
    // agent: false: every probe opens a fresh connection, so a dead server is never hidden by a pooled socket.
    const req = http.request({ host: address.host, port: address.port, path, method: "GET", agent: false }, (res) => {
      const status = res.statusCode ?? 0;
      res.resume();
      finish({ ok: status >= 200 && status < 400, detail: `HTTP ${status} from ${address.host}:${address.port}${path}` });
    });
    const timer = timers.setTimeout(
      () => finish({ ok: false, detail: `GET ${address.host}:${address.port}${path} timed out after ${timeoutMs} ms` }),
      timeoutMs,
    );
    req.on("error", (error) => finish({ ok: false, detail: `GET ${address.host}:${address.port}${path}: ${error.message}` }));
    req.end();
  });
}

/**
 * How long a TCP probe holds the connection open. Docker's userland proxy accepts on the host port
 * even when nothing listens in the container, then closes at once; a peer that hangs up within
 * this window without sending anything is counted as not listening.
 */
const TCP_SETTLE_MS = 150;

/** Connects; healthy when the connection opens and is not dropped at once by the peer. */
export function probeTcp(address: { host: string; port: number }, timeoutMs: number, timers: HealthTimers): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const where = `${address.host}:${address.port}`;
    const began = timers.now();
    let settled = false;
    let settleTimer: unknown;
    const finish = (result: ProbeResult): void => {
      if (settled) return;
      settled = true;
      timers.clearTimeout(timer);
      if (settleTimer !== undefined) timers.clearTimeout(settleTimer);
      socket.destroy();
      resolve(result);
    };
    const socket = net.connect({ host: address.host, port: address.port });
    const timer = timers.setTimeout(() => finish({ ok: false, detail: `connect to ${where} timed out after ${timeoutMs} ms` }), timeoutMs);
    socket.on("connect", () => {
      const settle = Math.max(0, Math.min(TCP_SETTLE_MS, timeoutMs - (timers.now() - began)));
      settleTimer = timers.setTimeout(() => finish({ ok: true, detail: `connected to ${where}` }), settle);
    });
    // Any byte from the server means something real is listening.
    socket.on("data", () => finish({ ok: true, detail: `connected to ${where}` }));
    socket.on("end", () => finish({ ok: false, detail: `${where} closed the connection at once` }));
    socket.on("close", () => finish({ ok: false, detail: `${where} closed the connection at once` }));
    socket.on("error", (error) => finish({ ok: false, detail: `connect to ${where}: ${error.message}` }));
  });
}

/** Runs `command` in the container; exit 0 within `timeoutMs` is healthy. */
export async function probeExec(
  runtime: Pick<ContainerRuntime, "exec">,
  containerId: string,
  command: string[],
  timeoutMs: number,
): Promise<ProbeResult> {
  try {
    const { exitCode, output } = await runtime.exec(containerId, command, { timeoutMs });
    const tail = output.trim().slice(-200);
    return { ok: exitCode === 0, detail: `exit ${exitCode}${tail ? `: ${tail}` : ""}` };
  } catch (error) {
    return { ok: false, detail: error instanceof Error ? error.message : String(error) };
  }
}
