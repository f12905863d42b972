// Rotation is a rollout: a secret's new version (put without --no-rollout) becomes a new version of every
// running job that follows the latest of it, rolled out under that job's own update strategy. Run by the
// put that stored the version and, as the backstop for a put that stopped half way (a crash, a lost
// race), by every sweep: what is owed is read from the store, so any instance finishes it.
import type { JobSpec } from "../../api/job-spec";
import { jsonCell } from "../../db/batch";
import type { ResolvedDeps } from "../context";
import { ProblemError } from "../errors";
import { applyJob } from "../jobs/apply";
import { followsLatest, type SecretVersions } from "./versions";

export interface Rotation {
  jobId: string;
  /** The job version written for it (null: the job changed meanwhile, and its new version decides). */
  version: number | null;
  deploymentId?: string | undefined;
  secret: string;
  secretVersion: number;
}

/**
 * Running jobs whose current version uses an older version of a secret than its newest rolled one, and
 * which no deployment has already rolled to that version or a later one (a rotation that failed and was
 * reverted is not tried again; the next put or apply is).
 */
const OWED_SQL = `
  SELECT json_group_array(json_array(id, version, name, target, namespace)) AS v FROM (
    SELECT j.id, j.version, j.namespace, r.key AS name, r.value AS resolved,
      (SELECT max(s.version) FROM secrets s WHERE s.namespace = j.namespace AND s.name = r.key AND s.rollout = 1) AS target
    FROM jobs j JOIN job_versions v ON v.job_id = j.id AND v.version = j.version, json_each(v.secret_versions) r
    WHERE j.status = 'running' AND v.secret_versions IS NOT NULL AND (:namespace IS NULL OR (j.namespace = :namespace AND r.key = :name))
  ) owed
  WHERE target > resolved AND NOT EXISTS (
    SELECT 1 FROM deployments d WHERE d.job_id = owed.id AND json_extract(d.cause, '$.secret') = owed.name AND json_extract(d.cause, '$.version') >= owed.target)`;

const ATTEMPTS = 5;

/** Rolls what is owed (to one secret's followers, or everything owed when `only` is null). */
export async function rollSecretRotations(deps: ResolvedDeps, actor: string, only: { namespace: string; name: string } | null): Promise<Rotation[]> {
  const owed = await deps.store.client.execute({ sql: OWED_SQL, args: { namespace: only?.namespace ?? null, name: only?.name ?? null } });
  const rows = jsonCell<[string, number, string, number, string][]>(owed.rows[0], "v") ?? [];
  // One new version per job, however many of its secrets moved.
  const byJob = new Map<string, { targets: SecretVersions; first: { secret: string; version: number } }>();
  for (const [jobId, , name, target] of rows) {
    const entry = byJob.get(jobId);
    if (entry) entry.targets[name] = target;
    else byJob.set(jobId, { targets: { [name]: target }, first: { secret: name, version: target } });
  }
  const done: Rotation[] = [];
  for (const [jobId, { targets, first }] of byJob) {
    try {
      const rolled = await rollJob(deps, actor, jobId, targets, first);
      if (rolled) done.push(rolled);
    } catch (err) {
      // One job that cannot be rolled (its other secret was deleted) holds up no other; the sweep tries again.
      deps.log("secret rotation: a job could not be rolled", { jobId, secret: first.secret, error: err instanceof Error ? err.message : String(err) }, "warn");
    }
  }
  return done;
}

/** Null when the job has nothing to move after all (it pins the secret, or took the version since). */
async function rollJob(deps: ResolvedDeps, actor: string, jobId: string, targets: SecretVersions, cause: { secret: string; version: number }): Promise<Rotation | null> {
  const { client } = deps.store;
  for (let attempt = 1; ; attempt++) {
    const read = await client.execute({
      sql: `SELECT j.version, j.replicas, j.status, v.spec, v.secret_versions FROM jobs j JOIN job_versions v ON v.job_id = j.id AND v.version = j.version WHERE j.id = ?`,
      args: [jobId],
    });
    const row = read.rows[0];
    const none: Rotation = { jobId, version: null, secret: cause.secret, secretVersion: cause.version };
    if (!row || row["status"] !== "running") return none;
    const stored = JSON.parse(String(row["spec"])) as JobSpec;
    const current = row["secret_versions"] ? (JSON.parse(String(row["secret_versions"])) as SecretVersions) : {};
    // Only the secrets it follows, and only forward: a pin, or a version applied since, is left alone.
    const moving = Object.fromEntries(Object.entries(targets).filter(([name, v]) => followsLatest(stored, name) && (current[name] ?? 0) < v));
    if (Object.keys(moving).length === 0) return null;
    const spec: JobSpec = { ...stored, replicas: row["replicas"] === null ? stored.replicas : Number(row["replicas"]) };
    try {
      const result = await applyJob(deps.store, deps.clock.now(), actor, spec, undefined, {
        expectVersion: Number(row["version"]),
        secretVersions: { ...current, ...moving },
        cause,
        newId: deps.newId,
        keepCount: true,
      });
      return { ...none, version: result.changed ? result.job.version : null, deploymentId: result.deploymentId };
    } catch (err) {
      // 409: the job changed between the read and the write; read it again.
      if (!(err instanceof ProblemError && err.status === 409) || attempt >= ATTEMPTS) throw err;
    }
  }
}
