// Events: the fleet's events as they happen (the event stream), newest first; narrowed on the server by
// namespace and type (prefixes such as task., deployment.), and on the page by any column's text.
import { useId, useMemo, useState } from "preact/hooks";
import type { FleetEvent } from "../api/types";
import { Ago } from "../components/ago";
import { DataTable, type Column } from "../components/data-table";
import { LiveStatus } from "../components/live-status";
import { ProblemNote } from "../components/problem";
import { StateBadge, type Tone } from "../components/state-badge";
import { shortId } from "../format";
import { useEvents, type EventQuery } from "../hooks/use-events";
import { href } from "../router";
import { claimsAllow } from "../session";
import { useSession } from "../session-context";

/** The tone of an event type: failures and losses stand out, successes read as good. */
function eventTone(type: string): Tone {
  if (/(fail|lost|given-up|down|revert|unhealthy)/.test(type)) return "bad";
  if (/(stop|delete|drain|cancel|ineligible)/.test(type)) return "idle";
  if (/(successful|healthy|promoted|ready|eligible|running|complete)$/.test(type)) return "good";
  return "busy";
}

export function EventTable({ events, showJob }: { events: FleetEvent[]; showJob: boolean }) {
  const columns = useMemo<Column<FleetEvent>[]>(() => {
    const all: (Column<FleetEvent> | null)[] = [
      { id: "at", label: "When", value: (e) => e.at, numeric: true, render: (e) => <Ago at={e.at} /> },
      { id: "type", label: "Type", value: (e) => e.type, render: (e) => <StateBadge state={e.type} tone={eventTone(e.type)} /> },
      showJob ? { id: "namespace", label: "Namespace", value: (e) => e.namespace ?? null } : null,
      showJob
        ? { id: "job", label: "Job", value: (e) => e.job ?? null, render: (e) => (e.job && e.namespace ? <a href={href.job(e.namespace, e.job, "events")}>{e.job}</a> : <span class="muted">-</span>) }
        : null,
      { id: "task", label: "Task", value: (e) => e.taskId, render: (e) => (e.taskId ? <code title={e.taskId}>{shortId(e.taskId)}</code> : <span class="muted">-</span>) },
      { id: "node", label: "Node", value: (e) => e.nodeId, render: (e) => (e.nodeId ? <code title={e.nodeId}>{shortId(e.nodeId)}</code> : <span class="muted">-</span>) },
      { id: "message", label: "Message", value: (e) => e.message, render: (e) => <span class="message">{e.message}</span> },
    ];
    return all.filter((c): c is Column<FleetEvent> => c !== null);
  }, [showJob]);
  return <DataTable label="Events" rows={events} columns={columns} rowKey={(e) => String(e.id)} initialSort={{ column: "at", descending: true }} empty="No events yet." />;
}

export function EventsView() {
  const { claims, namespaces } = useSession();
  // The whole fleet's events (node events among them) are for tokens with a role on every namespace.
  const fleetWide = claimsAllow(claims, "*", "viewer");
  const [namespace, setNamespace] = useState(fleetWide ? "" : (namespaces[0] ?? ""));
  const [types, setTypes] = useState("");
  const [typesDraft, setTypesDraft] = useState("");
  const ids = { ns: useId(), types: useId() };
  const query = useMemo<EventQuery>(() => ({ namespace: namespace || undefined, ...(types ? { type: types } : {}) }), [namespace, types]);
  const feed = useEvents(query, 500);

  return (
    <>
      <div class="title-row">
        <h1 tabIndex={-1}>Events</h1>
        <LiveStatus mode={feed.mode} what="Stream" />
      </div>
      <form
        class="toolbar"
        onSubmit={(e) => {
          e.preventDefault();
          setTypes(typesDraft.replace(/\s+/g, ""));
        }}
      >
        <span class="field">
          <label for={ids.ns}>Namespace</label>
          <select id={ids.ns} value={namespace} onChange={(e) => setNamespace(e.currentTarget.value)}>
            {fleetWide ? <option value="">All namespaces</option> : null}
            {namespaces.map((n) => (
              <option key={n} value={n}>
                {n}
              </option>
            ))}
          </select>
        </span>
        <span class="field">
          <label for={ids.types}>Types</label>
          <input id={ids.types} value={typesDraft} onInput={(e) => setTypesDraft(e.currentTarget.value)} placeholder="task., deployment." />
        </span>
        <button type="submit">Apply</button>
      </form>
      <ProblemNote error={feed.error} when="Events" />
      {feed.mode === "unsupported" ? (
        <p class="notice" role="status">
          This control plane has no fleet event stream (<code>GET /v1/events</code>). Each job's page shows its own events.
        </p>
      ) : (
        <EventTable events={feed.events} showJob={true} />
      )}
    </>
  );
}
