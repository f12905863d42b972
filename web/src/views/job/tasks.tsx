// A job's tasks: slot, node, state and health in words, the last resource sample when the agent sent
// one, restarts, and the last message (an error, or why a slot waits).
import type { JobDetail, Task } from "../../api/types";
import { Ago } from "../../components/ago";
import { DataTable, type Column } from "../../components/data-table";
import { StateBadge } from "../../components/state-badge";
import { formatBytes, shortId } from "../../format";
import { taskStateLabel } from "../../readiness";

function columns(nodeNames: Map<string, string> | undefined): Column<Task>[] {
  const nodeOf = (t: Task) => (t.nodeId ? (nodeNames?.get(t.nodeId) ?? shortId(t.nodeId)) : null);
  return [
    {
      id: "id",
      label: "Task",
      value: (t) => t.id,
      render: (t) => (
        <code title={t.id} class="id">
          {shortId(t.id)}
        </code>
      ),
    },
    { id: "slot", label: "Slot", value: (t) => t.slot, numeric: true },
    { id: "version", label: "Version", value: (t) => t.version, numeric: true },
    { id: "node", label: "Node", value: nodeOf, render: (t) => nodeOf(t) ?? <span class="muted">not placed</span> },
    { id: "state", label: "State", value: taskStateLabel, render: (t) => <StateBadge state={t.state} label={taskStateLabel(t)} /> },
    { id: "health", label: "Health", value: (t) => t.health, render: (t) => (t.health ? <StateBadge state={t.health} /> : <span class="muted">no check</span>) },
    {
      id: "cpu",
      label: "CPU",
      value: (t) => t.stats?.cpuPercent ?? null,
      numeric: true,
      render: (t) => (t.stats ? <span title={`sampled ${new Date(t.stats.at).toISOString()}`}>{t.stats.cpuPercent.toFixed(1)}%</span> : <span class="muted">-</span>),
    },
    {
      id: "memory",
      label: "Memory",
      value: (t) => t.stats?.memoryBytes ?? null,
      numeric: true,
      render: (t) =>
        t.stats ? (
          <span>
            {formatBytes(t.stats.memoryBytes)}
            {t.stats.memoryLimitBytes ? <span class="muted"> / {formatBytes(t.stats.memoryLimitBytes)}</span> : null}
          </span>
        ) : (
          <span class="muted">-</span>
        ),
    },
    { id: "restarts", label: "Restarts", value: (t) => t.restarts, numeric: true },
    {
      id: "ports",
      label: "Ports",
      value: (t) => t.boundPorts.map((p) => `${p.host}->${p.container}`).join(", "),
      render: (t) => (t.boundPorts.length ? t.boundPorts.map((p) => `${p.host}→${p.container}`).join(", ") : <span class="muted">-</span>),
    },
    { id: "message", label: "Last message", value: (t) => t.message ?? (t.exitCode !== null ? `exit ${t.exitCode}` : null), render: (t) => <span class="message">{t.message ?? (t.exitCode !== null ? `exit ${t.exitCode}` : "")}</span> },
  ];
}

export function TasksTab({ detail, nodeNames }: { detail: JobDetail | undefined; nodeNames: Map<string, string> | undefined }) {
  if (!detail) return null;
  const sampled = detail.tasks.map((t) => t.stats?.at).filter((at): at is number => typeof at === "number");
  return (
    <>
      <DataTable label="Tasks" rows={detail.tasks} columns={columns(nodeNames)} rowKey={(t) => t.id} initialSort={{ column: "slot" }} empty="No tasks: the job is stopped or has no replicas." />
      {sampled.length > 0 ? (
        <p class="muted">
          Resource samples from the agents (CPU in percent of one core), the newest <Ago at={Math.max(...sampled)} />.
        </p>
      ) : null}
    </>
  );
}
