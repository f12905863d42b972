// Nodes: state, region, labels, what is allocated against each one's capacity, and how long since its last
// heartbeat; drain (asked first) and eligibility, which take a fleet admin. Polled every 2 s.
import { useState } from "preact/hooks";
import { ApiError, seg } from "../api/client";
import type { Node } from "../api/types";
import { Ago } from "../components/ago";
import { CapacityBar } from "../components/capacity-bar";
import { useConfirm } from "../components/confirm";
import { DataTable, type Column } from "../components/data-table";
import { errorText, ProblemNote } from "../components/problem";
import { StateBadge } from "../components/state-badge";
import { formatCores } from "../format";
import { usePoll } from "../hooks/use-poll";
import { useSession } from "../session-context";

export function NodesView() {
  const { client } = useSession();
  const nodes = usePoll((signal) => client.get<{ nodes: Node[] }>("/v1/nodes", signal).then((r) => r.nodes), [client]);
  const [dialog, ask] = useConfirm();
  const [busy, setBusy] = useState<string | null>(null);
  const [outcome, setOutcome] = useState<{ ok: boolean; text: string } | null>(null);

  async function act(node: Node, what: string, path: string, body: unknown, done: string) {
    setBusy(node.id);
    setOutcome(null);
    try {
      await client.post(`/v1/nodes/${seg(node.id)}/${path}`, body);
      setOutcome({ ok: true, text: done });
      nodes.refresh();
    } catch (err) {
      const text = err instanceof ApiError && err.status === 403 ? `${what} needs a fleet admin token (admin on every namespace): ${err.message}` : `${what} failed: ${errorText(err)}`;
      setOutcome({ ok: false, text });
    } finally {
      setBusy(null);
    }
  }

  async function drain(node: Node) {
    if (!(await ask(`Drain ${node.name}?`, `Its ${node.allocated?.tasks ?? 0} tasks move to other nodes under each job's update parallelism; after an hour all that are left move at once. No new task is placed on it.`, `Drain ${node.name}`))) return;
    await act(node, "Drain", "drain", { enable: true, deadline: "1h" }, `${node.name} is draining.`);
  }

  const columns: Column<Node>[] = [
    { id: "name", label: "Name", value: (n) => n.name, render: (n) => <strong class="nowrap">{n.name}</strong> },
    { id: "state", label: "State", value: (n) => n.state, render: (n) => <StateBadge state={n.state} /> },
    { id: "eligible", label: "Placement", value: (n) => (n.eligible ? "eligible" : "ineligible"), render: (n) => <StateBadge state={n.eligible ? "eligible" : "ineligible"} /> },
    { id: "region", label: "Region", value: (n) => n.region },
    {
      id: "labels",
      label: "Labels",
      value: (n) => Object.entries(n.labels).map(([k, v]) => `${k}=${v}`).join(" "),
      render: (n) =>
        Object.keys(n.labels).length === 0 ? (
          <span class="muted">none</span>
        ) : (
          <ul class="labels">
            {Object.entries(n.labels).map(([k, v]) => (
              <li key={k}>
                <code>
                  {k}={v}
                </code>
              </li>
            ))}
          </ul>
        ),
    },
    {
      id: "cpu",
      label: "CPU allocated",
      value: (n) => (n.capacity.cpu > 0 ? (n.allocated?.cpu ?? 0) / n.capacity.cpu : null),
      numeric: true,
      render: (n) => <CapacityBar label={`CPU allocated on ${n.name}`} used={n.allocated?.cpu ?? 0} total={n.capacity.cpu} text={`${formatCores(n.allocated?.cpu ?? 0)} / ${formatCores(n.capacity.cpu)} cores`} />,
    },
    {
      id: "memory",
      label: "Memory allocated",
      value: (n) => (n.capacity.memory > 0 ? (n.allocated?.memory ?? 0) / n.capacity.memory : null),
      numeric: true,
      render: (n) => <CapacityBar label={`Memory allocated on ${n.name}`} used={n.allocated?.memory ?? 0} total={n.capacity.memory} text={`${n.allocated?.memory ?? 0} / ${n.capacity.memory} MiB`} />,
    },
    { id: "tasks", label: "Tasks", value: (n) => n.allocated?.tasks ?? 0, numeric: true },
    { id: "heartbeat", label: "Last heartbeat", value: (n) => n.lastHeartbeatAt, numeric: true, render: (n) => <Ago at={n.lastHeartbeatAt} /> },
    {
      id: "actions",
      label: "Actions",
      value: () => null,
      unsorted: true,
      render: (n) => (
        <span class="row-actions">
          {n.drainDeadline !== null ? (
            <button type="button" disabled={busy !== null} onClick={() => void act(n, "Cancelling the drain", "drain", { enable: false }, `The drain of ${n.name} is cancelled.`)} aria-label={`Cancel the drain of ${n.name}`}>
              Cancel drain
            </button>
          ) : (
            <button type="button" class="danger" disabled={busy !== null} onClick={() => void drain(n)} aria-label={`Drain ${n.name}`}>
              Drain
            </button>
          )}
          <button
            type="button"
            disabled={busy !== null}
            onClick={() => void act(n, "Changing eligibility", "eligibility", { eligible: !n.eligible }, `${n.name} is ${n.eligible ? "ineligible for" : "eligible for"} new placements.`)}
            aria-label={n.eligible ? `Mark ${n.name} ineligible` : `Mark ${n.name} eligible`}
          >
            {n.eligible ? "Mark ineligible" : "Mark eligible"}
          </button>
        </span>
      ),
    },
  ];

  return (
    <>
      <h1 tabIndex={-1}>Nodes</h1>
      {dialog}
      <ProblemNote error={nodes.error} when="Could not load the nodes" />
      <p class="outcome" role="status">
        {outcome?.ok ? outcome.text : ""}
      </p>
      {outcome && !outcome.ok ? (
        <p class="problem" role="alert">
          {outcome.text}
        </p>
      ) : null}
      {nodes.data === undefined && !nodes.error ? <p class="loading">Loading nodes…</p> : null}
      {nodes.data ? (
        <DataTable
          label="Nodes"
          rows={nodes.data}
          columns={columns}
          rowKey={(n) => n.id}
          empty={
            <>
              No node has enrolled. Start one with <code>leasehold agent --server … --join-token-file …</code>.
            </>
          }
        />
      ) : null}
      {nodes.data?.some((n) => n.drainDeadline !== null) ? (
        <p class="muted">
          Drain deadlines:{" "}
          {nodes.data
            .filter((n) => n.drainDeadline !== null)
            .map((n) => (
              <span key={n.id}>
                {n.name} <Ago at={n.drainDeadline} />{" "}
              </span>
            ))}
        </p>
      ) : null}
    </>
  );
}
