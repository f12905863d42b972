// The agent's Prometheus metrics: one registry per agent, so two agents in one process never mix, fed by
// hooks the rest of the agent calls (supervisor, contact log, heartbeat loop, image pulls, stats sampler).
//
// Invariant: series labelled by task exist only for tasks the supervisor holds (memory only while the task
// runs); each scrape drops the rest first, so label cardinality is bounded by the tasks on the node.
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { collectProcessMetrics } from "../../lib/process-metrics";
import type { ContactLog } from "../contact-log";
import type { ImagePull } from "../runtime";
import type { HeldTaskView, TaskPhase } from "../supervisor";

/** Every phase, so each has a series (0 included) and a dashboard sees a phase empty out rather than vanish. */
const PHASES = Object.keys({ starting: 0, running: 0, backoff: 0, complete: 0, failed: 0, stopping: 0, stopped: 0 } satisfies Record<TaskPhase, 0>) as TaskPhase[];

/** What a task's series are labelled with. */
export type TaskSeries = { namespace: string; job: string; slot: string; task_id: string };

const TASK_LABELS = ["namespace", "job", "slot", "task_id"] as const;

export type TaskHolder = () => readonly HeldTaskView[];

export interface AgentMetrics {
  readonly registry: Registry;
  /** Where the containers gauge reads tasks from at each scrape; none before this is called (the supervisor is made after the metrics). */
  watchTasks(held: TaskHolder): void;
  /** The contact log, passed through: reachability and the last contact follow what it is told. */
  watchContact(contact: ContactLog): ContactLog;
  /** Times one heartbeat from now until `request` settles; only answered ones are observed (a timeout is no round trip). */
  heartbeat<T>(request: Promise<T>): Promise<T>;
  taskRestarted(): void;
  healthCheckFailed(): void;
  imagePulled(pull: ImagePull): void;
  /** A sample of a running task: the CPU seconds it used since the last one (see cpuAdded), and its memory now. */
  taskUsage(task: HeldTaskView, usage: { cpuSecondsAdded: number; memoryBytes: number }): void;
}

export interface AgentMetricsOptions {
  /** Also Node's own process metrics (collectDefaultMetrics) on this registry. */
  processMetrics?: boolean;
  /** Wall clock for the last-contact timestamp (ms). */
  now?: () => number;
}

export function createAgentMetrics(opts: AgentMetricsOptions = {}): AgentMetrics {
  const now = opts.now ?? Date.now;
  const registry = new Registry();
  const registers = [registry];
  if (opts.processMetrics) collectProcessMetrics(registry);
  let held: TaskHolder = () => [];

  // First of the task series in the registry: its collect drops the series of tasks gone before a scrape
  // reads any of them.
  const cpu = new Counter({
    name: "leasehold_agent_task_cpu_seconds_total",
    help: "CPU time used by the task's containers on this node.",
    labelNames: TASK_LABELS,
    registers,
    collect: () => pruneTasks(held()),
  });
  const memory = new Gauge({ name: "leasehold_agent_task_memory_bytes", help: "Memory the task's running container uses, page cache that can be dropped excluded (as docker stats counts it).", labelNames: TASK_LABELS, registers });
  // Label values of the task series present, by task id: what a scrape may have to drop.
  const series = new Map<string, { labels: TaskSeries; memory: boolean }>();

  function pruneTasks(tasks: readonly HeldTaskView[]): void {
    const byId = new Map(tasks.map((t) => [t.taskId, t]));
    for (const [taskId, s] of series) {
      const t = byId.get(taskId);
      if (!t) {
        cpu.remove(s.labels);
        if (s.memory) memory.remove(s.labels);
        series.delete(taskId);
      } else if (s.memory && t.phase !== "running") {
        memory.remove(s.labels);
        s.memory = false;
      }
    }
  }

  new Gauge({
    name: "leasehold_agent_containers",
    help: "Tasks held by this node, by supervisor phase.",
    labelNames: ["state"],
    registers,
    collect() {
      const tasks = held();
      const counts = new Map<TaskPhase, number>(PHASES.map((p) => [p, 0]));
      for (const t of tasks) counts.set(t.phase, (counts.get(t.phase) ?? 0) + 1);
      for (const [state, n] of counts) this.set({ state }, n);
    },
  });
  const restarts = new Counter({ name: "leasehold_agent_task_restarts_total", help: "Tasks started again under their restart policy (after an exit, a failed start or a failed health check).", registers });
  const healthFailures = new Counter({ name: "leasehold_agent_health_check_failures_total", help: "Health checks that turned unhealthy (their failures in a row reached).", registers });
  const pullSeconds = new Histogram({
    name: "leasehold_agent_image_pull_seconds",
    help: "Duration of image pulls that left the image present.",
    buckets: [0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
    registers,
  });
  const pullFailures = new Counter({ name: "leasehold_agent_image_pull_failures_total", help: "Image pulls that failed or timed out.", registers });
  const reachable = new Gauge({ name: "leasehold_agent_control_plane_reachable", help: "1 while the control plane answers this node's requests, 0 once one could not reach it.", registers });
  const lastContact = new Gauge({ name: "leasehold_agent_control_plane_last_contact_timestamp_seconds", help: "When the control plane last answered this node (Unix time); 0 before the first answer, so an alert on its age fires for a node never heard back from too.", registers });
  const heartbeatSeconds = new Histogram({
    name: "leasehold_agent_heartbeat_seconds",
    help: "Round trip of answered heartbeats to the control plane.",
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  });
  reachable.set(0);

  return {
    registry,
    watchTasks(source) {
      held = source;
    },
    watchContact(contact) {
      return {
        unreachable(err, fields) {
          reachable.set(0);
          contact.unreachable(err, fields);
        },
        reached() {
          reachable.set(1);
          lastContact.set(now() / 1000);
          contact.reached();
        },
      };
    },
    async heartbeat(request) {
      const end = heartbeatSeconds.startTimer();
      const reply = await request;
      end();
      return reply;
    },
    taskRestarted: () => restarts.inc(),
    healthCheckFailed: () => healthFailures.inc(),
    imagePulled(pull) {
      if (pull.ok) pullSeconds.observe(pull.seconds);
      else pullFailures.inc();
    },
    taskUsage(task, usage) {
      const labels: TaskSeries = { namespace: task.namespace, job: task.job, slot: String(task.slot), task_id: task.taskId };
      const s = series.get(task.taskId) ?? { labels, memory: false };
      series.set(task.taskId, s);
      cpu.inc(labels, Math.max(0, usage.cpuSecondsAdded));
      memory.set(labels, usage.memoryBytes);
      s.memory = true;
    },
  };
}
