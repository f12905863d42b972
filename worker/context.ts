// What every route handler is given: injected dependencies and the Hono environment type.
import type { OpenAPIHono } from "@hono/zod-openapi";
import type { Store } from "../db/store";
import type { NodePrincipal, OperatorPrincipal } from "./auth/tokens";
import type { SigningKeys } from "./auth/keys";
import type { Clock } from "./clock";
import type { StoreClock } from "./store-clock";
import type { Config } from "./config";
import type { Keyring } from "./secrets/keyring";
import type { Metrics } from "./metrics/metrics";

export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFields = Record<string, unknown>;

/**
 * A structured log entry: a fixed message, the variable parts as fields, and a level ("error" when none is
 * given, as every entry was before levels). Fields named level or message do not replace the entry's own.
 */
export type Logger = (message: string, fields?: LogFields, level?: LogLevel) => void;

/** In-process wake-ups for long-polling claims; other instances are reached by the store poll. */
export interface WorkSignal {
  notify(nodeId: string): void;
  wait(nodeId: string, ms: number, signal?: AbortSignal): Promise<void>;
}

/** Schedules work that may outlive the response (Workers: ctx.waitUntil). */
export type Background = (work: Promise<unknown>) => void;

export interface AppDeps {
  store: Store;
  keys: SigningKeys;
  clock: Clock;
  config: Config;
  log?: Logger;
  signal?: WorkSignal;
  /** New row ids (default: random UUIDs); a simulation passes a seeded source so a run can be replayed. */
  newId?: () => string;
  /** Authorises POST /v1/bootstrap (the Worker's LEASEHOLD_BOOTSTRAP_SECRET); without it the route answers 404. */
  bootstrapSecret?: string | undefined;
  /**
   * Runs `wake` about `delayMs` from now (Node: a timer). Evaluations held back by time (a min healthy
   * wait, a deadline, a reschedule delay) then run when due instead of at the next sweep. Only a fast
   * path: the due time is in the store, and the sweep runs what is due either way.
   */
  scheduleWake?: (delayMs: number, wake: () => void) => void;
  /** The secrets master keys (LEASEHOLD_SECRETS_KEY), checked against the store at start; none: secrets are off. */
  secrets?: Keyring;
  /**
   * Where counters and histograms go (Node: prom-client; Workers: the isolate's registry, which outlives
   * the per-request control plane). None: a registry of this control plane's own.
   */
  metrics?: Metrics;
}

export interface ResolvedDeps extends Required<Omit<AppDeps, "signal" | "newId" | "clock" | "bootstrapSecret" | "scheduleWake">> {
  scheduleWake?: AppDeps["scheduleWake"];
  newId: () => string;
  /** The injected clock, following the store's clock for lease decisions (see store-clock.ts). */
  clock: StoreClock;
  signal: WorkSignal;
  /** Work still running after its response was sent (Node); tests wait on it through settled(). */
  inFlight: Set<Promise<unknown>>;
}

export type AppEnv = {
  Variables: { operator: OperatorPrincipal; node: NodePrincipal };
};

export type App = OpenAPIHono<AppEnv>;

export function newId(): string {
  return crypto.randomUUID();
}

/** A WorkSignal for one process: resolves waiters of a node when work for it is placed here. */
export function createWorkSignal(): WorkSignal {
  const waiters = new Map<string, Set<() => void>>();
  return {
    notify(nodeId) {
      const set = waiters.get(nodeId);
      if (!set) return;
      waiters.delete(nodeId);
      for (const wake of set) wake();
    },
    wait(nodeId, ms, abort) {
      return new Promise<void>((resolve) => {
        let set = waiters.get(nodeId);
        if (!set) waiters.set(nodeId, (set = new Set()));
        const done = () => {
          clearTimeout(timer);
          abort?.removeEventListener("abort", done);
          set.delete(done);
          if (set.size === 0 && waiters.get(nodeId) === set) waiters.delete(nodeId);
          resolve();
        };
        const timer = setTimeout(done, ms);
        set.add(done);
        abort?.addEventListener("abort", done, { once: true });
      });
    },
  };
}
