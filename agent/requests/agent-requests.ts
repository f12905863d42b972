// Operators' requests to this agent beyond log tails: log follows and execs, handed over in heartbeat
// replies and the request poll, answered by dialling out like everything else the agent does.
import type { HeartbeatResponse } from "../../api/agent-protocol";
import type { ControlPlaneClient } from "../client";
import type { Logger } from "../log";
import type { ContainerRuntime } from "../runtime";
import { runExec } from "./exec-order";
import { createFollows } from "./follows";
import { createRequestPoll } from "./request-poll";

export interface AgentRequests {
  /** A heartbeat reply's follows and execs. */
  accept(reply: Pick<HeartbeatResponse, "follows" | "execs">): void;
  /** Takes up the follows left open by an earlier run of this agent (one poll). */
  start(): void;
  /** Stops the follows (a restarted agent takes them up again) and the poll; execs under way finish on their own. */
  close(): Promise<void>;
}

export function createAgentRequests(deps: {
  runtime: ContainerRuntime;
  client: ControlPlaneClient;
  credential(): string;
  /** The container holding a task's log (see Supervisor.containerOf). */
  containerOf(taskId: string): Promise<string | null>;
  /** Where this agent runs the task now: its phase and container, if it holds it. */
  held(taskId: string): { phase: string; containerId: string | null } | undefined;
  log: Logger;
  pollIntervalMs?: number;
}): AgentRequests {
  const follows = createFollows({
    runtime: deps.runtime,
    client: deps.client,
    credential: deps.credential,
    containerOf: deps.containerOf,
    holds: (taskId) => deps.held(taskId) !== undefined,
    log: deps.log,
  });
  const execDeps = {
    runtime: deps.runtime,
    client: deps.client,
    credential: deps.credential,
    runningContainerOf: (taskId: string) => {
      const t = deps.held(taskId);
      return t?.phase === "running" ? t.containerId : null;
    },
    log: deps.log,
  };
  const runAll = (execs: HeartbeatResponse["execs"]) => {
    for (const order of execs ?? []) void runExec(execDeps, order);
  };
  const poll = createRequestPoll({
    client: deps.client,
    credential: deps.credential,
    onReply: (reply, askedAt) => {
      follows.reconcile(reply.follows, askedAt);
      runAll(reply.execs);
    },
    keepGoing: () => follows.active > 0,
    log: deps.log,
    ...(deps.pollIntervalMs !== undefined ? { intervalMs: deps.pollIntervalMs } : {}),
  });
  return {
    accept(reply) {
      runAll(reply.execs);
      if (reply.follows?.length) {
        follows.start(reply.follows);
        poll.kick();
      }
    },
    start: () => poll.kick(),
    async close() {
      poll.stop();
      await follows.close();
    },
  };
}
