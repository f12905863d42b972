// One service's endpoints as this node balances them: the targets of the latest snapshot, the connections
// open to each, and those whose connect failed lately, avoided for a short while (FAILURE_HOLD_MS).
// A failed connect is retried once, on another target; a connection that is up is left be when its
// endpoint leaves the set (it ends when either side closes it).
import { connect, type Socket } from "node:net";
import type { Endpoint } from "../../api/services";
import { dialMesh, type MeshCredentials } from "../mesh";
import { pickTarget, reachableTargets, type BalancePolicy, type Caller, type Target } from "./balance";

/** How long an endpoint whose connect failed is passed over while another is usable. */
export const FAILURE_HOLD_MS = 10_000;
const CONNECT_TIMEOUT_MS = 3_000;

export class NoEndpointError extends Error {
  override readonly name = "NoEndpointError";
}

export interface ServicePool {
  /** "namespace/name". */
  readonly key: string;
  /** Takes the endpoint set of a snapshot, whole. */
  update(endpoints: readonly Endpoint[]): void;
  /** The targets connections go to now, nearest first. */
  targets(): readonly Target[];
  /** A connected socket to a target chosen by `policy`; rejects with NoEndpointError when none answered. */
  connect(policy: BalancePolicy): Promise<{ socket: Socket; target: Target }>;
}

export interface ServicePoolOptions {
  key: string;
  caller: Caller;
  now?: () => number;
  failureHoldMs?: number;
  connectTimeoutMs?: number;
  /** This node's mesh credentials, read at each connection to another node's endpoint (none: such connections fail). */
  mesh?: () => MeshCredentials | undefined;
}

export function createServicePool(opts: ServicePoolOptions): ServicePool {
  const now = opts.now ?? (() => performance.now());
  const holdMs = opts.failureHoldMs ?? FAILURE_HOLD_MS;
  const timeoutMs = opts.connectTimeoutMs ?? CONNECT_TIMEOUT_MS;
  let targets: Target[] = [];
  let turn = 0;
  const active = new Map<string, number>();
  const failedUntil = new Map<string, number>();

  function avoided(tried: ReadonlySet<string>): Set<string> {
    const at = now();
    const out = new Set(tried);
    for (const [taskId, until] of failedUntil) {
      if (until > at) out.add(taskId);
      else failedUntil.delete(taskId);
    }
    return out;
  }

  function track(socket: Socket, taskId: string): void {
    active.set(taskId, (active.get(taskId) ?? 0) + 1);
    socket.once("close", () => {
      const n = (active.get(taskId) ?? 1) - 1;
      if (n > 0) active.set(taskId, n);
      else active.delete(taskId);
    });
  }

  return {
    key: opts.key,
    update(endpoints) {
      targets = reachableTargets(endpoints, opts.caller);
      const present = new Set(targets.map((t) => t.taskId));
      for (const taskId of failedUntil.keys()) if (!present.has(taskId)) failedUntil.delete(taskId);
    },
    targets: () => targets,
    async connect(policy) {
      const tried = new Set<string>();
      const failures: string[] = [];
      for (let attempt = 0; attempt < 2; attempt++) {
        const target = pickTarget(targets, policy, { turn: turn++, active, avoid: avoided(tried) });
        if (target === undefined || tried.has(target.taskId)) break;
        tried.add(target.taskId);
        try {
          const socket = await dial(target, opts.key, timeoutMs, opts.mesh);
          failedUntil.delete(target.taskId);
          track(socket, target.taskId);
          return { socket, target };
        } catch (error) {
          failedUntil.set(target.taskId, now() + holdMs);
          failures.push(`${target.address}:${target.port}: ${error instanceof Error ? error.message : String(error)}`);
        }
      }
      throw new NoEndpointError(
        failures.length > 0 ? `no endpoint of ${opts.key} answered (${failures.join("; ")})` : `${opts.key} has no healthy endpoint this node can reach`,
      );
    },
  };
}

/** This node's endpoints directly on loopback; another node's through its mesh port. */
function dial(target: Target, service: string, timeoutMs: number, mesh: (() => MeshCredentials | undefined) | undefined): Promise<Socket> {
  if (target.meshPort !== null) {
    const credentials = mesh?.();
    if (!credentials) return Promise.reject(new Error("this node has no mesh certificate yet"));
    return dialMesh({ nodeId: target.nodeId, address: target.address, meshPort: target.meshPort, port: target.port }, service, credentials, timeoutMs);
  }
  return new Promise((resolve, reject) => {
    const socket = connect({ host: target.address, port: target.port, allowHalfOpen: true });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no connection within ${timeoutMs} ms`));
    }, timeoutMs);
    const failed = (error: Error) => {
      clearTimeout(timer);
      reject(error);
    };
    socket.once("error", failed);
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.off("error", failed);
      resolve(socket);
    });
  });
}
