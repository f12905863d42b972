// Jobs: every job in the namespaces the token sees, with its copies running and healthy against the count
// it asks for, and its current deployment's progress. Polled every 2 s while the tab is visible.
import { jobPath, seg, type ApiClient } from "../api/client";
import type { Deployment, DeploymentDetail, Job, JobDetail, Namespace } from "../api/types";
import { Ago } from "../components/ago";
import { DataTable, type Column } from "../components/data-table";
import { ProblemNote } from "../components/problem";
import { StateBadge } from "../components/state-badge";
import { usePoll } from "../hooks/use-poll";
import { jobCounts, type JobCounts } from "../readiness";
import { href } from "../router";
import { useSession } from "../session-context";

interface JobRow {
  job: Job;
  counts: JobCounts | null;
  deployment: Deployment | null;
  progress: DeploymentDetail["counts"] | null;
}

const isActive = (d: Deployment | null) => d !== null && (d.status === "running" || d.status === "paused");

async function loadJobs(client: ApiClient, signal: AbortSignal): Promise<JobRow[]> {
  const { namespaces } = await client.get<{ namespaces: Namespace[] }>("/v1/namespaces", signal);
  const perNamespace = await Promise.all(
    namespaces.map(async ({ name: ns }) => {
      const [{ jobs }, { deployments }] = await Promise.all([
        client.get<{ jobs: Job[] }>(`/v1/namespaces/${seg(ns)}/jobs`, signal),
        client.get<{ deployments: Deployment[] }>(`/v1/namespaces/${seg(ns)}/deployments?limit=500`, signal),
      ]);
      // Newest first: the first one seen for a job is its current deployment.
      const latest = new Map<string, Deployment>();
      for (const d of deployments) if (!latest.has(d.jobId)) latest.set(d.jobId, d);
      return Promise.all(
        jobs.map(async (job): Promise<JobRow> => {
          const deployment = latest.get(job.id) ?? null;
          const [detail, progress] = await Promise.all([
            client.get<JobDetail>(jobPath(job.namespace, job.name), signal).catch(() => null),
            // Per-slot progress is computed on request: asked for only while a rollout is under way.
            isActive(deployment) ? client.get<DeploymentDetail>(`/v1/namespaces/${seg(ns)}/deployments/${seg(deployment!.id)}`, signal).catch(() => null) : null,
          ]);
          return { job: detail?.job ?? job, counts: detail ? jobCounts(detail) : null, deployment: progress ?? deployment, progress: progress?.counts ?? null };
        }),
      );
    }),
  );
  return perNamespace.flat();
}

const ratio = (n: number | undefined, of: number | undefined) => (n === undefined || of === undefined ? "-" : `${n} / ${of}`);

export function DeploymentCell({ deployment, progress }: { deployment: Deployment | null; progress: DeploymentDetail["counts"] | null }) {
  if (!deployment) return <span class="muted">none</span>;
  return (
    <span class="deployment-cell">
      <StateBadge state={deployment.status} />{" "}
      <span>
        v{deployment.version}
        {progress && isActive(deployment) ? ` · ${progress.healthy} / ${progress.desired} healthy${progress.canaries > 0 ? `, ${progress.canaries} canar${progress.canaries === 1 ? "y" : "ies"}` : ""}` : ""}
      </span>
      {isActive(deployment) ? <span class="muted deployment-desc">{deployment.description}</span> : null}
    </span>
  );
}

const columns: Column<JobRow>[] = [
  { id: "name", label: "Name", value: (r) => r.job.name, render: (r) => <a href={href.job(r.job.namespace, r.job.name)}>{r.job.name}</a> },
  { id: "namespace", label: "Namespace", value: (r) => r.job.namespace },
  { id: "type", label: "Type", value: (r) => r.job.type },
  { id: "status", label: "Status", value: (r) => r.job.status, render: (r) => <StateBadge state={r.job.status} /> },
  { id: "version", label: "Version", value: (r) => r.job.version, numeric: true },
  { id: "running", label: "Running", value: (r) => r.counts?.running ?? null, numeric: true, render: (r) => ratio(r.counts?.running, r.counts?.desired) },
  {
    id: "healthy",
    label: "Healthy",
    value: (r) => r.counts?.healthy ?? null,
    numeric: true,
    render: (r) => (r.job.type === "batch" ? `${ratio(r.counts?.complete, r.counts?.desired)} complete` : ratio(r.counts?.healthy, r.counts?.desired)),
  },
  { id: "deployment", label: "Deployment", value: (r) => r.deployment?.status ?? null, render: (r) => <DeploymentCell deployment={r.deployment} progress={r.progress} /> },
  { id: "updated", label: "Updated", value: (r) => r.job.updatedAt, numeric: true, render: (r) => <Ago at={r.job.updatedAt} /> },
];

export function JobsView() {
  const { client } = useSession();
  const jobs = usePoll((signal) => loadJobs(client, signal), [client]);
  return (
    <>
      <h1 tabIndex={-1}>Jobs</h1>
      <ProblemNote error={jobs.error} when="Could not load the jobs" />
      {jobs.data === undefined && !jobs.error ? <p class="loading">Loading jobs…</p> : null}
      {jobs.data ? (
        <DataTable
          label="Jobs"
          rows={jobs.data}
          columns={columns}
          rowKey={(r) => r.job.id}
          empty={
            <>
              No jobs yet. Apply one with <code>leasehold apply examples/web.yaml</code>.
            </>
          }
        />
      ) : null}
    </>
  );
}
