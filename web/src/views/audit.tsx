// The audit trail (GET /v1/audit): every operator write, newest first, filtered on the server by actor,
// action (or a prefix such as secret.) and namespace. Fleet admins read it all; a namespace's admins read
// that namespace's rows; anyone else is told what it takes.
import { useId, useState } from "preact/hooks";
import { ApiError } from "../api/client";
import type { AuditEntry, AuditPage } from "../api/types";
import { Ago } from "../components/ago";
import { DataTable, type Column } from "../components/data-table";
import { NeedsRole, ProblemNote } from "../components/problem";
import { usePoll } from "../hooks/use-poll";
import { useSession } from "../session-context";

const PAGE = 100;

const columns: Column<AuditEntry>[] = [
  { id: "at", label: "When", value: (e) => e.at, numeric: true, render: (e) => <Ago at={e.at} /> },
  { id: "actor", label: "Actor", value: (e) => e.actor },
  { id: "action", label: "Action", value: (e) => e.action, render: (e) => <code>{e.action}</code> },
  { id: "namespace", label: "Namespace", value: (e) => e.namespace, render: (e) => e.namespace ?? <span class="muted">fleet</span> },
  { id: "target", label: "Target", value: (e) => e.target, render: (e) => (e.target ? <code class="id">{e.target}</code> : <span class="muted">-</span>) },
  {
    id: "detail",
    label: "Detail",
    value: (e) => (e.detail === null || e.detail === undefined ? null : JSON.stringify(e.detail)),
    render: (e) => (e.detail === null || e.detail === undefined ? <span class="muted">-</span> : <code class="detail">{JSON.stringify(e.detail)}</code>),
  },
];

export function AuditView() {
  const { client, namespaces } = useSession();
  const [filters, setFilters] = useState({ actor: "", action: "", namespace: "" });
  const [draft, setDraft] = useState(filters);
  const [limit, setLimit] = useState(PAGE);
  const ids = { actor: useId(), action: useId(), ns: useId() };

  const audit = usePoll(
    (signal) => {
      const q = new URLSearchParams({ limit: String(limit) });
      for (const [k, v] of Object.entries(filters)) if (v) q.set(k, v);
      return client.get<AuditPage>(`/v1/audit?${q}`, signal);
    },
    [client, filters, limit],
  );

  const refused = audit.error instanceof ApiError && audit.error.status === 403 ? audit.error : null;
  return (
    <>
      <h1 tabIndex={-1}>Audit</h1>
      <form
        class="toolbar"
        onSubmit={(e) => {
          e.preventDefault();
          setLimit(PAGE);
          setFilters({ actor: draft.actor.trim(), action: draft.action.trim(), namespace: draft.namespace });
        }}
      >
        <span class="field">
          <label for={ids.actor}>Actor</label>
          <input id={ids.actor} value={draft.actor} onInput={(e) => setDraft({ ...draft, actor: e.currentTarget.value })} placeholder="admin, node:host-1" />
        </span>
        <span class="field">
          <label for={ids.action}>Action</label>
          <input id={ids.action} value={draft.action} onInput={(e) => setDraft({ ...draft, action: e.currentTarget.value })} placeholder="job.scale, secret." />
        </span>
        <span class="field">
          <label for={ids.ns}>Namespace</label>
          <select id={ids.ns} value={draft.namespace} onChange={(e) => setDraft({ ...draft, namespace: e.currentTarget.value })}>
            <option value="">Every namespace and the fleet</option>
            {namespaces.map((n) => (
              <option key={n} value={n}>
                {n}
              </option>
            ))}
          </select>
        </span>
        <button type="submit">Apply filters</button>
      </form>
      {refused ? (
        <NeedsRole what="The audit trail needs an admin token: a fleet admin for all of it, or an admin of the namespace chosen above." error={refused} />
      ) : (
        <ProblemNote error={audit.error} when="Could not load the audit trail" />
      )}
      {audit.data ? (
        <>
          <DataTable label="Audit entries" rows={audit.data.entries} columns={columns} rowKey={(e) => String(e.id)} initialSort={{ column: "at", descending: true }} empty="No entries match." />
          {audit.data.next !== null && limit < 1000 ? (
            <button type="button" onClick={() => setLimit(Math.min(1000, limit + PAGE))}>
              Show {PAGE} more
            </button>
          ) : null}
        </>
      ) : null}
    </>
  );
}
