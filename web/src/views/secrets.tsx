// Secrets of a namespace: names, versions, sizes, times and the jobs using each, never a value (the page
// has no way to ask for one). A secret's versions open beside it.
import { useId, useState } from "preact/hooks";
import { ApiError, seg } from "../api/client";
import type { SecretInfo, SecretVersion } from "../api/types";
import { Ago } from "../components/ago";
import { DataTable, type Column } from "../components/data-table";
import { NeedsRole, ProblemNote } from "../components/problem";
import { formatBytes } from "../format";
import { usePoll } from "../hooks/use-poll";
import { href } from "../router";
import { useSession } from "../session-context";

const versionColumns: Column<SecretVersion>[] = [
  { id: "version", label: "Version", value: (v) => v.version, numeric: true },
  { id: "bytes", label: "Size", value: (v) => v.bytes, numeric: true, render: (v) => formatBytes(v.bytes) },
  { id: "key", label: "Key", value: (v) => v.keyId, render: (v) => <code>{v.keyId}</code> },
  { id: "rollout", label: "Rolled out", value: (v) => (v.rollout ? "yes" : "no") },
  { id: "by", label: "By", value: (v) => v.createdBy },
  { id: "created", label: "Created", value: (v) => v.createdAt, numeric: true, render: (v) => <Ago at={v.createdAt} /> },
];

function Versions({ namespace, name }: { namespace: string; name: string }) {
  const { client } = useSession();
  const versions = usePoll((signal) => client.get<{ versions: SecretVersion[] }>(`/v1/namespaces/${seg(namespace)}/secrets/${seg(name)}/versions`, signal).then((r) => r.versions), [client, namespace, name]);
  return (
    <section class="card" aria-labelledby="secret-versions">
      <h2 id="secret-versions">Versions of {name}</h2>
      <ProblemNote error={versions.error} when="Could not load the versions" />
      {versions.data ? <DataTable label={`Versions of ${name}`} rows={versions.data} columns={versionColumns} rowKey={(v) => String(v.version)} initialSort={{ column: "version", descending: true }} filterable={false} /> : null}
    </section>
  );
}

export function SecretsView({ namespace: chosen }: { namespace: string | null }) {
  const { client, namespaces } = useSession();
  const namespace = chosen ?? namespaces[0] ?? "default";
  const secrets = usePoll((signal) => client.get<{ secrets: SecretInfo[] }>(`/v1/namespaces/${seg(namespace)}/secrets`, signal).then((r) => r.secrets), [client, namespace]);
  const [open, setOpen] = useState<string | null>(null);
  const nsId = useId();

  const columns: Column<SecretInfo>[] = [
    { id: "name", label: "Name", value: (s) => s.name, render: (s) => <code>{s.name}</code> },
    { id: "latest", label: "Latest version", value: (s) => s.latest, numeric: true },
    { id: "versions", label: "Versions", value: (s) => s.versions, numeric: true },
    { id: "bytes", label: "Size", value: (s) => s.bytes, numeric: true, render: (s) => formatBytes(s.bytes) },
    { id: "updated", label: "Updated", value: (s) => s.updatedAt, numeric: true, render: (s) => <Ago at={s.updatedAt} /> },
    {
      id: "usedBy",
      label: "Used by",
      value: (s) => s.usedBy.join(" "),
      render: (s) =>
        s.usedBy.length === 0 ? (
          <span class="muted">no running job</span>
        ) : (
          <ul class="labels">
            {s.usedBy.map((job) => {
              const [ns, name] = job.includes("/") ? job.split("/", 2) : [namespace, job];
              return (
                <li key={job}>
                  <a href={href.job(ns!, name!)}>{name}</a>
                </li>
              );
            })}
          </ul>
        ),
    },
    {
      id: "actions",
      label: "Versions",
      value: () => null,
      unsorted: true,
      render: (s) => (
        <button type="button" aria-expanded={open === s.name} onClick={() => setOpen(open === s.name ? null : s.name)} aria-label={`${open === s.name ? "Hide" : "Show"} the versions of ${s.name}`}>
          {open === s.name ? "Hide versions" : "Show versions"}
        </button>
      ),
    },
  ];

  return (
    <>
      <h1 tabIndex={-1}>Secrets</h1>
      <p class="muted">Names, versions and users only: values are never fetched by this page.</p>
      <div class="toolbar">
        <span class="field">
          <label for={nsId}>Namespace</label>
          <select
            id={nsId}
            value={namespace}
            onChange={(e) => {
              setOpen(null);
              location.hash = href.secrets(e.currentTarget.value);
            }}
          >
            {(namespaces.includes(namespace) ? namespaces : [namespace, ...namespaces]).map((n) => (
              <option key={n} value={n}>
                {n}
              </option>
            ))}
          </select>
        </span>
      </div>
      {secrets.error instanceof ApiError && secrets.error.status === 403 ? (
        <NeedsRole what={`Listing the secrets of ${namespace} needs the viewer role on it.`} error={secrets.error} />
      ) : (
        <ProblemNote error={secrets.error} when="Could not load the secrets" />
      )}
      {secrets.data ? (
        <DataTable
          label="Secrets"
          rows={secrets.data}
          columns={columns}
          rowKey={(s) => s.name}
          empty={
            <>
              No secrets in {namespace}. Store one with <code>leasehold secret put NAME --from-file FILE</code>.
            </>
          }
        />
      ) : null}
      {open ? <Versions namespace={namespace} name={open} /> : null}
    </>
  );
}
