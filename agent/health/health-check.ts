// Runs one task's health check on an interval and keeps its status: starting → healthy ⇄ unhealthy.
//
// Invariants: status leaves "starting" on the first success or after `failures` consecutive
// counted failures; a healthy check turns unhealthy only after `failures` consecutive failures;
// checks never overlap; after stop() no probe starts and no status changes.
import type { ContainerRuntime } from "../runtime/container-runtime";
import { probeExec, probeHttp, probeTcp, resolveAddress, systemTimers } from "./probes";
import type { HealthTarget, HealthTimers, ProbeResult } from "./probes";

type CheckTiming = {
  intervalMs: number;
  timeoutMs: number;
  /** Consecutive failures that make the check unhealthy. */
  failures: number;
  /** Failures within this long of the check's creation are not counted. Default 0. */
  graceMs?: number;
};

export type HealthCheckSpec =
  | ({ type: "http"; /** container port */ port: number; path: string } & CheckTiming)
  | ({ type: "tcp"; /** container port */ port: number } & CheckTiming)
  | ({ type: "exec"; command: string[] } & CheckTiming);

export type HealthStatus = "starting" | "healthy" | "unhealthy";

export type HealthSnapshot = {
  status: HealthStatus;
  consecutiveFailures: number;
  /** Probes completed so far. */
  checks: number;
  lastCheckedAt: number | null;
  lastResult: ProbeResult | null;
  /** When status last changed (creation time while starting). */
  since: number;
};

export type HealthCheckDeps = {
  runtime: Pick<ContainerRuntime, "exec">;
  timers?: HealthTimers;
  /** Called on every status change, after the snapshot is updated. */
  onChange?: (status: HealthStatus, snapshot: HealthSnapshot) => void;
};

export interface HealthCheck {
  status(): HealthStatus;
  snapshot(): HealthSnapshot;
  stop(): void;
}

/** One probe of `check` against `target`. */
export function runProbe(check: HealthCheckSpec, target: HealthTarget, deps: Pick<HealthCheckDeps, "runtime" | "timers">): Promise<ProbeResult> {
  const timers = deps.timers ?? systemTimers();
  if (check.type === "exec") return probeExec(deps.runtime, target.containerId, check.command, check.timeoutMs);
  const address = resolveAddress(target, check.port);
  if (address === undefined) {
    return Promise.resolve({ ok: false, detail: `container port ${check.port} is not published and the container has no address` });
  }
  return check.type === "http" ? probeHttp(address, check.path, check.timeoutMs, timers) : probeTcp(address, check.timeoutMs, timers);
}

/** Starts checking at once (first probe immediately), then every `intervalMs` from the start of the previous probe. */
export function createHealthCheck(check: HealthCheckSpec, target: HealthTarget, deps: HealthCheckDeps): HealthCheck {
  validate(check);
  const timers = deps.timers ?? systemTimers();
  const createdAt = timers.now();
  const graceMs = check.graceMs ?? 0;
  const state: HealthSnapshot = {
    status: "starting",
    consecutiveFailures: 0,
    checks: 0,
    lastCheckedAt: null,
    lastResult: null,
    since: createdAt,
  };
  let stopped = false;
  let timer: unknown;

  const setStatus = (status: HealthStatus, at: number): void => {
    if (status === state.status) return;
    state.status = status;
    state.since = at;
    deps.onChange?.(status, { ...state });
  };

  const record = (result: ProbeResult, began: number): void => {
    state.checks += 1;
    state.lastCheckedAt = began;
    state.lastResult = result;
    if (result.ok) {
      state.consecutiveFailures = 0;
      setStatus("healthy", timers.now());
      return;
    }
    if (began - createdAt < graceMs) return;
    state.consecutiveFailures += 1;
    if (state.consecutiveFailures >= check.failures) setStatus("unhealthy", timers.now());
  };

  const tick = (): void => {
    timer = undefined;
    if (stopped) return;
    const began = timers.now();
    runProbe(check, target, { runtime: deps.runtime, timers })
      .catch((error: unknown): ProbeResult => ({ ok: false, detail: error instanceof Error ? error.message : String(error) }))
      .then((result) => {
        if (stopped) return;
        record(result, began);
        timer = timers.setTimeout(tick, Math.max(0, check.intervalMs - (timers.now() - began)));
      });
  };

  timer = timers.setTimeout(tick, 0);

  return {
    status: () => state.status,
    snapshot: () => ({ ...state }),
    stop() {
      stopped = true;
      if (timer !== undefined) timers.clearTimeout(timer);
      timer = undefined;
    },
  };
}

function validate(check: HealthCheckSpec): void {
  const positive = (n: number): boolean => Number.isFinite(n) && n > 0;
  if (!positive(check.intervalMs)) throw new RangeError(`health check intervalMs must be positive, got ${check.intervalMs}`);
  if (!positive(check.timeoutMs)) throw new RangeError(`health check timeoutMs must be positive, got ${check.timeoutMs}`);
  if (!Number.isInteger(check.failures) || check.failures < 1) throw new RangeError(`health check failures must be an integer ≥ 1, got ${check.failures}`);
  if (check.type === "exec" && check.command.length === 0) throw new RangeError("exec health check needs a command");
  if (check.type !== "exec" && !(Number.isInteger(check.port) && check.port >= 1 && check.port <= 65535)) {
    throw new RangeError(`health check port must be 1-65535, got ${check.port}`);
  }
}
