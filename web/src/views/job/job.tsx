// A job: its state and counts, the actions an operator takes on it, and tabs for its tasks, versions,
// deployments, live events and logs. The job and its deployment are fetched again as soon as one of the
// job's events arrives on the stream (health turning is one), and polled every 2 s while the stream is
// not live (every 10 s while it is, for the resource samples, which send no events).
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { ApiError, jobPath } from "../../api/client";
import type { DeploymentDetail, JobDetail, Node } from "../../api/types";
import { LiveStatus } from "../../components/live-status";
import { ProblemNote } from "../../components/problem";
import { StateBadge } from "../../components/state-badge";
import { useEvents } from "../../hooks/use-events";
import { POLL_MS, usePoll } from "../../hooks/use-poll";
import { jobCounts } from "../../readiness";
import { href, JOB_TABS, type JobTab } from "../../router";
import { useSession } from "../../session-context";
import { DeploymentCell } from "../jobs";
import { JobActions } from "./actions";
import { DeploymentsTab } from "./deployments";
import { JobEventsTab } from "./events";
import { LogsTab } from "./logs";
import { TasksTab } from "./tasks";
import { VersionsTab } from "./versions";

const TAB_LABELS: Record<JobTab, string> = { tasks: "Tasks", versions: "Versions", deployments: "Deployments", events: "Events", logs: "Logs" };

/** With the stream live, events say when to look again; the poll is left for what sends none (stats). */
const LIVE_POLL_MS = 10_000;

export function JobView({ namespace, name, tab }: { namespace: string; name: string; tab: JobTab }) {
  const { client } = useSession();
  const path = jobPath(namespace, name);
  // Declared before the polls that read it: their interval follows the stream's state.
  const [live, setLive] = useState(false);
  const every = live ? LIVE_POLL_MS : POLL_MS;
  const detail = usePoll((signal) => client.get<JobDetail>(path, signal), [client, path], every);
  const deployment = usePoll(
    (signal) =>
      client.get<DeploymentDetail>(`${path}/deployment`, signal).catch((err: unknown) => {
        // A job that never had a deployment (batch, or not rolled yet) has none to show.
        if (err instanceof ApiError && err.status === 404) return null;
        throw err;
      }),
    [client, path],
    every,
  );
  const nodes = usePoll((signal) => client.get<{ nodes: Node[] }>("/v1/nodes", signal).then((r) => new Map(r.nodes.map((n) => [n.id, n.name]))), [client], 10_000);

  // Events come in bursts (a rollout writes several at once): one re-fetch per burst.
  const pending = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const refreshSoon = () => {
    clearTimeout(pending.current);
    pending.current = setTimeout(() => {
      detail.refresh();
      deployment.refresh();
    }, 200);
  };
  const feed = useEvents(useMemo(() => ({ namespace, job: name }), [namespace, name]), 200, refreshSoon);
  useEffect(() => setLive(feed.mode === "live"), [feed.mode]);

  const refreshAll = () => {
    detail.refresh();
    deployment.refresh();
  };
  const job = detail.data?.job;
  const counts = detail.data ? jobCounts(detail.data) : null;
  const missing = detail.error instanceof ApiError && detail.error.status === 404;

  return (
    <>
      <p class="crumbs">
        <a href={href.jobs()}>Jobs</a> / <span>{namespace}</span>
      </p>
      <div class="title-row">
        <h1 tabIndex={-1}>{name}</h1>
        {job ? <StateBadge state={job.status} /> : null}
        <LiveStatus mode={feed.mode} what="Events" />
      </div>
      {missing ? <p class="problem" role="alert">Job {namespace}/{name} does not exist (or was deleted).</p> : <ProblemNote error={detail.error} when="Could not load the job" />}
      {job && counts ? (
        <>
          <dl class="facts">
            <div>
              <dt>Namespace</dt>
              <dd>{job.namespace}</dd>
            </div>
            <div>
              <dt>Type</dt>
              <dd>{job.type}</dd>
            </div>
            <div>
              <dt>Version</dt>
              <dd>{job.version}</dd>
            </div>
            <div>
              <dt>Running</dt>
              <dd data-testid="running">
                {counts.running} / {counts.desired}
              </dd>
            </div>
            <div>
              <dt>{job.type === "batch" ? "Complete" : "Healthy"}</dt>
              <dd data-testid="healthy">
                {job.type === "batch" ? counts.complete : counts.healthy} / {counts.desired}
              </dd>
            </div>
            <div>
              <dt>Deployment</dt>
              <dd>{deployment.data !== undefined ? <DeploymentCell deployment={deployment.data} progress={deployment.data?.counts ?? null} /> : "…"}</dd>
            </div>
          </dl>
          <JobActions job={job} deployment={deployment.data ?? null} onChanged={refreshAll} />
        </>
      ) : null}
      {detail.data === undefined && !detail.error ? <p class="loading">Loading the job…</p> : null}
      <nav class="tabs" aria-label="Job sections">
        <ul>
          {JOB_TABS.map((t) => (
            <li key={t}>
              <a href={href.job(namespace, name, t)} aria-current={t === tab ? "page" : undefined}>
                {TAB_LABELS[t]}
              </a>
            </li>
          ))}
        </ul>
      </nav>
      <section aria-label={TAB_LABELS[tab]} class="tab-panel">
        {tab === "tasks" ? <TasksTab detail={detail.data} nodeNames={nodes.data} /> : null}
        {tab === "versions" && job ? <VersionsTab job={job} onChanged={refreshAll} /> : null}
        {tab === "deployments" ? <DeploymentsTab namespace={namespace} name={name} current={deployment.data ?? null} nodeNames={nodes.data} /> : null}
        {tab === "events" ? <JobEventsTab feed={feed} /> : null}
        {tab === "logs" ? <LogsTab namespace={namespace} name={name} tasks={detail.data?.tasks ?? []} /> : null}
      </section>
    </>
  );
}
