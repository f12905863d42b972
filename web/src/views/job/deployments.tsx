// A job's rollouts: the current one slot by slot (which copy is new, healthy, canary, waiting on an offline
// host), and every deployment of the job, newest first.
import { seg } from "../../api/client";
import type { Deployment, DeploymentDetail, DeploymentSlot } from "../../api/types";
import { Ago } from "../../components/ago";
import { DataTable, type Column } from "../../components/data-table";
import { ProblemNote } from "../../components/problem";
import { StateBadge } from "../../components/state-badge";
import { shortId } from "../../format";
import { usePoll } from "../../hooks/use-poll";
import { useSession } from "../../session-context";

function slotColumns(nodeNames: Map<string, string> | undefined): Column<DeploymentSlot>[] {
  return [
    { id: "slot", label: "Slot", value: (s) => s.slot, numeric: true, render: (s) => (s.canary ? `canary ${-s.slot}` : String(s.slot)) },
    { id: "task", label: "New task", value: (s) => s.taskId, render: (s) => (s.taskId ? <code title={s.taskId}>{shortId(s.taskId)}</code> : <span class="muted">none yet</span>) },
    { id: "node", label: "Node", value: (s) => (s.nodeId ? (nodeNames?.get(s.nodeId) ?? shortId(s.nodeId)) : null) },
    { id: "state", label: "State", value: (s) => s.state, render: (s) => (s.state ? <StateBadge state={s.state} /> : <span class="muted">-</span>) },
    {
      id: "healthy",
      label: "Healthy",
      value: (s) => (s.healthy ? "healthy" : s.offline ? "waiting on an offline host" : "not yet"),
      render: (s) => (s.healthy ? <StateBadge state="healthy" /> : s.offline ? <StateBadge state="disconnected" label="host offline" tone="busy" /> : <StateBadge state="pending" label="not yet" />),
    },
    { id: "old", label: "Old copy", value: (s) => s.oldVersion, render: (s) => (s.oldVersion !== null ? `version ${s.oldVersion} still running` : <span class="muted">none</span>) },
  ];
}

const listColumns: Column<Deployment>[] = [
  { id: "id", label: "Deployment", value: (d) => d.id, render: (d) => <code title={d.id}>{shortId(d.id)}</code> },
  { id: "version", label: "Version", value: (d) => d.version, numeric: true, render: (d) => (d.fromVersion !== null ? `${d.fromVersion} → ${d.version}` : String(d.version)) },
  { id: "status", label: "Status", value: (d) => d.status, render: (d) => <StateBadge state={d.status} /> },
  { id: "description", label: "Description", value: (d) => d.description },
  { id: "created", label: "Started", value: (d) => d.createdAt, numeric: true, render: (d) => <Ago at={d.createdAt} /> },
  { id: "updated", label: "Updated", value: (d) => d.updatedAt, numeric: true, render: (d) => <Ago at={d.updatedAt} /> },
];

export function DeploymentsTab({ namespace, name, current, nodeNames }: { namespace: string; name: string; current: DeploymentDetail | null; nodeNames: Map<string, string> | undefined }) {
  const { client } = useSession();
  const list = usePoll((signal) => client.get<{ deployments: Deployment[] }>(`/v1/namespaces/${seg(namespace)}/deployments?job=${seg(name)}&limit=50`, signal).then((r) => r.deployments), [client, namespace, name]);
  return (
    <>
      {current ? (
        <section class="card" aria-labelledby="current-deployment">
          <h2 id="current-deployment">
            Latest deployment: version {current.version} <StateBadge state={current.status} />
          </h2>
          <p>{current.description}</p>
          <p class="muted">
            {current.counts.healthy} of {current.counts.desired} slots healthy at the new version
            {current.counts.canaries > 0 ? `, ${current.counts.canaries} canaries (${current.promoted ? "promoted" : "waiting for a promote"})` : ""}
            {current.counts.old > 0 ? `, ${current.counts.old} old copies still running` : ""}
            {current.counts.offline > 0 ? `, ${current.counts.offline} waiting on offline hosts` : ""}.
          </p>
          <DataTable label="Deployment slots" rows={current.slots} columns={slotColumns(nodeNames)} rowKey={(s) => String(s.slot)} initialSort={{ column: "slot" }} filterable={false} />
        </section>
      ) : (
        <p class="muted">This job has no deployment (a batch job, or one not rolled out yet).</p>
      )}
      <h2>All deployments</h2>
      <ProblemNote error={list.error} when="Could not load the deployments" />
      {list.data ? <DataTable label="Deployments" rows={list.data} columns={listColumns} rowKey={(d) => d.id} initialSort={{ column: "created", descending: true }} /> : null}
    </>
  );
}
