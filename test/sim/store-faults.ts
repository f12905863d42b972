// A libSQL client that can crash its control-plane instance between any two store calls (even mid-batch).
import type { Client } from "@libsql/client";

/** Where the instance dies: before a call (nothing written) or after it (written, reply lost). */
export type CrashMode = "before" | "after";

export interface CrashPlan {
  /** The store call (1-based, counted over execute, batch, transaction, executeMultiple) that kills it. */
  atCall: number;
  mode: CrashMode;
}

export class InstanceCrashed extends Error {
  override name = "InstanceCrashed";
}

/** What the simulator sees of a wrapped client: calls so far, whether it died, and the arming hook. */
export interface FaultyClient {
  client: Client;
  calls(): number;
  dead(): boolean;
  arm(plan: CrashPlan | null): void;
  /** Called once, when the crash happens (the simulator marks the instance dead). */
  onCrash(listener: (call: number, method: string, mode: CrashMode) => void): void;
}

const COUNTED = new Set(["execute", "batch", "transaction", "executeMultiple", "migrate"]);

export function faultyClient(inner: Client): FaultyClient {
  let calls = 0;
  let dead = false;
  let plan: CrashPlan | null = null;
  let listener: ((call: number, method: string, mode: CrashMode) => void) | null = null;

  const die = (method: string, mode: CrashMode) => {
    dead = true;
    listener?.(calls, method, mode);
    return new InstanceCrashed(`instance crashed at store call ${calls} (${method}, ${mode})`);
  };

  const client = new Proxy(inner, {
    get(target, prop) {
      // The client keeps private fields: getters and methods must run with the client itself as `this`.
      const value: unknown = Reflect.get(target, prop, target);
      if (typeof value !== "function") return value;
      if (typeof prop !== "string" || !COUNTED.has(prop)) return (value as (...args: unknown[]) => unknown).bind(target);
      const method = prop;
      const fn = value as (...args: unknown[]) => Promise<unknown>;
      return async (...args: unknown[]): Promise<unknown> => {
        if (dead) throw new InstanceCrashed("instance is dead");
        calls++;
        if (plan && calls === plan.atCall && plan.mode === "before") throw die(method, "before");
        const result = await fn.apply(target, args);
        if (plan && calls === plan.atCall && plan.mode === "after") throw die(method, "after");
        return result;
      };
    },
  });

  return {
    client,
    calls: () => calls,
    dead: () => dead,
    arm(p) {
      plan = p;
    },
    onCrash(l) {
      listener = l;
    },
  };
}
