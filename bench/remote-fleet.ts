// The driver's side of hollow fleets that run in processes of their own (fleet-child.ts): agents are spread
// over the processes, and every command goes to each process over its IPC channel.
import type { ChildProcess } from "node:child_process";
import type { FleetCounters } from "./fleet";
import { benchScript, spawnBenchChild, type Child } from "./processes";

/** One held lease, compact for the IPC channel: [agent index in its process, task id, epoch, expiresAt, stopped-state flag]. */
export type HeldTuple = [number, string, number, number, 0 | 1];

/** A lease an agent holds, as the invariant checks read it. */
export interface HeldLeaseRecord {
  agent: string;
  /** The agent was stopped (its host "vanished"); it keeps its leases. */
  agentStopped: boolean;
  taskId: string;
  epoch: number;
  expiresAt: number;
  /** The agent was told to stop the task and reports it stopped. */
  taskStopped: boolean;
}

interface EnrollOptions {
  cpu?: number;
  memory?: number;
  concurrency?: number;
  deadline?: number;
  /** Start each agent's heartbeat loop as soon as it is enrolled. */
  startHeartbeats?: boolean;
}

export type FleetCommand =
  | { op: "enroll"; args: { joinToken: string; count: number; prefix: string; opts: EnrollOptions } }
  | { op: "keepAliveStart"; args: { periodMs: number; concurrency: number } }
  | { op: "keepAliveStop"; args: null }
  | { op: "claimAll"; args: { concurrency: number; deadline: number | null } }
  | { op: "heartbeatAll"; args: { concurrency: number } }
  | { op: "start"; args: { claimLoop: boolean; claimWaitMs: number } }
  | { op: "leaseCounts"; args: null }
  | { op: "stopAgents"; args: { nodeIds: string[] } }
  | { op: "held"; args: null }
  | { op: "status"; args: null }
  | { op: "record"; args: { on: boolean } }
  | { op: "takeLatencies"; args: null }
  | { op: "unansweredAges"; args: null }
  | { op: "watchLapses"; args: { ttlMs: number } }
  | { op: "lapsed"; args: null }
  | { op: "heartbeatRequests"; args: null }
  | { op: "stop"; args: null };

export type FleetReply = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string };

export interface FleetStatus {
  counters: FleetCounters;
  failures: [string, number][];
  revocations: number;
  agents: number;
  leases: number;
  ttlMs: number;
  intervalMs: number;
}

class FleetProcess {
  private nextId = 0;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  constructor(readonly child: Child<{ pid: number }> & { process: ChildProcess }) {
    child.process.on("message", (reply: FleetReply) => {
      const w = this.waiting.get(reply.id);
      if (!w) return;
      this.waiting.delete(reply.id);
      if (reply.ok) w.resolve(reply.result);
      else w.reject(new Error(reply.error));
    });
    child.process.once("exit", (code) => {
      for (const w of this.waiting.values()) w.reject(new Error(`fleet process exited (code ${String(code)}): ${child.stderrTail().slice(-1_000)}`));
      this.waiting.clear();
    });
  }

  call<T>(op: FleetCommand["op"], args: unknown = null): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.process.send({ id, op, args });
    });
  }
}

export class RemoteFleet {
  private constructor(private readonly procs: FleetProcess[]) {}

  /** Starts `processes` fleet processes against the control plane at `baseUrl`. */
  static async start(baseUrl: string, processes: number): Promise<RemoteFleet> {
    const procs = await Promise.all(
      Array.from({ length: processes }, async (_, index) => new FleetProcess(await spawnBenchChild<{ pid: number }>(benchScript("fleet-child.ts"), { baseUrl, index }, { ipc: true }))),
    );
    return new RemoteFleet(procs);
  }

  /** Process ids, for CPU accounting. */
  pids(): number[] {
    return this.procs.map((p) => p.child.pid);
  }

  private all<T>(op: FleetCommand["op"], args: unknown = null): Promise<T[]> {
    return Promise.all(this.procs.map((p) => p.call<T>(op, args)));
  }

  /** Enrolls `count` agents spread over the processes, named `<prefix><process>-<i>`; each heartbeats once. */
  async enroll(joinToken: string, count: number, prefix: string, opts: EnrollOptions = {}): Promise<void> {
    const n = this.procs.length;
    const concurrency = Math.max(1, Math.ceil((opts.concurrency ?? 16) / n));
    await Promise.all(
      this.procs.map((p, i) => {
        const share = Math.floor(count / n) + (i < count % n ? 1 : 0);
        return p.call("enroll", { joinToken, count: share, prefix: `${prefix}${i}`, opts: { ...opts, concurrency } });
      }),
    );
  }

  /** Heartbeats every agent about once per `periodMs` (set-up keeps nodes placeable); stop() ends it. */
  async keepAlive(periodMs: number, concurrency = 2): Promise<{ stop(): Promise<void> }> {
    await this.all("keepAliveStart", { periodMs, concurrency });
    return { stop: async () => void (await this.all("keepAliveStop")) };
  }

  /** Claims once for every agent; returns how many claimed before `deadline` (ms since the epoch). */
  async claimAll(concurrency = 16, deadline: number | null = null): Promise<number> {
    const per = Math.max(1, Math.ceil(concurrency / this.procs.length));
    return sum(await this.all<number>("claimAll", { concurrency: per, deadline }));
  }

  async heartbeatAll(concurrency = 16): Promise<void> {
    await this.all("heartbeatAll", { concurrency: Math.max(1, Math.ceil(concurrency / this.procs.length)) });
  }

  /** Starts every agent's loops: heartbeats, and long-poll claims unless `claimLoop` is false. */
  async start(opts: { claimLoop: boolean; claimWaitMs?: number }): Promise<void> {
    await this.all("start", { claimLoop: opts.claimLoop, claimWaitMs: opts.claimWaitMs ?? 20_000 });
  }

  /** Node ids of the `count` agents holding the most leases. */
  async busiest(count: number): Promise<string[]> {
    const lists = await this.all<[string, number, string][]>("leaseCounts");
    return lists
      .flat()
      .sort((a, b) => b[1] - a[1])
      .slice(0, count)
      .map(([, , nodeId]) => nodeId);
  }

  /** Stops the agents of these nodes as if their hosts vanished: no more requests; they keep their leases. */
  async stopNodes(nodeIds: string[]): Promise<void> {
    await this.all("stopAgents", { nodeIds });
  }

  /** Every lease every agent holds. */
  async held(): Promise<HeldLeaseRecord[]> {
    const parts = await this.all<{ names: string[]; stopped: boolean[]; leases: HeldTuple[] }>("held");
    return parts.flatMap((p) =>
      p.leases.map(([i, taskId, epoch, expiresAt, taskStopped]) => ({ agent: p.names[i] ?? "?", agentStopped: p.stopped[i] ?? false, taskId, epoch, expiresAt, taskStopped: taskStopped === 1 })),
    );
  }

  async status(): Promise<FleetStatus & { failureSummary: string }> {
    const parts = await this.all<FleetStatus>("status");
    const failures = new Map<string, number>();
    for (const p of parts) for (const [reason, n] of p.failures) failures.set(reason, (failures.get(reason) ?? 0) + n);
    const counters: FleetCounters = { enroll: 0, claim: 0, heartbeat: 0, failed: 0 };
    for (const p of parts) for (const k of Object.keys(counters) as (keyof FleetCounters)[]) counters[k] += p.counters[k];
    return {
      counters,
      failures: [...failures.entries()],
      failureSummary: [...failures.entries()].sort((a, b) => b[1] - a[1]).slice(0, 4).map(([reason, n]) => `${reason} ×${n}`).join(", "),
      revocations: sum(parts.map((p) => p.revocations)),
      agents: sum(parts.map((p) => p.agents)),
      leases: sum(parts.map((p) => p.leases)),
      ttlMs: parts[0]?.ttlMs ?? 0,
      intervalMs: parts[0]?.intervalMs ?? 0,
    };
  }

  async record(on: boolean): Promise<void> {
    await this.all("record", { on });
  }

  /** Heartbeat latencies recorded since the last call (ms). */
  async takeLatencies(): Promise<number[]> {
    return (await this.all<number[]>("takeLatencies")).flat();
  }

  /** Ages of heartbeats sent but not yet answered (ms): lower bounds of their latencies. */
  async unansweredAges(): Promise<number[]> {
    return (await this.all<number[]>("unansweredAges")).flat();
  }

  /** From now on, counts leases whose agent goes longer than `ttlMs` without an answered heartbeat. */
  async watchLapses(ttlMs: number): Promise<void> {
    await this.all("watchLapses", { ttlMs });
  }

  async lapsed(): Promise<number> {
    return sum(await this.all<number>("lapsed"));
  }

  /** Each agent's own heartbeat (credential and body), for a load generator to replay. */
  async heartbeatRequests(): Promise<{ credential: string; body: string }[]> {
    return (await this.all<{ credential: string; body: string }[]>("heartbeatRequests")).flat();
  }

  /** Stops every loop, then the processes. */
  async stop(): Promise<void> {
    await Promise.allSettled(this.procs.map((p) => p.call("stop")));
    await Promise.all(this.procs.map((p) => p.child.stop()));
  }
}

function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}
