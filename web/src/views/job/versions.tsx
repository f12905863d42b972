// A job's versions, newest first, each with the fields it changed from the one before (the same diff as
// `leasehold history`), and a rollback to any earlier one.
import { diffSpecs } from "../../../../api/spec-diff";
import { jobPath } from "../../api/client";
import type { Job, JobVersion, SpecChange } from "../../api/types";
import { Ago } from "../../components/ago";
import { useConfirm } from "../../components/confirm";
import { errorText, ProblemNote } from "../../components/problem";
import { usePoll } from "../../hooks/use-poll";
import { useSession } from "../../session-context";
import { useState } from "preact/hooks";

/** The count is not part of a version (a scale changes it alone): versions compare templates. */
const template = (spec: Record<string, unknown>) => ({ ...spec, replicas: undefined });

const show = (v: unknown) => (typeof v === "string" ? v : JSON.stringify(v));

function Change({ change }: { change: SpecChange }) {
  const [sign, word] = change.kind === "added" ? ["+", "added"] : change.kind === "removed" ? ["-", "removed"] : ["~", "changed"];
  return (
    <li class={`diff-${change.kind}`}>
      <span aria-hidden="true" class="diff-sign">
        {sign}
      </span>
      <span class="visually-hidden">{word}: </span>
      <code>{change.path}</code>
      {change.kind === "changed" ? (
        <>
          {" "}
          <code class="from">{show(change.from)}</code> → <code class="to">{show(change.to)}</code>
        </>
      ) : (
        <>
          {" "}
          <code>{show(change.kind === "added" ? change.to : change.from)}</code>
        </>
      )}
    </li>
  );
}

export function VersionsTab({ job, onChanged }: { job: Job; onChanged: () => void }) {
  const { client } = useSession();
  const path = jobPath(job.namespace, job.name);
  const versions = usePoll((signal) => client.get<{ versions: JobVersion[] }>(`${path}/versions`, signal).then((r) => r.versions), [client, path, job.version]);
  const [dialog, ask] = useConfirm();
  const [outcome, setOutcome] = useState<{ ok: boolean; text: string } | null>(null);

  async function rollbackTo(version: number) {
    if (!(await ask(`Roll ${job.name} back to version ${version}?`, `A new version equal to version ${version} will be rolled out under the job's update strategy.`, `Roll back to version ${version}`))) return;
    try {
      const r = await client.post<{ job: Job; changed: boolean }>(`${path}/rollback`, { version });
      setOutcome({ ok: true, text: r.changed ? `Rolling back: version ${r.job.version} has version ${version}'s spec.` : `Already runs version ${version}'s spec.` });
      onChanged();
      versions.refresh();
    } catch (err) {
      setOutcome({ ok: false, text: `Rollback failed: ${errorText(err)}` });
    }
  }

  const list = versions.data;
  return (
    <>
      {dialog}
      <ProblemNote error={versions.error} when="Could not load the versions" />
      <p class="outcome" role="status">
        {outcome?.ok ? outcome.text : ""}
      </p>
      {outcome && !outcome.ok ? (
        <p class="problem" role="alert">
          {outcome.text}
        </p>
      ) : null}
      {list?.map((v, i) => {
        const previous = list[i + 1];
        const changes = previous ? diffSpecs(template(previous.spec), template(v.spec)) : null;
        return (
          <article key={v.version} class="version card" aria-labelledby={`version-${v.version}`}>
            <header>
              <h2 id={`version-${v.version}`}>
                Version {v.version}
                {v.version === job.version ? <span class="tag">current</span> : null}
              </h2>
              <span class="muted">
                by {v.createdBy}, <Ago at={v.createdAt} />
              </span>
              {v.version !== job.version && job.status === "running" ? (
                <button type="button" onClick={() => void rollbackTo(v.version)}>
                  Roll back to version {v.version}
                </button>
              ) : null}
            </header>
            {changes === null ? (
              <p class="muted">The first version.</p>
            ) : changes.length === 0 ? (
              <p class="muted">The same template as version {previous!.version}.</p>
            ) : (
              <>
                <p class="muted">Changes from version {previous!.version}:</p>
                <ul class="diff">
                  {changes.map((c) => (
                    <Change key={c.path} change={c} />
                  ))}
                </ul>
              </>
            )}
            {v.secretVersions && Object.keys(v.secretVersions).length > 0 ? (
              <p class="muted">
                Secrets:{" "}
                {Object.entries(v.secretVersions)
                  .map(([name, n]) => `${name} v${n}`)
                  .join(", ")}
              </p>
            ) : null}
          </article>
        );
      })}
    </>
  );
}
