// leasehold status [JOB]: the namespace's jobs, or one job's summary, tasks and recent events.
import type { Command } from "commander";
import type { ControlPlaneClient } from "../client";
import type { Job, JobDetail, JobEvent, Task } from "../api-types";
import { commandContext } from "../context";
import { dash, formatCpu, formatFields, formatMemory, formatTable, formatUtc, oneLine, shortId } from "../format";
import type { CliIo } from "../io";
import { readiness } from "../readiness";

const EVENTS_SHOWN = 5;

export function registerStatus(program: Command, io: CliIo): void {
  program
    .command("status")
    .description("list the namespace's jobs, or show one job's tasks and recent events")
    .argument("[job]", "job name")
    .action(async (name: string | undefined, _opts: unknown, cmd: Command) => {
      const ctx = commandContext(cmd, io);
      const client = ctx.client();
      if (name === undefined) {
        const list = await client.listJobs(ctx.namespace);
        if (ctx.output === "json") return ctx.json(list);
        if (list.jobs.length === 0) return ctx.out(`no jobs in namespace ${ctx.namespace}`);
        // Running/desired needs each job's tasks; the list endpoint carries only the jobs.
        const details = await Promise.all(list.jobs.map((j) => client.getJob(j.namespace, j.name)));
        ctx.out(formatTable(["NAME", "TYPE", "STATUS", "VERSION", "RUNNING"], list.jobs.map((j, i) => jobRow(j, details[i]))));
        return;
      }
      const [detail, events, nodeNames] = await Promise.all([
        client.getJob(ctx.namespace, name),
        client.jobEvents(ctx.namespace, name, EVENTS_SHOWN),
        nodeNamesById(client),
      ]);
      if (ctx.output === "json") return ctx.json({ ...detail, events: events.events });
      ctx.out(describeJob(detail, events.events, nodeNames));
    });
}

function jobRow(job: Job, detail: JobDetail | undefined): string[] {
  if (!detail) return [job.name, job.type, job.status, String(job.version), "-"];
  const r = readiness(detail);
  const running = job.type === "batch" ? `${r.running}/${r.desired} (${r.complete} complete)` : `${r.running}/${r.desired}`;
  return [job.name, job.type, job.status, String(job.version), running];
}

/** Node names for the task table; the ids alone if nodes cannot be listed. */
export async function nodeNamesById(client: ControlPlaneClient): Promise<Map<string, string>> {
  try {
    const { nodes } = await client.listNodes();
    return new Map(nodes.map((n) => [n.id, n.name]));
  } catch {
    return new Map();
  }
}

/** The state as the task table shows it: a task on its way out, or one the control plane has given up on, says so. */
function taskState(t: Task): string {
  if (t.desired === "stop" && t.state !== "stopped") return `${t.state} (stopping)`;
  if (t.final === true && t.desired === "run" && (t.state === "failed" || t.state === "lost")) return `${t.state} (final)`;
  return t.state;
}

/** One job: its fields, the task table (with each task's last error as MESSAGE), recent events. */
export function describeJob(detail: JobDetail, events: JobEvent[], nodeNames: Map<string, string>): string {
  const { job, spec, tasks, summary } = detail;
  const r = readiness(detail);
  const counts = Object.entries(summary).map(([state, n]) => `${n} ${state}`).join(", ");
  const fields: [string, string][] = [
    ["job", job.id],
    ["type", job.type],
    ["status", job.status],
    ["version", String(job.version)],
    ["image", dash(spec?.image)],
    ["replicas", `${r.progress}${r.ready ? "" : " (not ready)"}`],
    ["tasks", counts || "none"],
  ];
  let out = formatFields(fields);
  if (tasks.length > 0) {
    const rows = tasks.map((t) => [
      shortId(t.id),
      String(t.slot),
      String(t.version),
      t.nodeId ? (nodeNames.get(t.nodeId) ?? shortId(t.nodeId)) : "-",
      taskState(t),
      dash(t.health),
      t.stats ? formatCpu(t.stats.cpuPercent) : "-",
      t.stats ? formatMemory(t.stats.memoryBytes, t.stats.memoryLimitBytes) : "-",
      String(t.restarts),
      dash(t.exitCode),
      t.boundPorts.length > 0 ? t.boundPorts.map((p) => `${p.host}->${p.container}`).join(",") : "-",
      t.message ? oneLine(t.message) : "-",
    ]);
    out += "\n" + formatTable(["TASK", "SLOT", "VER", "NODE", "STATE", "HEALTH", "CPU", "MEMORY", "RESTARTS", "EXIT", "PORTS", "MESSAGE"], rows);
  }
  if (events.length > 0) {
    out += "\nRecent events:\n";
    const rows = [...events].reverse().map((e) => [formatUtc(e.at), e.type, oneLine(e.message)]);
    out += formatTable(["TIME (UTC)", "TYPE", "MESSAGE"], rows).split("\n").map((l) => (l ? "  " + l : l)).join("\n");
  }
  return out;
}
